"""End-to-end tests of the JAX training loop on real MNIST: outputs, learning, exact resume."""

import json
import math
import os

import jax
import numpy as np
import pytest

from jax_gan import checkpoints
from jax_gan import train


def test_short_run_writes_outputs_and_learns(small_run_config, tmp_path):
  config = small_run_config(num_steps=60, log_every_steps=20)
  train.train_and_evaluate(config, str(tmp_path))

  with open(tmp_path / 'metrics.jsonl') as f:
    records = [json.loads(line) for line in f]
  assert [record['step'] for record in records] == [20, 40, 60]
  for record in records:
    assert set(record) == {'step', 'epoch', 'd_loss', 'g_loss', 'real_score', 'fake_score',
                           'img_per_s'}
    assert record['epoch'] == 1
    assert all(math.isfinite(value) for value in record.values())
  # The discriminator learns to reject generated digits within the first steps.
  assert records[-1]['fake_score'] < records[0]['fake_score']
  assert abs(records[-1]['g_loss'] - records[0]['g_loss']) > 0.1

  assert (tmp_path / 'samples' / 'step_0000060.png').is_file()
  assert (tmp_path / 'loss_curve.png').is_file()
  assert json.loads((tmp_path / 'run.json').read_text())['backend'] == 'jax'
  assert checkpoints.latest_step(str(tmp_path / 'checkpoints')) == 60


def _load_final_state(workdir, template):
  return jax.device_get(checkpoints.restore(os.path.join(workdir, 'checkpoints'), template))


# Config overrides for the other models and losses. The WGAN-GP critic has
# no BatchNorm statistics and the MLPs have none at all, which checkpoints
# must carry too.
OTHER_SETUPS = {
    'wgan_gp': dict(loss='wgan_gp', discriminator_normalization='layer_norm', critic_steps=5,
                    learning_rate=1e-4, beta1=0.0, beta2=0.9, batch_size=16),
    'mlp': dict(model='mlp', hidden_features=64),
}


@pytest.mark.parametrize('setup', ['dcgan'] + list(OTHER_SETUPS))
def test_resume_is_bit_identical(small_run_config, tmp_path, setup):
  overrides = OTHER_SETUPS.get(setup, {})
  config = lambda num_steps: small_run_config(num_steps=num_steps, log_every_steps=1, **overrides)
  straight, interrupted = str(tmp_path / 'straight'), str(tmp_path / 'interrupted')
  final_state = train.train_and_evaluate(config(6), straight)
  train.train_and_evaluate(config(3), interrupted)
  train.train_and_evaluate(config(6), interrupted, resume=True)

  template = jax.device_get(final_state)
  expected = _load_final_state(straight, template)
  resumed = _load_final_state(interrupted, template)
  assert int(resumed.step) == 6
  paths_and_leaves = jax.tree_util.tree_leaves_with_path(expected)
  for (path, want), got in zip(paths_and_leaves, jax.tree.leaves(resumed)):
    np.testing.assert_array_equal(got, want, err_msg=jax.tree_util.keystr(path))

  def losses(workdir):
    with open(os.path.join(workdir, 'metrics.jsonl')) as f:
      return [(r['step'], r['d_loss'], r['g_loss']) for r in map(json.loads, f)]

  assert losses(interrupted) == losses(straight)
  assert len(losses(straight)) == 6


def test_resume_without_more_steps_is_rejected(small_run_config, tmp_path):
  train.train_and_evaluate(small_run_config(num_steps=2), str(tmp_path))
  with pytest.raises(train.InputError, match='already trained 2 steps'):
    train.train_and_evaluate(small_run_config(num_steps=2), str(tmp_path), resume=True)


def test_wgan_gp_epoch_length(small_run_config, tmp_path):
  # 2,000 images x 5 critic updates = 10,000 images per step: 6 steps per epoch.
  config = small_run_config(model='mlp', hidden_features=32, loss='wgan_gp', critic_steps=5,
                            batch_size=2000, num_steps=7, log_every_steps=3)
  train.train_and_evaluate(config, str(tmp_path))
  with open(tmp_path / 'metrics.jsonl') as f:
    records = [json.loads(line) for line in f]
  assert [(record['step'], record['epoch']) for record in records] == [(3, 1), (6, 1), (7, 2)]
  for record in records:
    assert set(record) == {'step', 'epoch', 'd_loss', 'g_loss', 'gradient_penalty',
                           'wasserstein_distance', 'img_per_s'}
    assert all(math.isfinite(value) for value in record.values())
  assert (tmp_path / 'samples' / 'epoch_001.png').is_file()


def test_bfloat16_run_trains(small_run_config, tmp_path):
  config = small_run_config(num_steps=20, log_every_steps=10, compute_dtype='bfloat16')
  state = train.train_and_evaluate(config, str(tmp_path))
  with open(tmp_path / 'metrics.jsonl') as f:
    records = [json.loads(line) for line in f]
  assert [record['step'] for record in records] == [10, 20]
  for record in records:
    assert all(math.isfinite(value) for value in record.values())
  # Mixed precision: the parameters and optimizer state stay float32.
  for leaf in jax.tree.leaves((state.generator, state.discriminator)):
    assert leaf.dtype in (np.float32, np.int32), leaf.dtype
  assert records[-1]['fake_score'] < records[0]['fake_score']
