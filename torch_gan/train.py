"""Train a GAN on MNIST with PyTorch: `python -m torch_gan.train --config=... --workdir=...`."""

import functools

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
from torch_gan import train_step as train_step_lib

BACKEND = 'torch'


def default_device() -> torch.device:
  return torch.device('cuda' if torch.cuda.is_available() else 'cpu')


def train_and_evaluate(config, workdir: str, resume: bool = False) -> train_step_lib.TrainState:
  """Train a GAN as `config` specifies, writing metrics, sample grids and checkpoints to `workdir`.

  Returns:
    The final TrainState.

  Raises:
    InputError: for a bad workdir, missing or corrupt data, or a checkpoint
      that cannot be restored. Nothing in the workdir is changed before the
      data is loaded and the checkpoint restored.
  """
  run_dir = run_directory.RunDirectory(workdir)
  run_dir.check(BACKEND, config, resume)

  dtype = getattr(torch, config.param_dtype)
  torch.set_float32_matmul_precision(config.matmul_precision)
  torch.backends.cudnn.allow_tf32 = config.matmul_precision != 'highest'
  device = default_device()

  train_images = input_pipeline.load_train_images(config.data_dir, config.download)
  # Read the test split and check the classifier now, so that a missing file
  # stops the run before training rather than after it.
  evaluator = (evaluate_lib.load_evaluator(config, train_images) if config.eval_num_samples
               else None)
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
  start_step = state.step
  if start_step >= total_steps:
    raise InputError(f'the run in {run_dir.workdir} has already trained {start_step} steps, '
                     f'not fewer than the {total_steps} asked for; raise --config.num_steps '
                     'or --config.num_epochs to train longer')

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

  logging.info('Training steps %d to %d (%d steps), %d steps per epoch, batch %d, on %s.',
               start_step + 1, total_steps, total_steps - start_step, steps_per_epoch,
               config.batch_size, device)
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
    return {name: torch.stack([metrics[name] for metrics in pending_metrics]).double().mean().item()
            for name in pending_metrics[0]}

  def end_of_period(grid_file):
    samples = train_step_lib.generate_samples(state.generator, sample_noise)
    image_files.save_image_grid(samples.permute(0, 2, 3, 1).cpu().double().numpy(), grid_file)
    checkpoints.save(run_dir.checkpoints_dir, state)

  def score(step, epoch):
    scores, floor = evaluate_lib.score_generator(state.generator, config, evaluator,
                                                 config.eval_num_samples)
    evaluation.record_scores(run_dir.metrics_file, step, epoch, scores, floor)
    evaluation.print_table(scores, floor, f'Step {step}, epoch {epoch} (PyTorch):')

  loop.run_training_loop(
      start_step=start_step, total_steps=total_steps, steps_per_epoch=steps_per_epoch,
      batch_size=images_per_step, log_every_steps=config.log_every_steps,
      run_step=run_step, read_metrics=read_metrics, end_of_period=end_of_period,
      run_dir=run_dir, evaluate=score if evaluator else None,
      eval_every_epochs=config.eval_every_epochs)

  image_files.save_loss_curve(run_dir.metrics_file, run_dir.loss_curve_file,
                              f'PyTorch {image_files.MODEL_NAMES[config.model]}, {config.loss} loss, on MNIST, '
                              f'batch {config.batch_size}')
  logging.info('Wrote metrics, samples, loss curve and checkpoints to %s.', run_dir.workdir)
  return state


if __name__ == '__main__':
  cli.run(train_and_evaluate)
