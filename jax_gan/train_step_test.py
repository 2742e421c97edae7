"""Tests of the JAX train step on a real MNIST batch."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import default
from jax_gan import input_pipeline
from jax_gan import train_step as train_step_lib


@pytest.fixture(scope='module')
def real_batch(data_dir):
  images = input_pipeline.load_train_images(data_dir, download=False)
  return input_pipeline.get_batch(jnp.asarray(images), jnp.arange(images.shape[0]), 0, 64)


def test_train_images_are_real_mnist(data_dir):
  images = input_pipeline.load_train_images(data_dir, download=False)
  assert images.shape == (60000, 28, 28, 1)
  assert images.dtype == np.uint8
  # MNIST training pixels scaled to [0, 1] have mean 0.1307.
  assert abs(images.mean() / 255 - 0.1307) < 0.0001


def test_get_batch_scales_to_unit_range(real_batch):
  assert real_batch.shape == (64, 28, 28, 1)
  assert real_batch.dtype == jnp.float32
  assert float(real_batch.min()) == -1.0
  assert float(real_batch.max()) == 1.0


def test_epoch_permutation_differs_between_epochs():
  key = jax.random.PRNGKey(0)
  first = input_pipeline.epoch_permutation(key, 0, 100)
  second = input_pipeline.epoch_permutation(key, 1, 100)
  assert sorted(np.asarray(first).tolist()) == list(range(100))
  assert not np.array_equal(first, second)
  np.testing.assert_array_equal(first, input_pipeline.epoch_permutation(key, 0, 100))


def test_one_step_changes_every_parameter_and_statistic(real_batch):
  gan = train_step_lib.create_gan(default.get_config())
  state = train_step_lib.create_train_state(gan, jax.random.PRNGKey(0))
  before = jax.device_get(state)
  step = train_step_lib.make_train_step(gan)
  after, metrics = step(state, real_batch, jax.random.PRNGKey(1))
  after = jax.device_get(after)

  assert int(after.step) == 1
  for network in ('generator', 'discriminator'):
    for collection in ('params', 'batch_stats'):
      old_leaves = jax.tree_util.tree_leaves_with_path(getattr(getattr(before, network), collection))
      new_leaves = jax.tree.leaves(getattr(getattr(after, network), collection))
      for (path, old), new in zip(old_leaves, new_leaves):
        name = f'{network}.{collection}{jax.tree_util.keystr(path)}'
        assert np.all(np.asarray(old) != np.asarray(new)), f'{name} has unchanged entries'
  for name in ('d_loss', 'g_loss', 'real_score', 'fake_score'):
    assert np.isfinite(float(metrics[name])), name



def test_fused_steps_equal_single_steps(data_dir):
  # Three steps in one lax.scan against three jitted calls, in float64, where
  # the two compilations can differ only in the last digits.
  jax.config.update('jax_enable_x64', True)
  try:
    config = default.get_config()
    config.param_dtype = 'float64'
    gan = train_step_lib.create_gan(config)
    state = train_step_lib.create_train_state(gan, jax.random.PRNGKey(0), jnp.float64)
    images = jnp.asarray(input_pipeline.load_train_images(data_dir, download=False)[:640])
    permutation = jnp.arange(640)
    copy = lambda tree: jax.tree.map(jnp.copy, tree)

    single_step = train_step_lib.make_train_step_on_dataset(gan, steps_per_epoch=80, batch_size=8)
    single = copy(state)
    single_losses = []
    for _ in range(3):
      single, metrics = single_step(single, images, permutation)
      single_losses.append(float(metrics['g_loss']))
    for unroll in (1, True):  # a while loop, and straight-line code
      fused_steps = train_step_lib.make_train_steps_on_dataset(
          gan, steps_per_epoch=80, batch_size=8, num_steps=3, unroll=unroll)
      fused, fused_metrics = fused_steps(copy(state), images, permutation)

      assert int(fused.step) == 3
      np.testing.assert_allclose(fused_metrics['g_loss'], single_losses, rtol=1e-12)
      for (path, want), got in zip(jax.tree_util.tree_leaves_with_path(jax.device_get(single)),
                                   jax.tree.leaves(jax.device_get(fused))):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13,
                                   err_msg=f'unroll={unroll}: {jax.tree_util.keystr(path)}')
  finally:
    jax.config.update('jax_enable_x64', False)
