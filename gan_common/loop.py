"""The epoch loop around a backend's train step: progress bar, metrics at log intervals, work at epoch ends."""

import sys
import time
from typing import Callable

from absl import logging
import tqdm

from gan_common import run_directory


def run_training_loop(*, start_step: int, total_steps: int, steps_per_epoch: int,
                      batch_size: int, log_every_steps: int,
                      run_step: Callable[[int], object],
                      read_metrics: Callable[[list], dict],
                      end_of_period: Callable[[str], None],
                      run_dir: run_directory.RunDirectory,
                      evaluate: Callable[[int, int], None] | None = None,
                      eval_every_epochs: int = 0, is_writer: bool = True) -> None:
  """Call `run_step` for each step in [start_step, total_steps) and do the bookkeeping around it.

  Args:
    start_step: the first step to run (0, or the restored checkpoint's step).
    total_steps: the step to stop at.
    steps_per_epoch: full batches per epoch.
    batch_size: images per step, for img/s.
    log_every_steps: a metrics record every this many steps, and at every
      epoch end and at the last step.
    run_step: runs step `step` (0-based) and returns its metrics, left on the
      device.
    read_metrics: turns the list of pending metrics into a dict of floats,
      means over the interval. This is the only place that waits for the
      device.
    end_of_period: called with the sample grid path at each epoch end and at
      the last step; it writes the grid and a checkpoint.
    run_dir: where metrics.jsonl goes.
    evaluate: called with (step, epoch) after the last step, and after every
      eval_every_epochs-th epoch when that is above 0, to score the
      generator; None scores nothing.
    eval_every_epochs: see `evaluate`.
    is_writer: whether this process writes metrics.jsonl and shows progress.
      In a run over several processes only process 0 does. The others still
      call `read_metrics` and `end_of_period` at the same steps.
  """
  metrics_writer = run_directory.MetricsWriter(run_dir.metrics_file) if is_writer else None
  pending_metrics = []
  interval_start = epoch_start = time.perf_counter()
  interval_first_step = epoch_first_step = start_step
  # A progress bar on a terminal; a log line per interval when stderr goes to a file.
  interactive = sys.stderr.isatty() and is_writer
  progress = tqdm.tqdm(total=total_steps, initial=start_step, unit='step', dynamic_ncols=True,
                       disable=not interactive)
  for step in range(start_step, total_steps):
    pending_metrics.append(run_step(step))
    progress.update(1)

    completed = step + 1
    epoch = step // steps_per_epoch + 1
    end_of_epoch = completed % steps_per_epoch == 0
    end_of_training = completed == total_steps
    if completed % log_every_steps == 0 or end_of_epoch or end_of_training:
      means = read_metrics(pending_metrics)
      img_per_s = ((completed - interval_first_step) * batch_size
                   / (time.perf_counter() - interval_start))
      if metrics_writer:
        metrics_writer.write({'step': completed, 'epoch': epoch, 'img_per_s': img_per_s, **means})
      progress.set_postfix(d_loss=f"{means['d_loss']:.3f}", g_loss=f"{means['g_loss']:.3f}",
                           img_per_s=f'{img_per_s:.0f}')
      if not interactive:
        logging.info('Step %d/%d: d_loss %.4f, g_loss %.4f, %.0f img/s.', completed, total_steps,
                     means['d_loss'], means['g_loss'], img_per_s)
      pending_metrics = []
      interval_start, interval_first_step = time.perf_counter(), completed

    if end_of_epoch or end_of_training:
      if interactive:
        progress.clear()
      seconds = time.perf_counter() - epoch_start
      steps_done = completed - epoch_first_step
      logging.info('Epoch %d: %d steps in %.1f s, %.1f ms/step, %.0f img/s; '
                   'd_loss %.4f, g_loss %.4f.', epoch, steps_done, seconds,
                   1000 * seconds / steps_done, steps_done * batch_size / seconds,
                   means['d_loss'], means['g_loss'])
      end_of_period(run_dir.sample_grid_file(epoch) if end_of_epoch
                    else run_dir.sample_grid_file_for_step(completed))
      scheduled = end_of_epoch and eval_every_epochs > 0 and epoch % eval_every_epochs == 0
      if evaluate is not None and (end_of_training or scheduled):
        evaluate(completed, epoch)
      # The grid, the checkpoint and the scores are not training time.
      epoch_start = interval_start = time.perf_counter()
      epoch_first_step = completed
  progress.close()
