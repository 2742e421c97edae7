"""Tests of both training commands on bad input: one line on stderr, exit code 2, no file changed."""

import hashlib
import json
import os
import shutil
import subprocess
import sys

import pytest

BACKENDS = ('jax', 'torch')
SHORT_RUN = ['--config.num_steps=2', '--config.log_every_steps=1', '--config.num_samples=4',
             '--config.download=false', '--config.eval_num_samples=100']


def run_cli(backend, *args):
  """Run `python -m <backend>_gan.train` with `args` and return the finished process."""
  return subprocess.run([sys.executable, '-m', f'{backend}_gan.train', *args],
                        capture_output=True, text=True, timeout=600, check=False)


def run_evaluate_cli(backend, *args):
  """Run `python -m <backend>_gan.evaluate` with `args` and return the finished process."""
  return subprocess.run([sys.executable, '-m', f'{backend}_gan.evaluate', *args],
                        capture_output=True, text=True, timeout=600, check=False)


def read_records(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    return [json.loads(line) for line in f]


def assert_input_error(process, *fragments):
  error_lines = [line for line in process.stderr.splitlines() if line.startswith('error: ')]
  assert process.returncode == 2, process.stderr[-3000:]
  assert len(error_lines) == 1, process.stderr[-3000:]
  assert 'Traceback' not in process.stderr
  for fragment in fragments:
    assert fragment in error_lines[0], error_lines[0]


def digest_tree(directory):
  """Return {relative path: sha256} of every file under `directory`."""
  digests = {}
  for root, _, files in os.walk(directory):
    for name in files:
      path = os.path.join(root, name)
      with open(path, 'rb') as f:
        digests[os.path.relpath(path, directory)] = hashlib.sha256(f.read()).hexdigest()
  return digests


@pytest.fixture(scope='module', params=BACKENDS)
def finished_run(request, data_dir, tmp_path_factory):
  """A two-step run made by the real command: (backend, workdir)."""
  backend = request.param
  workdir = str(tmp_path_factory.mktemp(f'{backend}_run'))
  process = run_cli(backend, f'--workdir={workdir}', f'--config.data_dir={data_dir}', *SHORT_RUN)
  assert process.returncode == 0, process.stderr[-3000:]
  return backend, workdir


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('flag,fragments', [
    ('--config.learning_rat=0.1', ["'learning_rat'"]),
    ('--config.batch_size=abc', ['--config.batch_size=abc', "invalid literal for int()"]),
    ('--config.batch_size=0', ['config.batch_size must be positive, got 0']),
    ('--config.num_epochs=-2', ['config.num_epochs must be zero or more, got -2']),
    ('--config.loss=wasserstein', ["config.loss must be one of"]),
    ('--config=configs/no_such_config.py', ['invalid --config', 'no_such_config.py']),
    ('--unknown_flag=1', ["Unknown command line flag 'unknown_flag'"]),
])
def test_bad_config_is_rejected(backend, flag, fragments, tmp_path):
  workdir = tmp_path / 'run'
  assert_input_error(run_cli(backend, f'--workdir={workdir}', flag), *fragments)
  assert not workdir.exists()


@pytest.mark.parametrize('backend', BACKENDS)
def test_missing_workdir_flag_is_rejected(backend):
  assert_input_error(run_cli(backend), '--workdir is required')


@pytest.mark.parametrize('backend', BACKENDS)
def test_missing_data_is_rejected(backend, tmp_path):
  empty = tmp_path / 'empty'
  empty.mkdir()
  workdir = tmp_path / 'run'
  process = run_cli(backend, f'--workdir={workdir}', f'--config.data_dir={empty}', *SHORT_RUN)
  assert_input_error(process, 'cannot read MNIST', str(empty), '--config.data_dir',
                     '--config.download=true')
  # The error is the only line: no library log lines before it, and no
  # library advice (torchvision's 'download=True') inside it.
  assert len(process.stderr.strip().splitlines()) == 1, process.stderr
  assert 'download=True' not in process.stderr
  assert not workdir.exists()


@pytest.fixture
def corrupt_data_dir(data_dir, tmp_path):
  """A copy of the MNIST folder whose training images are cut to half their size."""
  corrupt = tmp_path / 'corrupt'
  raw = corrupt / 'MNIST' / 'raw'
  tfds_dir = corrupt / 'tensorflow_datasets' / 'mnist' / '3.0.1'
  raw.mkdir(parents=True)
  for name in os.listdir(os.path.join(data_dir, 'MNIST', 'raw')):
    if not name.endswith('.gz'):
      shutil.copy(os.path.join(data_dir, 'MNIST', 'raw', name), raw / name)
  shutil.copytree(os.path.join(data_dir, 'tensorflow_datasets', 'mnist', '3.0.1'), tfds_dir)
  for path in (raw / 'train-images-idx3-ubyte',
               tfds_dir / 'mnist-train.tfrecord-00000-of-00001'):
    os.truncate(path, os.path.getsize(path) // 2)
  return corrupt


@pytest.mark.parametrize('backend', BACKENDS)
def test_corrupt_data_is_rejected(backend, corrupt_data_dir, tmp_path):
  workdir = tmp_path / 'run'
  process = run_cli(backend, f'--workdir={workdir}', f'--config.data_dir={corrupt_data_dir}',
                    *SHORT_RUN)
  assert_input_error(process, 'cannot read MNIST', str(corrupt_data_dir))
  assert not workdir.exists()


@pytest.mark.parametrize('backend', BACKENDS)
def test_unwritable_workdir_is_rejected(backend, data_dir, tmp_path):
  blocker = tmp_path / 'a_file'
  blocker.write_text('not a directory')
  for workdir in (blocker, blocker / 'run'):
    process = run_cli(backend, f'--workdir={workdir}', f'--config.data_dir={data_dir}', *SHORT_RUN)
    assert_input_error(process, str(workdir))
  assert blocker.read_text() == 'not a directory'


def test_finished_run_wrote_its_files(finished_run):
  backend, workdir = finished_run
  run = json.loads(open(os.path.join(workdir, 'run.json')).read())
  assert run['backend'] == backend
  assert run['config']['num_steps'] == 2
  for name in ('metrics.jsonl', 'loss_curve.png', 'samples/step_0000002.png'):
    assert os.path.isfile(os.path.join(workdir, name)), name


def test_workdir_with_a_run_is_refused_without_resume(finished_run, data_dir):
  backend, workdir = finished_run
  before = digest_tree(workdir)
  process = run_cli(backend, f'--workdir={workdir}', f'--config.data_dir={data_dir}', *SHORT_RUN)
  assert_input_error(process, 'already contains a run', '--resume')
  assert digest_tree(workdir) == before


def test_resume_by_the_other_backend_is_refused(finished_run, data_dir):
  backend, workdir = finished_run
  other = 'torch' if backend == 'jax' else 'jax'
  before = digest_tree(workdir)
  process = run_cli(other, f'--workdir={workdir}', f'--config.data_dir={data_dir}', '--resume',
                    *SHORT_RUN)
  assert_input_error(process, f"contains a '{backend}' run")
  assert digest_tree(workdir) == before


def test_resume_with_another_config_is_refused(finished_run, data_dir):
  backend, workdir = finished_run
  before = digest_tree(workdir)
  process = run_cli(backend, f'--workdir={workdir}', f'--config.data_dir={data_dir}', '--resume',
                    '--config.learning_rate=0.1', *SHORT_RUN)
  assert_input_error(process, 'config.learning_rate is 0.0002')
  assert digest_tree(workdir) == before


def test_corrupt_checkpoint_is_rejected(finished_run, data_dir, tmp_path):
  backend, finished_workdir = finished_run
  workdir = tmp_path / 'copy'
  shutil.copytree(finished_workdir, workdir)
  for root, _, files in os.walk(workdir / 'checkpoints'):
    for name in files:
      path = os.path.join(root, name)
      with open(path, 'r+b') as f:
        size = os.path.getsize(path)
        f.write(b'\x00garbage' * (size // 8 + 1))
  before = digest_tree(workdir)
  process = run_cli(backend, f'--workdir={workdir}', f'--config.data_dir={data_dir}', '--resume',
                    '--config.num_steps=4', *SHORT_RUN[1:])
  assert_input_error(process, 'cannot restore checkpoint', 'damaged or not a checkpoint',
                     'start a new run')
  assert len(process.stderr.splitlines()[-1]) < 500
  assert digest_tree(workdir) == before


def test_finished_run_scored_itself(finished_run):
  _, workdir = finished_run
  scored = [record for record in read_records(workdir) if 'evaluation' in record]
  assert len(scored) == 1
  assert (scored[0]['step'], scored[0]['epoch']) == (2, 1)
  assert scored[0]['evaluation']['num_generated'] == 100
  assert scored[0]['real_vs_real']['num_generated'] == 100
  assert set(scored[0]['evaluation']) == {
      'classifier_score', 'classifier_score_std', 'fid', 'kid', 'kid_std', 'precision', 'recall',
      'num_generated', 'num_real'}


def test_evaluate_command_scores_the_checkpoint(finished_run, tmp_path):
  backend, finished_workdir = finished_run
  workdir = tmp_path / 'copy'
  shutil.copytree(finished_workdir, workdir)
  before = read_records(workdir)

  process = run_evaluate_cli(backend, f'--workdir={workdir}')
  assert process.returncode == 0, process.stderr[-3000:]
  assert 'classifier score (max 10)' in process.stdout
  assert 'real vs real' in process.stdout
  process = run_evaluate_cli(backend, f'--workdir={workdir}', '--num_samples=200')
  assert process.returncode == 0, process.stderr[-3000:]

  records = read_records(workdir)
  assert records[:len(before)] == before
  default_count, more = records[len(before):]
  # The same checkpoint and the same evaluation noise as the end of training.
  assert default_count['evaluation'] == before[-1]['evaluation']
  assert default_count['real_vs_real'] == before[-1]['real_vs_real']
  assert more['step'] == 2
  assert more['evaluation']['num_generated'] == 200


@pytest.mark.parametrize('backend', BACKENDS)
@pytest.mark.parametrize('args,fragments', [
    ([], ['--workdir is required']),
    (['--workdir=/no/such/run'], ['no training run in /no/such/run']),
    (['--workdir=/no/such/run', '--num_samples=5'],
     ['--num_samples must be 0 or from 100 to 60000, got 5']),
])
def test_evaluate_bad_input_is_rejected(backend, args, fragments):
  assert_input_error(run_evaluate_cli(backend, *args), *fragments)


def test_evaluate_by_the_other_backend_is_refused(finished_run):
  backend, workdir = finished_run
  other = 'torch' if backend == 'jax' else 'jax'
  before = digest_tree(workdir)
  process = run_evaluate_cli(other, f'--workdir={workdir}')
  assert_input_error(process, f"contains a '{backend}' run, not a '{other}' one",
                     f'{backend}_gan.evaluate')
  assert digest_tree(workdir) == before


def test_evaluate_without_checkpoint_is_rejected(finished_run, tmp_path):
  backend, finished_workdir = finished_run
  workdir = tmp_path / 'copy'
  shutil.copytree(finished_workdir, workdir)
  shutil.rmtree(workdir / 'checkpoints')
  before = digest_tree(workdir)
  assert_input_error(run_evaluate_cli(backend, f'--workdir={workdir}'), 'no checkpoint found')
  assert digest_tree(workdir) == before
