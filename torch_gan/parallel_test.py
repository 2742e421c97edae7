"""Tests of data-parallel training: N processes at global batch B train the model that one process trains at batch B.

The runs happen in subprocesses on the CPU with gloo: under `torchrun
--nproc_per_node=2`, started by the training command's own
--nproc_per_node=2, and in one plain process. This file is also the script
of the torchrun runs.
"""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from gan_common import cli_test
from torch_gan import parallel

NUM_PROCESSES = 2
NUM_STEPS = 3
# Float64: the processes sum the batch in a different order than one process,
# and GlobalBatchNorm2d computes the variance in two passes where BatchNorm2d
# does not, which changes the last bits.
FLOAT64_ATOL = 1e-10
CONFIGS = {
    'dcgan': {},
    'wgan_gp': dict(loss='wgan_gp', discriminator_normalization='layer_norm', critic_steps=2,
                    learning_rate=1e-4, beta1=0.0, beta2=0.9),
    'mlp': dict(model='mlp'),
}


def run_steps(name: str, data_dir: str) -> dict:
  """Train CONFIGS[name] in float64 for NUM_STEPS steps at global batch 16 in this process and the others torchrun started."""
  import torch  # pylint: disable=g-import-not-at-top
  from configs import default  # pylint: disable=g-import-not-at-top
  from torch_gan import input_pipeline  # pylint: disable=g-import-not-at-top
  from torch_gan import train_step as train_step_lib  # pylint: disable=g-import-not-at-top

  config = default.get_config()
  config.update(dict(param_dtype='float64', batch_size=16, **CONFIGS[name]))
  device = parallel.local_device()
  gan = train_step_lib.create_gan(config)
  state = train_step_lib.create_train_state(config, device, torch.float64)
  if parallel.world_size() > 1:
    state.generator = parallel.wrap(parallel.use_global_batch_norm(state.generator), device)
    state.discriminator = parallel.wrap(parallel.use_global_batch_norm(state.discriminator),
                                        device)
  images = input_pipeline.load_train_images(data_dir, download=False)[:1024]
  permutation = torch.arange(images.shape[0])
  images_per_step = config.batch_size * config.critic_steps
  losses = []
  for step in range(NUM_STEPS):
    batch = input_pipeline.get_batch(images, permutation, step, images_per_step, torch.float64)
    _, metrics = train_step_lib.train_step(state, batch, state.rng, gan=gan)
    values = torch.stack([metrics['d_loss'], metrics['g_loss']]).detach()
    losses.append(parallel.mean_over_processes(values).tolist())
  tensors = []
  for network in (state.generator, state.discriminator):
    tensors += [value.double().ravel() for value in parallel.unwrap(network).state_dict().values()]
  for optimizer in (state.generator_optimizer, state.discriminator_optimizer):
    for moments in optimizer.state_dict()['state'].values():
      tensors += [moments['exp_avg'].ravel(), moments['exp_avg_sq'].ravel()]
  return {'losses': np.array(losses), 'state': torch.cat(tensors).numpy()}


def run_script(data_dir, output, processes: int):
  """Run this file's script in `processes` processes (torchrun for more than one)."""
  # NOTE: this launch failed once in five clean-checkout runs of the fixture
  # below, and passed when repeated. Its error output was not kept, so the cause is unknown.
  if processes > 1:
    command = [sys.executable, '-m', 'torch.distributed.run', '--standalone',
               f'--nproc_per_node={processes}', __file__, data_dir, str(output)]
  else:
    command = [sys.executable, __file__, data_dir, str(output)]
  subprocess.run(command, check=True, timeout=600)
  with np.load(output) as arrays:
    return dict(arrays)


@pytest.fixture(scope='module')
def runs(data_dir, tmp_path_factory):
  """Every config trained by 1 and by NUM_PROCESSES processes: {processes: results}."""
  directory = tmp_path_factory.mktemp('torch_parallel')
  return {processes: run_script(data_dir, directory / f'{processes}.npz', processes)
          for processes in (1, NUM_PROCESSES)}


