"""Train a GAN on MNIST with PyTorch: `python -m torch_gan.train --config=... --workdir=...`.

With --nproc_per_node=N, or under `torchrun --nproc_per_node=N -m
torch_gan.train ...`, it trains on N processes, one device each, with the
batch split over them (torch_gan/parallel.py). Process 0 alone writes files.
"""

import functools
import sys

from absl import flags
from absl import logging
import torch

from gan_common import cli
from gan_common import evaluation
from gan_common import images as image_files
from gan_common import loop
from gan_common import run_directory
from gan_common.errors import InputError
from torch_gan import checkpoints
from torch_gan import evaluate as evaluate_lib
from torch_gan import input_pipeline
from torch_gan import parallel
from torch_gan import train_step as train_step_lib

BACKEND = 'torch'

_NPROC_PER_NODE = flags.DEFINE_integer(
    'nproc_per_node', 1, 'Processes to start on this machine, one device each, as '
    '`torchrun --standalone --nproc_per_node=N` would. The command then exits with the code of '
    'the first process that failed. 1 trains in this process.')


def train_and_evaluate(config, workdir: str, resume: bool = False) -> train_step_lib.TrainState:
  """Train a GAN as `config` specifies, writing metrics, sample grids and checkpoints to `workdir`.

  Returns:
    The final TrainState.

  Raises:
    InputError: for a bad workdir, missing or corrupt data, or a checkpoint
      that cannot be restored. Nothing in the workdir is changed before the
      data is loaded and the checkpoint restored.
  """
  num_processes = parallel.world_size()
  parallel.check_batch_size(config.batch_size, num_processes)
  is_writer = parallel.is_writer()
  run_dir = run_directory.RunDirectory(workdir)
  run_dir.check(BACKEND, config, resume)

  dtype = getattr(torch, config.param_dtype)
  torch.set_float32_matmul_precision(config.matmul_precision)
  torch.backends.cudnn.allow_tf32 = config.matmul_precision != 'highest'
  device = parallel.local_device()

  train_images = input_pipeline.load_train_images(config.data_dir, config.download)
  # Read the test split and check the classifier now, so that a missing file
  # stops the run before training rather than after it.
  evaluator = (evaluate_lib.load_evaluator(config, train_images)
               if config.eval_num_samples and is_writer else None)
  images = train_images.to(device)
  num_images = images.shape[0]  # (60000, 1, 28, 28) uint8, on the device for the run
  # A step reads critic_steps batches, one per discriminator update.
  images_per_step = config.batch_size * config.critic_steps
  steps_per_epoch = num_images // images_per_step
  total_steps = config.num_steps or config.num_epochs * steps_per_epoch

  gan = train_step_lib.create_gan(config)
  state = train_step_lib.create_train_state(config, device, dtype)
  if resume:
    state = checkpoints.restore(run_dir.checkpoints_dir, state)
  if num_processes > 1:
    generator = parallel.use_global_batch_norm(state.generator)
    discriminator = parallel.use_global_batch_norm(state.discriminator)
    state.generator = parallel.wrap(generator, device)
    state.discriminator = parallel.wrap(discriminator, device)
  start_step = state.step
  if start_step >= total_steps:
    raise InputError(f'the run in {run_dir.workdir} has already trained {start_step} steps, '
                     f'not fewer than the {total_steps} asked for; raise --config.num_steps '
                     'or --config.num_epochs to train longer')

  parallel.wait_for_all_processes()  # every process has checked the workdir
  if is_writer:
    run_dir.record(BACKEND, config)
    if resume:
      run_directory.drop_metrics_after(run_dir.metrics_file, start_step)

  sample_rng = torch.Generator(device=device).manual_seed(input_pipeline.seed_for(config.seed, 2))
  sample_noise = torch.randn(config.num_samples, config.latent_dim, generator=sample_rng,
                             device=device, dtype=dtype)
  train_step = functools.partial(train_step_lib.train_step, gan=gan)

  def batch_for_step(step, permutation):
    return input_pipeline.get_batch(images, permutation, step % steps_per_epoch,
                                    images_per_step, dtype)

  processes = f'{num_processes} process' + ('es' if num_processes > 1 else '')
  logging.info('Training steps %d to %d (%d steps), %d steps per epoch, global batch %d '
               '(%d per process), %s on %s.', start_step + 1, total_steps,
               total_steps - start_step, steps_per_epoch, config.batch_size,
               config.batch_size // num_processes, processes, device.type)
  permutation_cache = {}

  def run_step(step):
    epoch = step // steps_per_epoch
    if epoch not in permutation_cache:
      permutation_cache.clear()
      permutation_cache[epoch] = input_pipeline.epoch_permutation(config.seed, epoch, num_images,
                                                                  device)
    _, metrics = train_step(state, batch_for_step(step, permutation_cache[epoch]), state.rng)
    return metrics

  def read_metrics(pending_metrics):
    names = list(pending_metrics[0])
    # (metrics, steps): each process's means over its slice of each batch.
    stacked = torch.stack([torch.stack([metrics[name] for metrics in pending_metrics])
                           for name in names]).double()
    means = parallel.mean_over_processes(stacked).mean(dim=1)
    return dict(zip(names, means.tolist()))

  def end_of_period(grid_file):
    if not is_writer:
      return
    samples = train_step_lib.generate_samples(parallel.unwrap(state.generator), sample_noise)
    image_files.save_image_grid(samples.permute(0, 2, 3, 1).cpu().double().numpy(), grid_file)
    checkpoints.save(run_dir.checkpoints_dir, state)

  def score(step, epoch):
    scores, floor = evaluate_lib.score_generator(parallel.unwrap(state.generator), config,
                                                 evaluator, config.eval_num_samples)
    evaluation.record_scores(run_dir.metrics_file, step, epoch, scores, floor)
    evaluation.print_table(scores, floor, f'Step {step}, epoch {epoch} (PyTorch):')

  loop.run_training_loop(
      start_step=start_step, total_steps=total_steps, steps_per_epoch=steps_per_epoch,
      batch_size=images_per_step, log_every_steps=config.log_every_steps,
      run_step=run_step, read_metrics=read_metrics, end_of_period=end_of_period,
      run_dir=run_dir, evaluate=score if evaluator else None,
      eval_every_epochs=config.eval_every_epochs, is_writer=is_writer)

  if not is_writer:
    return state
  image_files.save_loss_curve(run_dir.metrics_file, run_dir.loss_curve_file,
                              f'PyTorch {image_files.MODEL_NAMES[config.model]}, {config.loss} loss, on MNIST, '
                              f'batch {config.batch_size}')
  logging.info('Wrote metrics, samples, loss curve and checkpoints to %s.', run_dir.workdir)
  return state


def main(config, workdir: str, resume: bool = False) -> None:
  """Start --nproc_per_node processes, or join the others when torchrun started several, then train."""
  settings = parallel.distributed_settings()
  count = _NPROC_PER_NODE.value
  if count != 1:
    if settings is not None:
      raise InputError('--nproc_per_node starts the processes itself, so pass it without '
                       'torchrun or leave it out under torchrun')
    parallel.check_process_count(count)
    parallel.check_batch_size(config.batch_size, count)
    # The same command line in every process, which then trains as one of `count`.
    sys.exit(parallel.launch_processes(count, 'torch_gan.train',
                                       [*sys.argv[1:], '--nproc_per_node=1']))
  if settings is not None:
    # Before joining, so that a bad batch size stops every process at once.
    parallel.check_batch_size(config.batch_size, settings[0])
  parallel.initialize_distributed(settings)
  if not parallel.is_writer():
    logging.set_verbosity(logging.WARNING)
  try:
    train_and_evaluate(config, workdir, resume)
  finally:
    if torch.distributed.is_initialized():
      torch.distributed.destroy_process_group()


if __name__ == '__main__':
  cli.run(main)
