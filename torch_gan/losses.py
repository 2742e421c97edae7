"""GAN losses as small pure functions of discriminator logits.

Each function has a twin of the same name in `jax_gan/losses.py`. Logits go
in, never probabilities, and log(sigmoid(x)) is computed by a log-sigmoid
function that stays exact and finite for logits of any size.
"""

import torch
from torch.nn import functional as F


def non_saturating_discriminator_loss(real_logits: torch.Tensor,
                                      fake_logits: torch.Tensor) -> torch.Tensor:
  """Binary cross-entropy of the discriminator, real images labelled 1 and generated ones 0.

  L_D = -mean(log sigmoid(D(x))) - mean(log(1 - sigmoid(D(G(z)))))
      = -mean(log_sigmoid(D(x))) - mean(log_sigmoid(-D(G(z))))
  (Goodfellow et al., 2014, eq. 1, as a loss to minimize.)

  Args:
    real_logits: (B,) discriminator logits of real images.
    fake_logits: (B,) discriminator logits of generated images.

  Returns:
    Scalar loss, the sum of the two batch means.
  """
  return -torch.mean(F.logsigmoid(real_logits)) - torch.mean(F.logsigmoid(-fake_logits))


def non_saturating_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
  """Non-saturating generator loss: the generator maximizes log D(G(z)).

  L_G = -mean(log sigmoid(D(G(z))))
  (Goodfellow et al., 2014, section 3: its gradient stays large while the
  discriminator rejects the samples confidently.)

  Args:
    fake_logits: (B,) discriminator logits of generated images.

  Returns:
    Scalar loss.
  """
  return -torch.mean(F.logsigmoid(fake_logits))


# Config field `loss` -> (discriminator loss, generator loss).
LOSSES = {
    'non_saturating': (non_saturating_discriminator_loss, non_saturating_generator_loss),
}
