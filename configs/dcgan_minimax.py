"""The DCGAN on MNIST with the 'minimax' loss; every other field as in configs/default.py."""

from configs import default


def get_config():
  """Return the default DCGAN config with config.loss = 'minimax'."""
  config = default.get_config()
  config.loss = 'minimax'
  return config