@pytest.mark.parametrize('name', CONFIGS)
def test_two_processes_train_the_one_process_model(runs, name):
  one_process, two_processes = runs[1], runs[NUM_PROCESSES]
  np.testing.assert_allclose(two_processes[f'{name}/losses'], one_process[f'{name}/losses'],
                             rtol=0, atol=FLOAT64_ATOL)
  np.testing.assert_allclose(two_processes[f'{name}/state'], one_process[f'{name}/state'],
                             rtol=0, atol=FLOAT64_ATOL)
  # The steps changed the model, so the comparison is not of two initial states.
  losses_by_step = one_process[f'{name}/losses']
  assert np.abs(losses_by_step[0] - losses_by_step[-1]).max() > 1e-3


def train_command(workdir, data_dir, *args, torchrun_processes: int = 1):
  """The training command, run in one process or under torchrun in `torchrun_processes`; more args may follow."""
  launcher = [sys.executable]
  if torchrun_processes > 1:
    launcher += ['-m', 'torch.distributed.run', '--standalone',
                 f'--nproc_per_node={torchrun_processes}']
  return [*launcher, '-m', 'torch_gan.train', f'--workdir={workdir}',
          f'--config.data_dir={data_dir}', '--config.download=false', '--config.batch_size=16',
          '--config.log_every_steps=2', '--config.num_samples=4', '--config.eval_num_samples=0',
          *args]


def losses(workdir):
  return [(record['step'], record['d_loss'], record['g_loss'])
          for record in cli_test.read_records(workdir)]


def run_command(command):
  return subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope='module')
def two_process_run(data_dir, tmp_path_factory):
  """Four steps of the training command started with --nproc_per_node=2: its workdir and stderr."""
  workdir = tmp_path_factory.mktemp('two_processes')
  process = run_command(train_command(workdir, data_dir, '--config.num_steps=4',
                                      f'--nproc_per_node={NUM_PROCESSES}'))
  assert process.returncode == 0, process.stderr[-3000:]
  return workdir, process.stderr


