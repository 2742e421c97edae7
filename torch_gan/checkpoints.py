"""Training checkpoints with `torch.save`: the whole TrainState, the latest two kept."""

import glob
import os
import re
import tempfile

import torch

from gan_common import run_directory
from gan_common import errors
from gan_common.errors import InputError
from torch_gan import parallel
from torch_gan.train_step import TrainState

MAX_TO_KEEP = 2
_NAME = re.compile(r'checkpoint_(\d+)\.pt$')


def _checkpoint_files(directory: str) -> dict[int, str]:
  files = {}
  for path in glob.glob(os.path.join(directory, 'checkpoint_*.pt')):
    match = _NAME.search(os.path.basename(path))
    if match:
      files[int(match.group(1))] = path
  return files


def save(directory: str, state: TrainState) -> None:
  """Save `state` as `directory/checkpoint_<step>.pt` through a temporary file; keep the newest two."""
  os.makedirs(directory, exist_ok=True)
  payload = {
      'step': state.step,
      'generator': parallel.unwrap(state.generator).state_dict(),
      'discriminator': parallel.unwrap(state.discriminator).state_dict(),
      'generator_optimizer': state.generator_optimizer.state_dict(),
      'discriminator_optimizer': state.discriminator_optimizer.state_dict(),
      'rng': state.rng.get_state(),
  }
  with tempfile.NamedTemporaryFile(dir=directory, suffix='.tmp', delete=False) as f:
    torch.save(payload, f)
  run_directory.make_readable(f.name)
  os.replace(f.name, os.path.join(directory, f'checkpoint_{state.step:07d}.pt'))

  files = _checkpoint_files(directory)
  for step in sorted(files)[:-MAX_TO_KEEP]:
    os.remove(files[step])


def latest_step(directory: str):
  """Return the step of the newest checkpoint in `directory`, or None."""
  files = _checkpoint_files(directory)
  return max(files) if files else None


def restore(directory: str, state: TrainState) -> TrainState:
  """Load the newest checkpoint in `directory` into `state`, in place, and return it.

  Raises:
    InputError: there is no checkpoint, or it cannot be read.
  """
  step = latest_step(directory)
  if step is None:
    raise InputError(f'no checkpoint found in {directory}')
  path = _checkpoint_files(directory)[step]
  try:
    payload = torch.load(path, map_location='cpu', weights_only=True)
    parallel.unwrap(state.generator).load_state_dict(payload['generator'])
    parallel.unwrap(state.discriminator).load_state_dict(payload['discriminator'])
    state.generator_optimizer.load_state_dict(payload['generator_optimizer'])
    state.discriminator_optimizer.load_state_dict(payload['discriminator_optimizer'])
    state.rng.set_state(payload['rng'])
    state.step = int(payload['step'])
  except Exception as error:  # pylint: disable=broad-except
    # torch.load raises RuntimeError, EOFError, pickle errors or KeyError for
    # damaged files, depending on where the damage is.
    raise InputError(f'cannot restore checkpoint {path}, which is damaged or not a checkpoint '
                     f'of this model ({errors.summarize(error)}); remove it to fall back to the '
                     'checkpoint before it, or start a new run') from error
  return state
