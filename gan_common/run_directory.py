"""The files a training run writes into its workdir, and the checks made before writing any.

A workdir holds:
  run.json          the backend and the full config of the run
  metrics.jsonl     one JSON object per log interval
  samples/          a PNG grid of generated digits at each epoch end
  loss_curve.png    discriminator and generator loss over the run
  checkpoints/      the latest checkpoints, written by the backend
"""

import json
import os
import tempfile

from gan_common import configuration
from gan_common.errors import InputError

RUN_FILE = 'run.json'
METRICS_FILE = 'metrics.jsonl'
SAMPLES_DIR = 'samples'
LOSS_CURVE_FILE = 'loss_curve.png'
CHECKPOINTS_DIR = 'checkpoints'


class RunDirectory:
  """Paths of one run's files, and the checks that keep one run from overwriting another."""

  def __init__(self, workdir: str):
    self.workdir = os.path.abspath(os.path.expanduser(workdir))
    self.run_file = os.path.join(self.workdir, RUN_FILE)
    self.metrics_file = os.path.join(self.workdir, METRICS_FILE)
    self.samples_dir = os.path.join(self.workdir, SAMPLES_DIR)
    self.loss_curve_file = os.path.join(self.workdir, LOSS_CURVE_FILE)
    self.checkpoints_dir = os.path.join(self.workdir, CHECKPOINTS_DIR)

  def check(self, backend: str, config, resume: bool) -> None:
    """Check that the workdir can take this run, writing nothing.

    A fresh run needs a workdir that contains no run yet. A resumed run needs a
    run of the same backend whose config differs at most in the training
    length.

    Raises:
      InputError: the workdir cannot be written, contains another run, or
        contains nothing to resume.
    """
    if os.path.exists(self.workdir) and not os.path.isdir(self.workdir):
      raise InputError(f'workdir {self.workdir} exists and is not a directory')
    existing_run = self._read_run_file()

    if resume:
      if existing_run is None:
        raise InputError(f'nothing to resume: {self.run_file} not found; '
                         'drop --resume to start a new run')
      if existing_run.get('backend') != backend:
        raise InputError(f'cannot resume: workdir {self.workdir} contains a '
                         f'{existing_run.get("backend")!r} run, not a {backend!r} one')
      changed = configuration.changed_fields(existing_run.get('config', {}), config)
      if changed:
        raise InputError(f'cannot resume with a different config: config.{changed[0]} is '
                         f'{existing_run["config"].get(changed[0])!r} in {self.run_file} and '
                         f'{config.get(changed[0])!r} now; only '
                         f'{", ".join(sorted(configuration.RESUMABLE_CHANGES))} may change')
    elif existing_run is not None or self._has_run_outputs():
      raise InputError(f'workdir {self.workdir} already contains a run; pass --resume to '
                       'continue it or choose another --workdir')

    self._check_writable()

  def record(self, backend: str, config) -> None:
    """Write run.json and create the samples folder; call after `check` and after loading everything."""
    os.makedirs(self.samples_dir, exist_ok=True)
    write_json_atomically(self.run_file, {'backend': backend, 'config': config.to_dict()})

  def _read_run_file(self):
    if not os.path.exists(self.run_file):
      return None
    try:
      with open(self.run_file) as f:
        return json.load(f)
    except (OSError, ValueError) as error:
      raise InputError(f'cannot read {self.run_file}: {error}') from error

  def _has_run_outputs(self) -> bool:
    return any(os.path.exists(path)
               for path in (self.metrics_file, self.checkpoints_dir, self.samples_dir))

  def _check_writable(self) -> None:
    # Probe the nearest existing ancestor, so that the check creates nothing.
    existing = self.workdir
    while not os.path.exists(existing):
      existing = os.path.dirname(existing)
    if not os.access(existing, os.W_OK | os.X_OK):
      raise InputError(f'workdir {self.workdir} is not writable: no write permission on {existing}')
    try:
      with tempfile.TemporaryFile(dir=existing):
        pass
    except OSError as error:
      raise InputError(f'workdir {self.workdir} is not writable: {error.strerror}') from error

  def sample_grid_file(self, epoch: int) -> str:
    """Return the path of the sample grid written at the end of `epoch` (1-based)."""
    return os.path.join(self.samples_dir, f'epoch_{epoch:03d}.png')

  def sample_grid_file_for_step(self, step: int) -> str:
    """Return the path of the sample grid written when training stops at `step` within an epoch."""
    return os.path.join(self.samples_dir, f'step_{step:07d}.png')


def write_json_atomically(path: str, value) -> None:
  """Write `value` as JSON to `path` through a temporary file, so that a crash leaves the old file whole."""
  directory = os.path.dirname(path)
  with tempfile.NamedTemporaryFile('w', dir=directory, delete=False, suffix='.tmp') as f:
    json.dump(value, f, indent=2, sort_keys=True)
    f.write('\n')
  make_readable(f.name)
  os.replace(f.name, path)


def make_readable(path: str) -> None:
  """Give a file made by `tempfile` (mode 0600) the mode an ordinary `open` would give it."""
  umask = os.umask(0)
  os.umask(umask)
  os.chmod(path, 0o666 & ~umask)


class MetricsWriter:
  """Appends one JSON object per line to metrics.jsonl."""

  def __init__(self, path: str):
    self.path = path

  def write(self, record: dict) -> None:
    with open(self.path, 'a') as f:
      f.write(json.dumps(record, sort_keys=True) + '\n')


def read_metrics(path: str) -> list[dict]:
  """Return the records of a metrics.jsonl file, or [] when there is none."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def drop_metrics_after(path: str, step: int) -> None:
  """Keep only the records up to `step`, so that a resumed run does not log those steps twice."""
  records = read_metrics(path)
  kept = [record for record in records if record['step'] <= step]
  if len(kept) == len(records):
    return
  temporary = path + '.tmp'
  with open(temporary, 'w') as f:
    for record in kept:
      f.write(json.dumps(record, sort_keys=True) + '\n')
  os.replace(temporary, path)
