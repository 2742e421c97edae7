"""The DCGAN on MNIST as a WGAN-GP: Wasserstein critic with gradient penalty.

The settings of the WGAN-GP paper (Gulrajani et al., 2017, Algorithm 1):
5 critic updates per generator update, penalty weight 10, Adam with learning
rate 1e-4 and betas (0, 0.9). The critic has layer normalization in place of
BatchNorm, since the penalty is computed per sample. Every other field is as
in configs/default.py.
"""

from configs import default


def get_config():
  """Return the DCGAN config with the WGAN-GP loss and the paper's settings."""
  config = default.get_config()
  config.loss = 'wgan_gp'
  config.discriminator_normalization = 'layer_norm'
  config.critic_steps = 5
  config.gradient_penalty_weight = 10.0
  config.learning_rate = 1e-4
  config.beta1 = 0.0
  config.beta2 = 0.9
  return config
