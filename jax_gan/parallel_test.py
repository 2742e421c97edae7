"""Tests of data-parallel training: N devices at global batch B train the model that one device trains at batch B.

The multi-device runs happen in a subprocess that starts JAX with 4 CPU
devices (`--xla_force_host_platform_device_count=4`); this file is also that
subprocess's script.
"""

import json
import os
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

from gan_common import cli_test
from jax_gan import parallel

NUM_DEVICES = 4
NUM_STEPS = 3
# Float64: the devices sum the batch in a different order than one device,
# which changes the last bits. After 3 Adam steps the losses agreed within
# 7e-15 and the states within 5e-12 (WGAN-GP's; 5e-13 for the DCGAN).
FLOAT64_ATOL = 1e-10
CONFIGS = {
    'dcgan': {},
    'wgan_gp': dict(loss='wgan_gp', discriminator_normalization='layer_norm', critic_steps=2,
                    learning_rate=1e-4, beta1=0.0, beta2=0.9),
    'mlp': dict(model='mlp'),
}


def run_steps(name: str, num_devices: int, data_dir: str) -> dict:
  """Train CONFIGS[name] in float64 for NUM_STEPS steps at global batch 16 on a mesh of `num_devices` devices (0: no mesh)."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from configs import default  # pylint: disable=g-import-not-at-top
  from jax_gan import input_pipeline, parallel  # pylint: disable=g-import-not-at-top
  from jax_gan import train_step as train_step_lib  # pylint: disable=g-import-not-at-top

  jax.config.update('jax_enable_x64', True)
  config = default.get_config()
  config.update(dict(param_dtype='float64', batch_size=16, **CONFIGS[name]))
  mesh = parallel.create_mesh(jax.devices()[:num_devices]) if num_devices else None
  gan = train_step_lib.create_gan(config, mesh=mesh)
  state = train_step_lib.create_train_state(gan, jax.random.PRNGKey(0), jnp.float64)
  images = input_pipeline.load_train_images(data_dir, download=False)[:1024]
  permutation = np.arange(images.shape[0])
  if mesh is not None:
    state, images, permutation = parallel.put_replicated((state, images, permutation), mesh)
  step = train_step_lib.make_train_step_on_dataset(gan, steps_per_epoch=1024 // (
      config.batch_size * config.critic_steps), batch_size=config.batch_size)
  losses = []
  for _ in range(NUM_STEPS):
    state, metrics = step(state, images, permutation)
    losses.append([float(parallel.to_host(metrics['d_loss'])),
                   float(parallel.to_host(metrics['g_loss']))])
  leaves = [parallel.to_host(leaf).ravel() for leaf in jax.tree.leaves(
      (state.generator, state.discriminator))]
  sharding = jax.tree.leaves(state.generator.params)[0].sharding
  return {'losses': np.array(losses), 'state': np.concatenate(leaves),
          'replicated': np.array(sharding.is_fully_replicated),
          'devices': np.array(len(sharding.device_set))}


@pytest.fixture(scope='module')
def runs(data_dir, tmp_path_factory):
  """Run every config on 1 and 4 devices, and the DCGAN without a mesh, in one subprocess; return its results."""
  output = tmp_path_factory.mktemp('parallel') / 'runs.npz'
  subprocess.run([sys.executable, __file__, data_dir, str(output)],
                 env=devices_environment(NUM_DEVICES), check=True, timeout=600)
  with np.load(output) as arrays:
    return dict(arrays)


@pytest.mark.parametrize('name', CONFIGS)
def test_four_devices_train_the_one_device_model(runs, name):
  one_device, four_devices = f'{name}/1', f'{name}/{NUM_DEVICES}'
  assert runs[f'{four_devices}/devices'] == NUM_DEVICES
  assert runs[f'{four_devices}/replicated']
  np.testing.assert_allclose(runs[f'{four_devices}/losses'], runs[f'{one_device}/losses'],
                             rtol=0, atol=FLOAT64_ATOL)
  np.testing.assert_allclose(runs[f'{four_devices}/state'], runs[f'{one_device}/state'],
                             rtol=0, atol=FLOAT64_ATOL)
  # The steps changed the model, so the comparison is not of two initial states.
  losses_by_step = runs[f'{one_device}/losses']
  assert np.abs(losses_by_step[0] - losses_by_step[-1]).max() > 1e-3


def test_one_device_mesh_is_the_plain_step(runs):
  np.testing.assert_array_equal(runs['dcgan/1/losses'], runs['dcgan/0/losses'])
  np.testing.assert_array_equal(runs['dcgan/1/state'], runs['dcgan/0/state'])


def devices_environment(count: int) -> dict:
  """Return this process's environment with JAX given `count` CPU devices."""
  environment = dict(os.environ)
  environment['XLA_FLAGS'] = (environment.get('XLA_FLAGS', '') +
                              f' --xla_force_host_platform_device_count={count}')
  return environment


def train_command(workdir, data_dir, *args):
  return [sys.executable, '-m', 'jax_gan.train', f'--workdir={workdir}',
          f'--config.data_dir={data_dir}', '--config.download=false', '--config.batch_size=16',
          '--config.log_every_steps=2', '--config.num_samples=4', '--config.eval_num_samples=0',
          *args]


def losses(workdir):
  return [(record['step'], record['d_loss'], record['g_loss'])
          for record in cli_test.read_records(workdir)]


