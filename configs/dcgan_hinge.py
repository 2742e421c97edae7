"""The DCGAN on MNIST with the 'hinge' loss; every other field as in configs/default.py."""

from configs import default


def get_config():
  """Return the default DCGAN config with config.loss = 'hinge'."""
  config = default.get_config()
  config.loss = 'hinge'
  return config
