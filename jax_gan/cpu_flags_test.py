"""Tests of the XLA:CPU flag that importing jax_gan sets."""

import os
import subprocess
import sys

import jax_gan

FLAG = jax_gan.CPU_KERNEL_FLAG


def test_flag_is_added_for_a_measured_jaxlib():
  assert jax_gan.cpu_flags('', '0.10.2') == FLAG
  assert jax_gan.cpu_flags('--xla_force_host_platform_device_count=4', '0.10.2') == (
      '--xla_force_host_platform_device_count=4 ' + FLAG)


def test_users_own_choice_is_kept():
  users_flags = '--xla_cpu_experimental_ynn_fusion_type=individual_dot'
  assert jax_gan.cpu_flags(users_flags, '0.10.2') == users_flags


def test_other_jaxlib_releases_get_no_flag():
  assert jax_gan.cpu_flags('', '0.4.35') == ''
  assert jax_gan.cpu_flags('--xla_dump_to=/tmp/x', None) == '--xla_dump_to=/tmp/x'


def test_flag_reaches_a_fresh_process():
  # A subprocess, because this process started its JAX backend long ago.
  code = ('import os, jax_gan, jax.numpy as jnp; '
          'print(float(jnp.ones((8, 8)).sum())); print(os.environ["XLA_FLAGS"])')
  environment = {key: value for key, value in os.environ.items() if key != 'XLA_FLAGS'}
  result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          env=environment, check=True, timeout=120)
  total, flags = result.stdout.split('\n')[:2]
  assert total == '64.0'
  expected = FLAG if jax_gan._installed_jaxlib_version() in jax_gan.MEASURED_JAXLIB_VERSIONS else ''
  assert flags == expected
