"""Tests of the framework-free training loop with a stand-in train step."""

import json

import pytest

from gan_common import loop
from gan_common import run_directory


def run_loop(tmp_path, *, start_step, total_steps, steps_per_epoch, log_every_steps):
  run_dir = run_directory.RunDirectory(str(tmp_path))
  steps, reads, periods = [], [], []

  def run_step(step):
    steps.append(step)
    return {'d_loss': float(step), 'g_loss': 2.0 * step}

  def read_metrics(pending):
    reads.append(len(pending))
    return {name: sum(m[name] for m in pending) / len(pending) for name in pending[0]}

  loop.run_training_loop(
      start_step=start_step, total_steps=total_steps, steps_per_epoch=steps_per_epoch,
      batch_size=8, log_every_steps=log_every_steps, run_step=run_step,
      read_metrics=read_metrics, end_of_period=periods.append, run_dir=run_dir)
  records = run_directory.read_metrics(run_dir.metrics_file)
  return steps, reads, [p.split('/samples/')[1] for p in periods], records


def test_logs_at_intervals_and_epoch_ends(tmp_path):
  steps, reads, periods, records = run_loop(
      tmp_path, start_step=0, total_steps=12, steps_per_epoch=5, log_every_steps=3)
  assert steps == list(range(12))
  assert [r['step'] for r in records] == [3, 5, 6, 9, 10, 12]
  assert [r['epoch'] for r in records] == [1, 1, 2, 2, 2, 3]
  assert reads == [3, 2, 1, 3, 1, 2]
  # Steps 0, 1, 2 have d_loss 0, 1, 2: their mean is 1.
  assert records[0]['d_loss'] == 1.0
  assert records[0]['g_loss'] == 2.0
  assert all(r['img_per_s'] > 0 for r in records)
  assert periods == ['epoch_001.png', 'epoch_002.png', 'step_0000012.png']


def test_resumed_loop_starts_mid_epoch(tmp_path):
  steps, _, periods, records = run_loop(
      tmp_path, start_step=7, total_steps=10, steps_per_epoch=5, log_every_steps=100)
  assert steps == [7, 8, 9]
  assert [r['step'] for r in records] == [10]
  assert records[0]['d_loss'] == 8.0
  assert periods == ['epoch_002.png']


@pytest.mark.parametrize('eval_every_epochs, expected', [
    (0, [(12, 3)]),
    (1, [(5, 1), (10, 2), (12, 3)]),
    (2, [(10, 2), (12, 3)]),
])
def test_evaluates_at_end_and_every_n_epochs(tmp_path, eval_every_epochs, expected):
  calls = []
  loop.run_training_loop(
      start_step=0, total_steps=12, steps_per_epoch=5, batch_size=8, log_every_steps=100,
      run_step=lambda step: {'d_loss': 0.0, 'g_loss': 0.0},
      read_metrics=lambda pending: {'d_loss': 0.0, 'g_loss': 0.0},
      end_of_period=lambda path: None, run_dir=run_directory.RunDirectory(str(tmp_path)),
      evaluate=lambda step, epoch: calls.append((step, epoch)),
      eval_every_epochs=eval_every_epochs)
  assert calls == expected


def test_evaluates_once_when_last_step_ends_epoch(tmp_path):
  calls = []
  loop.run_training_loop(
      start_step=0, total_steps=10, steps_per_epoch=5, batch_size=8, log_every_steps=100,
      run_step=lambda step: {'d_loss': 0.0, 'g_loss': 0.0},
      read_metrics=lambda pending: {'d_loss': 0.0, 'g_loss': 0.0},
      end_of_period=lambda path: None, run_dir=run_directory.RunDirectory(str(tmp_path)),
      evaluate=lambda step, epoch: calls.append((step, epoch)), eval_every_epochs=1)
  assert calls == [(5, 1), (10, 2)]
