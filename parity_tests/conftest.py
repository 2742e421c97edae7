"""Fixtures for the parity suite: full float32 precision on both sides, and float64 on demand."""

import jax
import pytest
import torch


@pytest.fixture(autouse=True, scope='session')
def full_float32_precision():
  """Keep TF32 off on both sides, so that float32 matmuls and convolutions are full float32 on GPUs too."""
  previous_jax = jax.config.jax_default_matmul_precision
  previous_torch = torch.get_float32_matmul_precision()
  previous_cudnn = torch.backends.cudnn.allow_tf32
  jax.config.update('jax_default_matmul_precision', 'highest')
  torch.set_float32_matmul_precision('highest')
  torch.backends.cudnn.allow_tf32 = False
  yield
  jax.config.update('jax_default_matmul_precision', previous_jax)
  torch.set_float32_matmul_precision(previous_torch)
  torch.backends.cudnn.allow_tf32 = previous_cudnn


@pytest.fixture
def enable_x64():
  """Let JAX create float64 arrays for the duration of one test."""
  jax.config.update('jax_enable_x64', True)
  yield
  jax.config.update('jax_enable_x64', False)
