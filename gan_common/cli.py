"""The command line shared by both backends' `train` modules.

Flags: --config (an ml_collections config file, any field overridable as
--config.<field>=<value>), --workdir, and --resume. Bad input of any kind
ends with one line on stderr and exit code 2.
"""

import os
import sys
from typing import Callable

from absl import app
from absl import flags
from ml_collections import config_flags

import configs
from gan_common import configuration
from gan_common.errors import EXIT_CODE_INPUT_ERROR
from gan_common.errors import InputError

DEFAULT_CONFIG = os.path.join(os.path.dirname(configs.__file__), 'dcgan_mnist.py')

_flag_holders = {}


def _define_flags() -> None:
  # ml_collections reads the config file and the --config.<field> overrides
  # from sys.argv while the flag is defined, so a bad config raises here.
  # That is why the flags are defined when `run` starts, not at import.
  _flag_holders['config'] = config_flags.DEFINE_config_file(
      'config', DEFAULT_CONFIG,
      'Config file with a get_config() that returns an ml_collections.ConfigDict. '
      'Override any field with --config.<field>=<value>.', lock_config=True)
  _flag_holders['workdir'] = flags.DEFINE_string(
      'workdir', None, 'Directory for the run: metrics, sample grids, loss curve, checkpoints.')
  _flag_holders['resume'] = flags.DEFINE_bool(
      'resume', False, 'Continue the run in --workdir from its latest checkpoint.')
  # --help lists the key flags of the main module, named by sys.argv[0].
  for name in ('config', 'workdir', 'resume'):
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[name])


def _describe(error: BaseException) -> str:
  # ml_collections wraps a KeyError in an AttributeError, and str() of a
  # KeyError quotes its message; take the innermost message as written.
  message = error
  while isinstance(message, BaseException) and message.args:
    message = message.args[0]
  return str(message)


def exit_with_error(message: str) -> None:
  """Print `message` on one line to stderr and exit with code 2."""
  one_line = ' '.join(str(message).split())
  sys.stderr.write(f'error: {one_line}\n')
  sys.stderr.flush()
  sys.exit(EXIT_CODE_INPUT_ERROR)


def _parse_flags(argv):
  try:
    remaining = flags.FLAGS(argv)
  except flags.Error as error:
    exit_with_error(error)
  if len(remaining) > 1:
    exit_with_error(f'unexpected arguments: {" ".join(remaining[1:])}')
  if not _flag_holders['workdir'].value:
    exit_with_error('--workdir is required: the directory where the run writes its files')

  config_file = config_flags.get_config_filename(flags.FLAGS['config'])
  if not os.path.isfile(config_file):
    exit_with_error(f'invalid --config: config file {config_file} not found; pass a file that '
                    'defines get_config(), such as configs/dcgan_mnist.py')
  # The config file is loaded and the overrides applied lazily, on first access.
  try:
    config = _flag_holders['config'].value
    config.keys()  # A config file that failed to load raises on first use.
  except Exception as error:  # pylint: disable=broad-except
    exit_with_error(f'invalid --config: {_describe(error)}')
  try:
    configuration.validate(config)
  except InputError as error:
    exit_with_error(error)
  return remaining


def run_evaluation(evaluate: Callable[..., object]) -> None:
  """Parse --workdir and --num_samples and call `evaluate(workdir, num_samples)`, turning InputError into exit code 2."""
  workdir = flags.DEFINE_string('workdir', None, 'Directory of a training run to score.')
  num_samples = flags.DEFINE_integer(
      'num_samples', 0, 'Generated images to score; 0 takes the run\'s config.eval_num_samples, '
      'or 10000 when that is 0.')
  for flag in (workdir, num_samples):
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flags.FLAGS[flag.name])

  def parse(argv):
    try:
      remaining = flags.FLAGS(argv)
    except flags.Error as error:
      exit_with_error(error)
    if len(remaining) > 1:
      exit_with_error(f'unexpected arguments: {" ".join(remaining[1:])}')
    if not workdir.value:
      exit_with_error('--workdir is required: the directory of the run to score')
    if num_samples.value and not (configuration.MIN_EVAL_SAMPLES <= num_samples.value
                                  <= configuration.NUM_TRAIN_IMAGES):
      exit_with_error(f'--num_samples must be 0 or from {configuration.MIN_EVAL_SAMPLES} to '
                      f'{configuration.NUM_TRAIN_IMAGES}, got {num_samples.value}')
    return remaining

  def main(argv):
    del argv  # Already checked by parse.
    try:
      evaluate(workdir.value, num_samples.value)
    except InputError as error:
      exit_with_error(error)

  app.run(main, flags_parser=parse)


def run(train_and_evaluate: Callable[..., object]) -> None:
  """Parse the flags and call `train_and_evaluate(config, workdir, resume)`, turning InputError into exit code 2."""
  try:
    _define_flags()
  except (AttributeError, KeyError) as error:
    exit_with_error(f'invalid --config override: unknown config field {_describe(error)}; '
                    'configs/default.py lists every field')
  except Exception as error:  # pylint: disable=broad-except
    exit_with_error(f'invalid --config: {_describe(error)}')

  def main(argv):
    del argv  # Already checked by _parse_flags.
    config = _flag_holders['config'].value
    workdir = _flag_holders['workdir'].value
    try:
      train_and_evaluate(config, workdir, resume=_flag_holders['resume'].value)
    except InputError as error:
      exit_with_error(error)

  app.run(main, flags_parser=_parse_flags)