def test_two_process_run_trains_like_one_process(two_process_run, data_dir, tmp_path):
  workdir, stderr = two_process_run
  assert '2 processes on cpu' in stderr
  # Each process takes an equal share of the cores.
  threads = max(1, len(os.sched_getaffinity(0)) // NUM_PROCESSES)
  if parallel.THREADS_VARIABLE not in os.environ:
    for rank in range(NUM_PROCESSES):
      assert f'Process {rank} of 2 on cpu, {threads} CPU threads.' in stderr
  single = run_command(train_command(tmp_path, data_dir, '--config.num_steps=4'))
  assert single.returncode == 0, single.stderr[-3000:]
  # Float32: the same model, summed in another order.
  np.testing.assert_allclose(losses(workdir), losses(tmp_path), rtol=1e-4)
  # Process 0 alone wrote: one record per interval, one checkpoint.
  assert [step for step, _, _ in losses(workdir)] == [2, 4]
  assert os.listdir(workdir / 'checkpoints') == ['checkpoint_0000004.pt']


def test_two_process_checkpoint_resumes_in_one_process(two_process_run, data_dir, tmp_path):
  workdir = tmp_path / 'run'
  shutil.copytree(two_process_run[0], workdir)
  process = run_command(train_command(workdir, data_dir, '--config.num_steps=6', '--resume'))
  assert process.returncode == 0, process.stderr[-3000:]
  assert '1 process on cpu' in process.stderr
  assert [step for step, _, _ in losses(workdir)] == [2, 4, 6]
  assert sorted(os.listdir(workdir / 'checkpoints')) == ['checkpoint_0000004.pt',
                                                        'checkpoint_0000006.pt']


def test_uneven_batch_rejected_before_launch(data_dir, tmp_path):
  process = run_command(train_command(tmp_path, data_dir, '--config.batch_size=15',
                                      f'--nproc_per_node={NUM_PROCESSES}'))
  cli_test.assert_input_error(process, 'global batch of 15', '2 processes')
  assert os.listdir(tmp_path) == []


def test_failing_processes_give_their_exit_code(tmp_path):
  # The data is checked inside the processes, after they start.
  process = run_command(train_command(tmp_path, tmp_path / 'no_data',
                                      f'--nproc_per_node={NUM_PROCESSES}'))
  assert process.returncode == 2, process.stderr[-3000:]
  errors = [line for line in process.stderr.splitlines() if line.startswith('error:')]
  # Each process that got as far as printing wrote the same line.
  assert 1 <= len(errors) <= NUM_PROCESSES
  assert all(line.startswith('error: cannot read MNIST with torchvision') for line in errors)
  # torchrun's failure report and agent logs are left out.
  assert 'exitcode' not in process.stderr
  assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('flag, message', [
    ('--nproc_per_node=0', '--nproc_per_node must be at least 1, got 0'),
    ('--nproc_per_node=-2', '--nproc_per_node must be at least 1, got -2'),
])
def test_bad_process_count_is_rejected(data_dir, tmp_path, flag, message):
  process = run_command(train_command(tmp_path, data_dir, flag))
  cli_test.assert_input_error(process, message)
  assert os.listdir(tmp_path) == []


def test_nproc_per_node_is_rejected_under_torchrun(data_dir, tmp_path, monkeypatch):
  # As one process of two that torchrun started would see it.
  monkeypatch.setenv(parallel.WORLD_SIZE_VARIABLE, '2')
  monkeypatch.setenv(parallel.RANK_VARIABLE, '0')
  process = run_command(train_command(tmp_path, data_dir, '--nproc_per_node=2'))
  cli_test.assert_input_error(process, '--nproc_per_node starts the processes itself')
  assert os.listdir(tmp_path) == []


def test_uneven_batch_is_rejected_under_torchrun(data_dir, tmp_path):
  process = run_command(train_command(tmp_path, data_dir, '--config.batch_size=15',
                                      torchrun_processes=NUM_PROCESSES))
  # Each process prints the one line and exits with code 2. torchrun then
  # prints its own report, which names code 2 as the root cause, and exits with 1.
  assert process.returncode == 1
  assert 'error: the global batch of 15 does not split evenly over 2 processes' in process.stderr
  assert 'exitcode  : 2' in process.stderr
  assert os.listdir(tmp_path) == []


def test_batch_check_exits_2_without_torchrun(data_dir, tmp_path, monkeypatch):
  # The check each torchrun process makes, seen from one process of two.
  monkeypatch.setenv(parallel.WORLD_SIZE_VARIABLE, '2')
  monkeypatch.setenv(parallel.RANK_VARIABLE, '0')
  process = run_command(train_command(tmp_path, data_dir, '--config.batch_size=15'))
  cli_test.assert_input_error(process, 'global batch of 15', '2 processes')
  assert os.listdir(tmp_path) == []


def test_inconsistent_process_variables_are_rejected(data_dir, tmp_path, monkeypatch):
  monkeypatch.setenv(parallel.WORLD_SIZE_VARIABLE, '2')
  monkeypatch.setenv(parallel.RANK_VARIABLE, '2')
  process = run_command(train_command(tmp_path, data_dir))
  cli_test.assert_input_error(process, 'RANK=2 is invalid for WORLD_SIZE=2')
  assert os.listdir(tmp_path) == []


def test_settings_come_from_torchrun_variables(monkeypatch):
  monkeypatch.setenv(parallel.WORLD_SIZE_VARIABLE, '4')
  monkeypatch.setenv(parallel.RANK_VARIABLE, '3')
  monkeypatch.setenv(parallel.LOCAL_RANK_VARIABLE, '1')
  assert parallel.distributed_settings() == (4, 3, 1)
  monkeypatch.setenv(parallel.WORLD_SIZE_VARIABLE, 'four')
  with pytest.raises(parallel.InputError, match='must be integers'):
    parallel.distributed_settings()


def test_one_process_needs_no_settings(monkeypatch):
  for variable in (parallel.WORLD_SIZE_VARIABLE, parallel.RANK_VARIABLE,
                   parallel.LOCAL_RANK_VARIABLE):
    monkeypatch.delenv(variable, raising=False)
  assert parallel.distributed_settings() is None
  monkeypatch.setenv(parallel.WORLD_SIZE_VARIABLE, '1')
  assert parallel.distributed_settings() is None


if __name__ == '__main__':
  import torch.distributed  # pylint: disable=g-import-not-at-top
  parallel.initialize_distributed(parallel.distributed_settings())
  results = {}
  for config_name in CONFIGS:
    for key, value in run_steps(config_name, sys.argv[1]).items():
      results[f'{config_name}/{key}'] = value
  if parallel.is_writer():
    np.savez(sys.argv[2], **results)
  if torch.distributed.is_initialized():
    torch.distributed.destroy_process_group()
