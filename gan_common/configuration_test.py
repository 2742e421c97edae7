"""Tests of config validation."""

import importlib
import os

import pytest

from configs import dcgan_mnist
from configs import default
from gan_common import configuration
from gan_common.errors import InputError


def test_shipped_configs_are_valid():
  configs_dir = os.path.dirname(default.__file__)
  names = sorted(name[:-3] for name in os.listdir(configs_dir)
                 if name.endswith('.py') and name != '__init__.py')
  assert 'dcgan_hinge' in names
  for name in names:
    module = importlib.import_module(f'configs.{name}')
    configuration.validate(module.get_config())


def test_label_smoothing_needs_a_cross_entropy_loss():
  config = default.get_config()
  config.real_label = 0.9
  configuration.validate(config)
  config.loss = 'hinge'
  with pytest.raises(InputError, match="label smoothing applies only to the losses minimax, "
                     "non_saturating, not to 'hinge'"):
    configuration.validate(config)


def test_critic_steps_need_the_wgan_gp_loss():
  config = default.get_config()
  config.critic_steps = 5
  with pytest.raises(InputError, match="only the wgan_gp loss takes several critic steps, not "
                     "'non_saturating'; set it to 1"):
    configuration.validate(config)


def test_wgan_gp_rejects_a_batch_norm_critic():
  config = default.get_config()
  config.loss = 'wgan_gp'
  with pytest.raises(InputError, match="set config.discriminator_normalization to 'layer_norm'"):
    configuration.validate(config)
  config.discriminator_normalization = 'none'
  configuration.validate(config)
  # The MLP critic has no normalization layer, so the field does not apply to it.
  config.discriminator_normalization = 'batch_norm'
  config.model = 'mlp'
  configuration.validate(config)


def test_critic_batches_fit_training_set():
  config = default.get_config()
  config.loss = 'wgan_gp'
  config.discriminator_normalization = 'layer_norm'
  config.critic_steps = 5
  config.batch_size = 12000
  configuration.validate(config)
  config.batch_size = 12001
  with pytest.raises(InputError, match=r'got 12001 \* 5'):
    configuration.validate(config)


def test_wgan_gp_config_has_the_paper_settings():
  from configs import dcgan_wgan_gp  # pylint: disable=g-import-not-at-top
  config = dcgan_wgan_gp.get_config()
  assert (config.critic_steps, config.gradient_penalty_weight) == (5, 10.0)
  assert (config.learning_rate, config.beta1, config.beta2) == (1e-4, 0.0, 0.9)
  assert config.discriminator_normalization == 'layer_norm'


def test_default_config_is_the_tutorial_setup():
  config = dcgan_mnist.get_config()
  assert config.latent_dim == 100
  assert config.batch_size == 64
  assert config.learning_rate == 2e-4
  assert (config.beta1, config.beta2) == (0.5, 0.999)
  assert config.loss == 'non_saturating'


@pytest.mark.parametrize('field,value,message', [
    ('batch_size', 0, 'config.batch_size must be positive, got 0'),
    ('latent_dim', -3, 'config.latent_dim must be positive, got -3'),
    ('num_steps', -1, 'config.num_steps must be zero or more, got -1'),
    ('batch_size', 60001, r'config.batch_size \* config.critic_steps must be at most 60000'),
    ('hidden_features', 0, 'config.hidden_features must be positive, got 0'),
    ('critic_steps', 0, 'config.critic_steps must be positive, got 0'),
    ('discriminator_normalization', 'group_norm',
     "config.discriminator_normalization must be one of 'batch_norm', 'layer_norm', 'none'"),
    ('model', 'resnet', "config.model must be one of 'dcgan', 'mlp', got 'resnet'"),
    ('learning_rate', 0.0, 'config.learning_rate must be positive'),
    ('beta2', 1.0, r'config.beta2 must be in \[0, 1\)'),
    ('loss', 'wasserstein', "config.loss must be one of 'minimax', 'non_saturating', "
     "'least_squares', 'hinge', 'wgan_gp', got 'wasserstein'"),
    ('real_label', 0.0, r'config.real_label must be in \(0, 1\], got 0.0'),
    ('eval_num_samples', 50, r'config.eval_num_samples must be 0 \(no scoring\) or from 100 to 60000'),
    ('eval_num_samples', 60001, 'got 60001'),
    ('eval_every_epochs', -1, 'config.eval_every_epochs must be zero or more, got -1'),
    ('compute_dtype', 'float16', "config.compute_dtype must be one of 'float32', 'bfloat16'"),
    ('real_label', 1.5, r'config.real_label must be in \(0, 1\], got 1.5'),
    ('param_dtype', 'float16', 'config.param_dtype must be one of'),
    ('matmul_precision', 'medium', 'config.matmul_precision must be one of'),
])
def test_invalid_values_are_rejected(field, value, message):
  config = default.get_config()
  config[field] = value
  with pytest.raises(InputError, match=message):
    configuration.validate(config)


def test_wrong_type_is_rejected():
  config = default.get_config().to_dict()
  config['batch_size'] = '64'
  with pytest.raises(InputError, match="config.batch_size must be of type int, got '64'"):
    configuration.validate(default.ml_collections.ConfigDict(config))


def test_bool_is_not_an_int():
  config = default.get_config().to_dict()
  config['seed'] = True
  with pytest.raises(InputError, match='config.seed must be of type int'):
    configuration.validate(default.ml_collections.ConfigDict(config))


def test_int_may_stand_for_float():
  config = default.get_config()
  config.learning_rate = 1
  configuration.validate(config)


def test_unknown_and_missing_fields_are_rejected():
  config = default.get_config().to_dict()
  config['learning_rat'] = 1e-3
  with pytest.raises(InputError, match="unknown config field 'learning_rat'"):
    configuration.validate(default.ml_collections.ConfigDict(config))
  del config['learning_rat']
  del config['seed']
  with pytest.raises(InputError, match="config is missing field 'seed'"):
    configuration.validate(default.ml_collections.ConfigDict(config))


def test_zero_epochs_and_zero_steps_are_rejected():
  config = default.get_config()
  config.num_epochs = 0
  config.num_steps = 0
  with pytest.raises(InputError, match='both 0'):
    configuration.validate(config)


def test_changed_fields_ignore_training_length():
  saved = default.get_config().to_dict()
  config = default.get_config()
  config.num_steps = 500
  config.num_epochs = 9
  assert configuration.changed_fields(saved, config) == []
  config.learning_rate = 1e-3
  assert configuration.changed_fields(saved, config) == ['learning_rate']


def test_changed_fields_default_added_fields():
  saved = default.get_config().to_dict()
  del saved['compute_dtype'], saved['eval_num_samples']
  config = default.get_config()
  assert configuration.changed_fields(saved, config) == []
  config.compute_dtype = 'bfloat16'
  assert configuration.changed_fields(saved, config) == ['compute_dtype']
