"""The MLP GAN on MNIST with the non-saturating loss. Every other field is as in configs/default.py.

Both networks have one hidden layer of config.hidden_features units with a
LeakyReLU. The generator ends in tanh and the discriminator in one logit.
"""

from configs import default


def get_config():
  """Return the default config with config.model = 'mlp'."""
  config = default.get_config()
  config.model = 'mlp'
  config.hidden_features = 256
  return config
