"""Checks that a config has exactly the default fields, with valid types and values."""

import os

import ml_collections

from configs import default
from gan_common.errors import InputError

MODELS = ('dcgan', 'mlp')
LOSSES = ('minimax', 'non_saturating', 'least_squares', 'hinge', 'wgan_gp')
NORMALIZATIONS = ('batch_norm', 'layer_norm', 'none')
CROSS_ENTROPY_LOSSES = ('minimax', 'non_saturating')
PARAM_DTYPES = ('float32', 'float64')
COMPUTE_DTYPES = ('float32', 'bfloat16')
MATMUL_PRECISIONS = ('highest', 'high')

# Fields that must be integers greater than zero.
POSITIVE_INTS = ('latent_dim', 'generator_features', 'discriminator_features', 'hidden_features',
                 'critic_steps', 'batch_size', 'log_every_steps', 'num_samples')
# Fields that must be integers of zero or more.
NON_NEGATIVE_INTS = ('num_epochs', 'num_steps', 'seed', 'eval_num_samples', 'eval_every_epochs')
# Number of MNIST training images; a batch cannot be larger.
NUM_TRAIN_IMAGES = 60000
# Environment variable naming the MNIST folder when config.data_dir is empty.
DATA_DIR_VARIABLE = 'MNIST_DATA_DIR'
# Fields that may differ when a run is resumed, because they set only the
# training length or when the run is scored, not what it trains.
RESUMABLE_CHANGES = frozenset({'num_epochs', 'num_steps', 'eval_num_samples', 'eval_every_epochs'})
# Fields added after the first runs were written. A run.json without them is
# read with their defaults, which reproduce what those runs did.
ADDED_FIELDS = ('eval_num_samples', 'eval_every_epochs', 'compute_dtype')
# Fewest generated images a score may use: every metric needs a few, and
# fewer than this make them too noisy to read.
MIN_EVAL_SAMPLES = 100


def validate(config: ml_collections.ConfigDict) -> None:
  """Raise InputError naming the first field that is unknown, missing, of the wrong type or out of range."""
  reference = default.get_config()
  unknown = sorted(set(config.keys()) - set(reference.keys()))
  if unknown:
    raise InputError(f'unknown config field {unknown[0]!r}; known fields: '
                     f'{", ".join(sorted(reference.keys()))}')
  missing = sorted(set(reference.keys()) - set(config.keys()))
  if missing:
    raise InputError(f'config is missing field {missing[0]!r}; start from configs/default.py')

  for name, expected in reference.items():
    value = config[name]
    if not _has_type_of(value, expected):
      raise InputError(f'config.{name} must be of type {type(expected).__name__}, '
                       f'got {value!r} of type {type(value).__name__}')

  for name in POSITIVE_INTS:
    if config[name] <= 0:
      raise InputError(f'config.{name} must be positive, got {config[name]}')
  for name in NON_NEGATIVE_INTS:
    if config[name] < 0:
      raise InputError(f'config.{name} must be zero or more, got {config[name]}')
  if config.num_epochs == 0 and config.num_steps == 0:
    raise InputError('config.num_epochs and config.num_steps are both 0: set one of them '
                     'to say how long to train')
  if config.batch_size * config.critic_steps > NUM_TRAIN_IMAGES:
    raise InputError(f'config.batch_size * config.critic_steps must be at most {NUM_TRAIN_IMAGES}, '
                     f'the number of training images, got {config.batch_size} * '
                     f'{config.critic_steps}')
  for name in ('learning_rate',):
    if not config[name] > 0:
      raise InputError(f'config.{name} must be positive, got {config[name]}')
  for name in ('beta1', 'beta2'):
    if not 0 <= config[name] < 1:
      raise InputError(f'config.{name} must be in [0, 1), got {config[name]}')

  _check_choice(config, 'model', MODELS)
  _check_choice(config, 'loss', LOSSES)
  if not 0 < config.real_label <= 1:
    raise InputError(f'config.real_label must be in (0, 1], got {config.real_label}')
  if config.real_label != 1 and config.loss not in CROSS_ENTROPY_LOSSES:
    raise InputError(f'config.real_label is {config.real_label}, but label smoothing applies '
                     f'only to the losses {", ".join(CROSS_ENTROPY_LOSSES)}, not to '
                     f'{config.loss!r}; set it to 1.0')
  _check_choice(config, 'discriminator_normalization', NORMALIZATIONS)
  if config.critic_steps != 1 and config.loss != 'wgan_gp':
    raise InputError(f'config.critic_steps is {config.critic_steps}, but only the wgan_gp loss '
                     f'takes several critic steps, not {config.loss!r}; set it to 1')
  if not config.gradient_penalty_weight >= 0:
    raise InputError(f'config.gradient_penalty_weight must be zero or more, '
                     f'got {config.gradient_penalty_weight}')
  if (config.loss == 'wgan_gp' and config.model == 'dcgan'
      and config.discriminator_normalization == 'batch_norm'):
    raise InputError("the wgan_gp loss penalizes each sample's gradient, which BatchNorm mixes "
                     "across the batch; set config.discriminator_normalization to 'layer_norm' "
                     "or 'none', as configs/dcgan_wgan_gp.py does")
  _check_choice(config, 'param_dtype', PARAM_DTYPES)
  _check_choice(config, 'matmul_precision', MATMUL_PRECISIONS)
  _check_choice(config, 'compute_dtype', COMPUTE_DTYPES)
  if config.compute_dtype == 'bfloat16' and config.param_dtype != 'float32':
    raise InputError(f"config.compute_dtype 'bfloat16' needs config.param_dtype 'float32', "
                     f'got {config.param_dtype!r}')
  if config.eval_num_samples and not MIN_EVAL_SAMPLES <= config.eval_num_samples <= NUM_TRAIN_IMAGES:
    raise InputError(f'config.eval_num_samples must be 0 (no scoring) or from {MIN_EVAL_SAMPLES} '
                     f'to {NUM_TRAIN_IMAGES}, the training images its floor draws from, '
                     f'got {config.eval_num_samples}')


def _has_type_of(value, expected) -> bool:
  # bool is a subclass of int, so it is checked first. An int is accepted for a float.
  if isinstance(expected, bool) or isinstance(value, bool):
    return isinstance(value, bool) and isinstance(expected, bool)
  if isinstance(expected, float):
    return isinstance(value, (int, float))
  return isinstance(value, type(expected))


def _check_choice(config, name, choices):
  if config[name] not in choices:
    raise InputError(f'config.{name} must be one of {", ".join(map(repr, choices))}, '
                     f'got {config[name]!r}')


def with_added_fields(saved: dict) -> dict:
  """Return a saved config with the ADDED_FIELDS it lacks set to their defaults."""
  defaults = default.get_config()
  return {**{name: defaults[name] for name in ADDED_FIELDS}, **saved}


def changed_fields(saved: dict, config: ml_collections.ConfigDict) -> list[str]:
  """Return the fields whose values differ between a saved config and `config`, except the training length."""
  saved = with_added_fields(saved)
  current = config.to_dict()
  names = set(saved) | set(current)
  return sorted(name for name in names - RESUMABLE_CHANGES
                if saved.get(name) != current.get(name))


def resolve_data_dir(data_dir: str) -> str:
  """Return config.data_dir, else $MNIST_DATA_DIR, else '' (each loader's default folder)."""
  return os.path.expanduser(data_dir or os.environ.get(DATA_DIR_VARIABLE, ''))
