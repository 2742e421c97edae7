"""The DCGAN on MNIST with the 'least_squares' loss; every other field as in configs/default.py."""

from configs import default


def get_config():
  """Return the default DCGAN config with config.loss = 'least_squares'."""
  config = default.get_config()
  config.loss = 'least_squares'
  return config
