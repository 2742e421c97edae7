"""The DCGAN on MNIST with the non-saturating loss and one-sided label smoothing (real target 0.9)."""

from configs import default


def get_config():
  """Return the default DCGAN config with config.real_label = 0.9."""
  config = default.get_config()
  config.real_label = 0.9
  return config
