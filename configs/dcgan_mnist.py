"""The tutorial's DCGAN on MNIST: latent size 100, batch 64, Adam 2e-4 (0.5, 0.999), non-saturating loss."""

from configs import default


def get_config():
  """Return the default DCGAN config unchanged."""
  return default.get_config()
