"""Tests of the PyTorch train step on a real MNIST batch."""

import math

import numpy as np
import pytest
import torch

from configs import default
from torch_gan import input_pipeline
from torch_gan import train_step as train_step_lib


@pytest.fixture(scope='module')
def real_batch(data_dir):
  images = input_pipeline.load_train_images(data_dir, download=False)
  return input_pipeline.get_batch(images, torch.arange(images.shape[0]), 0, 64)


def test_train_images_are_real_mnist(data_dir):
  images = input_pipeline.load_train_images(data_dir, download=False)
  assert tuple(images.shape) == (60000, 1, 28, 28)
  assert images.dtype == torch.uint8
  # MNIST training pixels scaled to [0, 1] have mean 0.1307.
  assert abs(images.double().mean().item() / 255 - 0.1307) < 0.0001


def test_get_batch_scales_to_unit_range(real_batch):
  assert tuple(real_batch.shape) == (64, 1, 28, 28)
  assert real_batch.dtype == torch.float32
  assert real_batch.min().item() == -1.0
  assert real_batch.max().item() == 1.0


def test_epoch_permutation_differs_between_epochs():
  first = input_pipeline.epoch_permutation(0, 0, 100, 'cpu')
  second = input_pipeline.epoch_permutation(0, 1, 100, 'cpu')
  assert sorted(first.tolist()) == list(range(100))
  assert not torch.equal(first, second)
  assert torch.equal(first, input_pipeline.epoch_permutation(0, 0, 100, 'cpu'))


def _snapshot(state):
  tensors = {}
  for network in ('generator', 'discriminator'):
    for name, tensor in getattr(state, network).state_dict().items():
      if not name.endswith('num_batches_tracked'):
        tensors[f'{network}.{name}'] = tensor.detach().clone()
  return tensors


def test_one_step_changes_every_parameter_and_statistic(real_batch):
  config = default.get_config()
  gan = train_step_lib.create_gan(config)
  state = train_step_lib.create_train_state(config, 'cpu')
  before = _snapshot(state)
  state, metrics = train_step_lib.train_step(state, real_batch, state.rng, gan=gan)
  after = _snapshot(state)

  assert state.step == 1
  assert set(before) == set(after)
  assert len(before) == 21  # 15 parameters and 3 x 2 running statistics.
  for name in before:
    assert torch.all(before[name] != after[name]), f'{name} has unchanged entries'
  for name in ('d_loss', 'g_loss', 'real_score', 'fake_score'):
    assert math.isfinite(metrics[name].item()), name

