"""GAN losses as small pure functions of discriminator logits.

Each function has a twin of the same name in `jax_gan/losses.py`. Logits go
in, never probabilities, and log(sigmoid(x)) is computed by a log-sigmoid
function that stays exact and finite for logits of any size.
"""

import torch
from torch.nn import functional as F


def non_saturating_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor,
                                      real_label: float = 1.0) -> torch.Tensor:
  """Binary cross-entropy of the discriminator, real images labelled t and generated ones 0.

  L_D = -mean(t log sigmoid(D(x)) + (1 - t) log(1 - sigmoid(D(x))))
        - mean(log(1 - sigmoid(D(G(z)))))
      = -mean(t log_sigmoid(D(x)) + (1 - t) log_sigmoid(-D(x))) - mean(log_sigmoid(-D(G(z))))
  (Goodfellow et al., 2014, eq. 1, as a loss to minimize.) The minimax and the
  non-saturating GAN share this discriminator loss. t < 1 is one-sided label
  smoothing (Salimans et al., 2016, section 3.4), usually t = 0.9.

  Args:
    real_logits: (B,) discriminator logits of real images.
    fake_logits: (B,) discriminator logits of generated images.
    real_label: t, the target for real images.

  Returns:
    Scalar loss, the sum of the two batch means.
  """
  real_term = real_label * F.logsigmoid(real_logits) + (1 - real_label) * F.logsigmoid(-real_logits)
  return -torch.mean(real_term) - torch.mean(F.logsigmoid(-fake_logits))


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


def minimax_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
  """Saturating generator loss of the original minimax game: G minimizes log(1 - D(G(z))).

  L_G = mean(log(1 - sigmoid(D(G(z))))) = mean(log_sigmoid(-D(G(z))))
  (Goodfellow et al., 2014, eq. 1.) Its gradient vanishes while the
  discriminator rejects the samples confidently.

  Args:
    fake_logits: (B,) discriminator logits of generated images.

  Returns:
    Scalar loss, at most 0.
  """
  return torch.mean(F.logsigmoid(-fake_logits))


def least_squares_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
  """Least-squares discriminator loss (LSGAN, Mao et al., 2017, eq. 9 with a = 0, b = c = 1).

  L_D = 1/2 mean((D(x) - 1)^2) + 1/2 mean(D(G(z))^2), on raw outputs, no sigmoid.

  Args:
    real_logits: (B,) discriminator outputs of real images.
    fake_logits: (B,) discriminator outputs of generated images.

  Returns:
    Scalar loss.
  """
  return 0.5 * torch.mean((real_logits - 1) ** 2) + 0.5 * torch.mean(fake_logits ** 2)


def least_squares_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
  """Least-squares generator loss (LSGAN, Mao et al., 2017, eq. 9 with c = 1).

  L_G = 1/2 mean((D(G(z)) - 1)^2)

  Args:
    fake_logits: (B,) discriminator outputs of generated images.

  Returns:
    Scalar loss.
  """
  return 0.5 * torch.mean((fake_logits - 1) ** 2)


def hinge_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
  """Hinge discriminator loss (Lim and Ye, 2017; Miyato et al., 2018, eq. 16).

  L_D = mean(relu(1 - D(x))) + mean(relu(1 + D(G(z))))

  Args:
    real_logits: (B,) discriminator outputs of real images.
    fake_logits: (B,) discriminator outputs of generated images.

  Returns:
    Scalar loss.
  """
  return torch.mean(F.relu(1 - real_logits)) + torch.mean(F.relu(1 + fake_logits))


def hinge_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
  """Hinge generator loss: L_G = -mean(D(G(z))).

  Args:
    fake_logits: (B,) discriminator outputs of generated images.

  Returns:
    Scalar loss.
  """
  return -torch.mean(fake_logits)


# Config field `loss` -> (discriminator loss, generator loss).
LOSSES = {
    'minimax': (non_saturating_discriminator_loss, minimax_generator_loss),
    'non_saturating': (non_saturating_discriminator_loss, non_saturating_generator_loss),
    'least_squares': (least_squares_discriminator_loss, least_squares_generator_loss),
    'hinge': (hinge_discriminator_loss, hinge_generator_loss),
}
# Losses whose discriminator loss is a binary cross-entropy and takes `real_label`.
CROSS_ENTROPY_LOSSES = ('minimax', 'non_saturating')
