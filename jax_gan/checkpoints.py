"""Training checkpoints with Orbax: the whole TrainState, the latest two kept."""

import logging
import os

import jax
import orbax.checkpoint as ocp

from gan_common import errors
from gan_common.errors import InputError
from jax_gan import parallel
from jax_gan.train_step import TrainState

MAX_TO_KEEP = 2


class _DropOrbaxInfo(logging.Filter):
  """Orbax logs a dozen INFO lines per save through absl; keep its warnings and errors only."""

  def filter(self, record):
    return record.levelno >= logging.WARNING or '/orbax/' not in record.pathname


logging.getLogger('absl').addFilter(_DropOrbaxInfo())


def _manager(directory: str) -> ocp.CheckpointManager:
  return ocp.CheckpointManager(
      os.path.abspath(directory),
      options=ocp.CheckpointManagerOptions(max_to_keep=MAX_TO_KEEP, create=True))


def save(directory: str, state: TrainState) -> None:
  """Save `state` under `directory/<step>/` and wait until it is on disk."""
  step = int(parallel.to_host(state.step))
  with _manager(directory) as manager:
    manager.save(step, args=ocp.args.StandardSave(state))
    manager.wait_until_finished()


def latest_step(directory: str):
  """Return the step of the newest checkpoint in `directory`, or None."""
  if not os.path.isdir(directory):
    return None
  with _manager(directory) as manager:
    return manager.latest_step()


def restore(directory: str, template: TrainState) -> TrainState:
  """Restore the newest checkpoint in `directory` into the structure, shapes and dtypes of `template`.

  Raises:
    InputError: there is no checkpoint, or it cannot be read.
  """
  abstract_state = jax.tree.map(ocp.utils.to_shape_dtype_struct, template)
  try:
    with _manager(directory) as manager:
      step = manager.latest_step()
      if step is None:
        raise InputError(f'no checkpoint found in {directory}')
      return manager.restore(step, args=ocp.args.StandardRestore(abstract_state))
  except InputError:
    raise
  except Exception as error:  # pylint: disable=broad-except
    # Orbax raises ValueError, KeyError, OSError or tensorstore errors for a
    # damaged checkpoint, depending on which file is damaged.
    raise InputError(f'cannot restore checkpoint from {directory}, which is damaged or not a '
                     f'checkpoint of this model ({errors.summarize(error)}); remove its newest '
                     'step folder to fall back to the one before, or start a new run') from error
