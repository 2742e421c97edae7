"""Train a GAN on MNIST with JAX: `python -m jax_gan.train --config=... --workdir=...`.

It trains on every device that JAX finds, with the batch split over them
(jax_gan/parallel.py). Several processes, one per host, join with
--coordinator_address, --num_processes and --process_id, or with the
JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID variables.
Process 0 alone writes files.
"""

import time

from absl import flags
from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from gan_common import cli
from gan_common import evaluation
from gan_common import images as image_files
from gan_common import loop
from gan_common import run_directory
from gan_common.errors import InputError
from jax_gan import checkpoints
from jax_gan import evaluate as evaluate_lib
from jax_gan import input_pipeline
from jax_gan import parallel
from jax_gan import train_step as train_step_lib

BACKEND = 'jax'

_COORDINATOR_ADDRESS = flags.DEFINE_string(
    'coordinator_address', '', 'HOST:PORT of process 0, for a run over several processes; '
    f'default ${parallel.COORDINATOR_VARIABLE}.')
_NUM_PROCESSES = flags.DEFINE_integer(
    'num_processes', 0, f'Processes in the run; default ${parallel.NUM_PROCESSES_VARIABLE}, else 1.')
_PROCESS_ID = flags.DEFINE_integer(
    'process_id', -1, f'This process, 0 to num_processes - 1; default ${parallel.PROCESS_ID_VARIABLE}.')


