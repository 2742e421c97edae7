"""Parity of the data-parallel runs: JAX on 4 devices and PyTorch on 2 processes, from the same weights, agree like one-device runs.

Both runs start from one converted pair of GANs (`harness.make_pair`) and
see the same real images and noise. The JAX run splits each batch over 4
simulated CPU devices, the PyTorch run over 2 processes under torchrun with
gloo. Each runs in a subprocess started by this file, which is also their
script.
"""

import subprocess
import sys

import numpy as np
import pytest

NUM_STEPS = 5
BATCH = 16
SEED = 0
# The float64 tolerance of the one-device training runs in parity_test.py.
FLOAT64_ATOL, FLOAT64_RTOL = 1e-11, 1e-8


def run_backend(backend: str, data_dir: str) -> dict:
  """Train the converted DCGAN pair in float64 on several devices of `backend` for NUM_STEPS steps; return losses and state."""
  import jax  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  from jax_gan import parallel as jax_parallel  # pylint: disable=g-import-not-at-top
  from jax_gan import train_step as jax_train_step  # pylint: disable=g-import-not-at-top
  from parity_tests import harness  # pylint: disable=g-import-not-at-top
  from torch_gan import input_pipeline as torch_input  # pylint: disable=g-import-not-at-top
  from torch_gan import parallel as torch_parallel  # pylint: disable=g-import-not-at-top
  from torch_gan import train_step as torch_train_step  # pylint: disable=g-import-not-at-top

  jax.config.update('jax_enable_x64', True)
  pair = harness.make_pair(harness.FROM_TORCH, np.float64, seed=SEED)
  images = torch_input.load_train_images(data_dir, download=False)[:NUM_STEPS * BATCH]
  scaled = torch_input.get_batch(images, torch.arange(images.shape[0]), 0, images.shape[0],
                                 torch.float64)
  real_nhwc = harness.nchw_to_nhwc(scaled.numpy())
  noise = np.random.RandomState(7).standard_normal((NUM_STEPS, BATCH, pair.config.latent_dim))
  losses = []

  if backend == 'jax':
    mesh = jax_parallel.create_mesh()
    gan = jax_train_step.create_gan(pair.config, mesh=mesh)
    replicated = jax_parallel.replicated(mesh)

    def step_fn(state, batch, z):
      return jax_train_step.train_step_with_noise(
          state, jax_train_step.split_batch(gan, batch), jax_train_step.split_batch(gan, z),
          gan=gan)

    step = jax.jit(step_fn, in_shardings=(replicated,) * 3,
                   out_shardings=(replicated, replicated))
    state = jax_parallel.put_replicated(pair.jax_state, mesh)
    for index in range(NUM_STEPS):
      batch, z = jax_parallel.put_replicated(
          (real_nhwc[index * BATCH:(index + 1) * BATCH], noise[index]), mesh)
      state, metrics = step(state, batch, z)
      losses.append([float(jax_parallel.to_host(metrics[name])) for name in ('d_loss', 'g_loss')])
    state = jax.tree.map(jax_parallel.to_host, state)
    networks = {name: getattr(state, name) for name in ('generator', 'discriminator')}
    devices = mesh.size
  else:
    torch_state = pair.torch_state
    for name in ('generator', 'discriminator'):
      network = torch_parallel.use_global_batch_norm(getattr(torch_state, name))
      setattr(torch_state, name, torch_parallel.wrap(network, torch.device('cpu')))
    real_nchw = torch.from_numpy(harness.nhwc_to_nchw(real_nhwc))
    for index in range(NUM_STEPS):
      batch = torch_parallel.split_batch(real_nchw[index * BATCH:(index + 1) * BATCH])
      z = torch_parallel.split_batch(torch.from_numpy(noise[index]))
      _, metrics = torch_train_step.train_step_with_noise(torch_state, batch, z,
                                                          gan=pair.torch_gan)
      values = torch.stack([metrics['d_loss'], metrics['g_loss']])
      losses.append(torch_parallel.mean_over_processes(values).tolist())
    networks = {}
    for name in ('generator', 'discriminator'):
      module = torch_parallel.unwrap(getattr(torch_state, name))
      variables = harness.torch_variables(module, pair.layers[name])
      networks[name] = jax_train_step.ModelState(
          params=variables['params'], batch_stats=variables['batch_stats'], opt_state=None)
    devices = torch_parallel.world_size()

  results = {'losses': np.array(losses), 'devices': np.array(devices)}
  for name, model_state in networks.items():
    for kind in ('params', 'batch_stats'):
      for path, leaf in jax.tree_util.tree_leaves_with_path(getattr(model_state, kind)):
        results[f'{name}/{kind}{jax.tree_util.keystr(path)}'] = np.asarray(leaf)
  return results


@pytest.fixture(scope='module')
def runs(data_dir, tmp_path_factory):
  """Run the JAX side on 4 devices and the PyTorch side on 2 processes; return {backend: results}."""
  import os  # pylint: disable=g-import-not-at-top
  directory = tmp_path_factory.mktemp('parallel_parity')
  jax_environment = dict(os.environ)
  jax_environment['XLA_FLAGS'] = (jax_environment.get('XLA_FLAGS', '') +
                                  ' --xla_force_host_platform_device_count=4')
  commands = {
      'jax': ([sys.executable, __file__, 'jax'], jax_environment),
      'torch': ([sys.executable, '-m', 'torch.distributed.run', '--standalone',
                 '--nproc_per_node=2', __file__, 'torch'], dict(os.environ)),
  }
  results = {}
  for backend, (command, environment) in commands.items():
    output = directory / f'{backend}.npz'
    subprocess.run([*command, data_dir, str(output)], env=environment, check=True, timeout=600)
    with np.load(output) as arrays:
      results[backend] = dict(arrays)
  return results


def test_runs_used_several_devices(runs):
  assert int(runs['jax']['devices']) == 4
  assert int(runs['torch']['devices']) == 2


def test_losses_match(runs):
  np.testing.assert_allclose(runs['jax']['losses'], runs['torch']['losses'],
                             atol=FLOAT64_ATOL, rtol=FLOAT64_RTOL)
  # The runs trained: the losses moved.
  assert np.abs(np.diff(runs['torch']['losses'], axis=0)).max() > 1e-3


def test_parameters_and_batch_norm_statistics_match(runs):
  names = sorted(name for name in runs['torch'] if '/' in name)
  assert names == sorted(name for name in runs['jax'] if '/' in name)
  assert any('batch_stats' in name for name in names)
  for name in names:
    np.testing.assert_allclose(runs['jax'][name], runs['torch'][name], atol=FLOAT64_ATOL,
                               rtol=FLOAT64_RTOL, err_msg=name)


if __name__ == '__main__':
  import torchvision  # pylint: disable=g-import-not-at-top,unused-import  # before TensorFlow
  backend_name, data_folder, output_file = sys.argv[1:4]
  if backend_name == 'torch':
    from torch_gan import parallel  # pylint: disable=g-import-not-at-top
    parallel.initialize_distributed(parallel.distributed_settings())
  arrays = run_backend(backend_name, data_folder)
  if backend_name == 'jax' or parallel.is_writer():
    np.savez(output_file, **arrays)
  if backend_name == 'torch':
    import torch.distributed  # pylint: disable=g-import-not-at-top
    torch.distributed.destroy_process_group()
