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


def test_resume_is_bit_identical(small_run_config, tmp_path):
  straight, interrupted = str(tmp_path / 'straight'), str(tmp_path / 'interrupted')
  final_state = train.train_and_evaluate(small_run_config(num_steps=6, log_every_steps=1),
                                         straight)
  train.train_and_evaluate(small_run_config(num_steps=3, log_every_steps=1), interrupted)
  train.train_and_evaluate(small_run_config(num_steps=6, log_every_steps=1), interrupted,
                           resume=True)

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