@pytest.fixture(scope='module')
def four_device_run(data_dir, tmp_path_factory):
  """Four steps of the training command on 4 devices: its workdir."""
  workdir = tmp_path_factory.mktemp('four_devices')
  process = subprocess.run(train_command(workdir, data_dir, '--config.num_steps=4'),
                           env=devices_environment(NUM_DEVICES), capture_output=True, text=True,
                           timeout=600, check=False)
  assert process.returncode == 0, process.stderr[-3000:]
  assert f'on {NUM_DEVICES} cpu devices' in process.stderr
  return workdir


def test_four_device_checkpoint_resumes_on_one_device(four_device_run, data_dir, tmp_path):
  workdir = tmp_path / 'run'
  shutil.copytree(four_device_run, workdir)
  process = subprocess.run(train_command(workdir, data_dir, '--config.num_steps=6', '--resume'),
                           capture_output=True, text=True, timeout=600, check=False)
  assert process.returncode == 0, process.stderr[-3000:]
  assert 'on 1 cpu device.' in process.stderr
  assert [step for step, _, _ in losses(workdir)] == [2, 4, 6]
  assert losses(workdir)[:2] == losses(four_device_run)
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['4', '6']


def free_loopback_port() -> int:
  """Return a TCP port on 127.0.0.1 that was free a moment ago, for the coordinator of this test."""
  with socket.socket() as probe:
    probe.bind(('127.0.0.1', 0))
    return probe.getsockname()[1]


def test_two_processes_match_four_devices(four_device_run, data_dir, tmp_path):
  # Two hosts simulated on this machine: 2 processes with 2 CPU devices each.
  address = f'127.0.0.1:{free_loopback_port()}'
  processes = [subprocess.Popen(
      train_command(tmp_path, data_dir, '--config.num_steps=4', f'--coordinator_address={address}',
                    '--num_processes=2', f'--process_id={index}'),
      env=devices_environment(2), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
      for index in range(2)]
  outputs = [process.communicate(timeout=600) for process in processes]
  for process, (_, stderr) in zip(processes, outputs):
    assert process.returncode == 0, stderr[-3000:]
  assert 'Process 0 of 2' in outputs[0][1]
  assert 'on 4 cpu devices' in outputs[0][1]
  assert 'Step 4/4' not in outputs[1][1]  # process 1 logs warnings only
  # One metrics file with one record per interval, one checkpoint, the 4-device run's losses.
  np.testing.assert_allclose(losses(tmp_path), losses(four_device_run), rtol=1e-6)
  assert os.listdir(tmp_path / 'checkpoints') == ['4']
  assert json.loads((tmp_path / 'run.json').read_text())['backend'] == 'jax'


def test_uneven_batch_is_rejected(data_dir, tmp_path):
  process = subprocess.run(train_command(tmp_path, data_dir, '--config.batch_size=30'),
                           env=devices_environment(NUM_DEVICES), capture_output=True, text=True,
                           timeout=600, check=False)
  cli_test.assert_input_error(process, 'global batch of 30', '4 devices')
  assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('args, fragments', [
    (['--num_processes=2', '--process_id=0'], ['coordinator address']),
    (['--coordinator_address=127.0.0.1:1', '--num_processes=2', '--process_id=2'],
     ['process id must be in [0, 1]']),
    (['--coordinator_address=127.0.0.1:1', '--process_id=1'], ['process count']),
])
def test_inconsistent_process_settings_are_rejected(data_dir, tmp_path, args, fragments):
  # Rejected before any connection is tried.
  process = subprocess.run(train_command(tmp_path, data_dir, *args), capture_output=True,
                           text=True, timeout=600, check=False)
  cli_test.assert_input_error(process, *fragments)
  assert os.listdir(tmp_path) == []


def test_settings_come_from_the_environment(monkeypatch):
  monkeypatch.setenv(parallel.COORDINATOR_VARIABLE, 'host0:1234')
  monkeypatch.setenv(parallel.NUM_PROCESSES_VARIABLE, '4')
  monkeypatch.setenv(parallel.PROCESS_ID_VARIABLE, '3')
  assert parallel.distributed_settings() == ('host0:1234', 4, 3)
  # Flags take precedence.
  assert parallel.distributed_settings('host1:99', 2, 0) == ('host1:99', 2, 0)
  monkeypatch.setenv(parallel.NUM_PROCESSES_VARIABLE, 'four')
  with pytest.raises(parallel.InputError, match='must be integers'):
    parallel.distributed_settings()


def test_one_process_needs_no_settings(monkeypatch):
  for variable in (parallel.COORDINATOR_VARIABLE, parallel.NUM_PROCESSES_VARIABLE,
                   parallel.PROCESS_ID_VARIABLE):
    monkeypatch.delenv(variable, raising=False)
  assert parallel.distributed_settings() is None
  assert parallel.distributed_settings(num_processes=1, process_id=0) is None


if __name__ == '__main__':
  # torchvision before TensorFlow (see conftest.py); the JAX side needs neither here.
  results = {}
  for config_name in CONFIGS:
    # 0 devices, the step without a mesh, for the DCGAN only.
    for devices in ((0, 1, NUM_DEVICES) if config_name == 'dcgan' else (1, NUM_DEVICES)):
      for key, value in run_steps(config_name, devices, sys.argv[1]).items():
        results[f'{config_name}/{devices}/{key}'] = value
  np.savez(sys.argv[2], **results)