def train_and_evaluate(config, workdir: str, resume: bool = False) -> train_step_lib.TrainState:
  """Train a GAN as `config` specifies, writing metrics, sample grids and checkpoints to `workdir`.

  Returns:
    The final TrainState.

  Raises:
    InputError: for a bad workdir, missing or corrupt data, or a checkpoint
      that cannot be restored. Nothing in the workdir is changed before the
      data is loaded and the checkpoint restored.
  """
  mesh = parallel.create_mesh()
  parallel.check_batch_size(config.batch_size, mesh)
  is_writer = parallel.is_writer()
  run_dir = run_directory.RunDirectory(workdir)
  run_dir.check(BACKEND, config, resume)

  param_dtype = jnp.dtype(config.param_dtype)
  if param_dtype == jnp.float64:
    jax.config.update('jax_enable_x64', True)
  jax.config.update('jax_default_matmul_precision', config.matmul_precision)

  train_images = input_pipeline.load_train_images(config.data_dir, config.download)
  # Read the test split and check the classifier now, so that a missing file
  # stops the run before training rather than after it.
  evaluator = (evaluate_lib.load_evaluator(config, train_images)
               if config.eval_num_samples and is_writer else None)
  # (60000, 28, 28, 1) uint8, on every device for the run.
  images = parallel.put_replicated(train_images, mesh)
  num_images = images.shape[0]
  # A step reads critic_steps batches, one per discriminator update.
  images_per_step = config.batch_size * config.critic_steps
  steps_per_epoch = num_images // images_per_step
  total_steps = config.num_steps or config.num_epochs * steps_per_epoch

  gan = train_step_lib.create_gan(config, mesh=mesh)
  state = train_step_lib.create_train_state(gan, jax.random.PRNGKey(config.seed), param_dtype)
  # Every key comes from the seed, so every process computes the same ones.
  shuffle_key, _, sample_key = train_step_lib.run_keys(state.rng)
  state = parallel.put_replicated(state, mesh)
  if resume:
    # Onto this run's devices, however many saved it.
    state = checkpoints.restore(run_dir.checkpoints_dir, state)
  start_step = int(parallel.to_host(state.step))
  if start_step >= total_steps:
    raise InputError(f'the run in {run_dir.workdir} has already trained {start_step} steps, '
                     f'not fewer than the {total_steps} asked for; raise --config.num_steps '
                     'or --config.num_epochs to train longer')

  parallel.wait_for_all_processes('checked the workdir')
  if is_writer:
    run_dir.record(BACKEND, config)
    if resume:
      run_directory.drop_metrics_after(run_dir.metrics_file, start_step)

  sample_noise = jax.random.normal(sample_key, (config.num_samples, config.latent_dim),
                                   param_dtype)
  generate = jax.jit(lambda generator: train_step_lib.generate_samples(gan, generator, sample_noise))

  def permutation(epoch):
    return parallel.put_replicated(
        input_pipeline.epoch_permutation(shuffle_key, epoch, num_images), mesh)

  # Compile ahead of time, so that the compile time is reported apart and the
  # first log interval's img/s measures training alone.
  compile_start = time.perf_counter()
  train_step = train_step_lib.make_train_step_on_dataset(
      gan, steps_per_epoch, config.batch_size).lower(state, images, permutation(0)).compile()
  devices = f'{mesh.size} {jax.devices()[0].device_kind} device' + ('s' if mesh.size > 1 else '')
  logging.info('Compiled the train step in %.1f s on %s.', time.perf_counter() - compile_start,
               devices)
  logging.info('Training steps %d to %d (%d steps), %d steps per epoch, global batch %d '
               '(%d per device).', start_step + 1, total_steps, total_steps - start_step,
               steps_per_epoch, config.batch_size, config.batch_size // mesh.size)

  permutation_cache = {}

  def run_step(step):
    nonlocal state
    epoch = step // steps_per_epoch
    if epoch not in permutation_cache:
      permutation_cache.clear()
      permutation_cache[epoch] = permutation(epoch)
    state, metrics = train_step(state, images, permutation_cache[epoch])
    return metrics

  def read_metrics(pending_metrics):
    # One array per metric, stacked on the devices, then one copy to the host each.
    stacked = jax.tree.map(lambda *values: jnp.stack(values), *pending_metrics)
    return {name: float(np.mean(parallel.to_host(values), dtype=np.float64))
            for name, values in stacked.items()}

  def local_generator():
    # This process's copy, so that process 0 can generate alone.
    return jax.tree.map(parallel.to_host, state.generator)

  def end_of_period(grid_file):
    if is_writer:
      image_files.save_image_grid(np.asarray(generate(local_generator())), grid_file)
    checkpoints.save(run_dir.checkpoints_dir, state)  # every process takes part

  def score(step, epoch):
    scores, floor = evaluate_lib.score_generator(gan, local_generator(), config, evaluator,
                                                 config.eval_num_samples)
    evaluation.record_scores(run_dir.metrics_file, step, epoch, scores, floor)
    evaluation.print_table(scores, floor, f'Step {step}, epoch {epoch} (JAX):')

  loop.run_training_loop(
      start_step=start_step, total_steps=total_steps, steps_per_epoch=steps_per_epoch,
      batch_size=images_per_step, log_every_steps=config.log_every_steps,
      run_step=run_step, read_metrics=read_metrics, end_of_period=end_of_period,
      run_dir=run_dir, evaluate=score if evaluator else None,
      eval_every_epochs=config.eval_every_epochs, is_writer=is_writer)

  if not is_writer:
    return state
  image_files.save_loss_curve(run_dir.metrics_file, run_dir.loss_curve_file,
                              f'JAX {image_files.MODEL_NAMES[config.model]}, {config.loss} loss, on MNIST, '
                              f'batch {config.batch_size}')
  logging.info('Wrote metrics, samples, loss curve and checkpoints to %s.', run_dir.workdir)
  return state


def main(config, workdir: str, resume: bool = False) -> None:
  """Join the other processes when there are several, then train."""
  parallel.initialize_distributed(parallel.distributed_settings(
      _COORDINATOR_ADDRESS.value, _NUM_PROCESSES.value, _PROCESS_ID.value))
  if not parallel.is_writer():
    logging.set_verbosity(logging.WARNING)
  train_and_evaluate(config, workdir, resume)


if __name__ == '__main__':
  cli.run(main)
