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


def wasserstein_discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
  """Wasserstein critic loss without its gradient penalty (Arjovsky et al., 2017, eq. 3).

  L_D = mean(D(G(z))) - mean(D(x)), on raw critic outputs. Its negative
  estimates the Wasserstein-1 distance when D is 1-Lipschitz, which
  `gradient_penalty` encourages.

  Args:
    real_logits: (B,) critic outputs of real images.
    fake_logits: (B,) critic outputs of generated images.

  Returns:
    Scalar loss.
  """
  return torch.mean(fake_logits) - torch.mean(real_logits)


def wasserstein_generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
  """Wasserstein generator loss: L_G = -mean(D(G(z))).

  Args:
    fake_logits: (B,) critic outputs of generated images.

  Returns:
    Scalar loss.
  """
  return -torch.mean(fake_logits)


def gradient_penalty(critic, real_images: torch.Tensor, fake_images: torch.Tensor,
                     interpolation: torch.Tensor, weight: float = 10.0) -> torch.Tensor:
  """WGAN-GP gradient penalty (Gulrajani et al., 2017, Algorithm 1).

  x_hat_i = e_i x_i + (1 - e_i) G(z)_i, with one weight e_i ~ U[0, 1] per sample
  P = weight * mean_i((||grad_x D(x_hat_i)||_2 - 1)^2)
  The norm runs over every pixel axis of sample i. The input gradient is
  computed with `create_graph=True`, so that `P.backward()` reaches the
  critic's parameters through it. The per-sample gradients come from one
  gradient of sum_i D(x_hat_i), which is exact only for a critic without
  cross-sample terms such as BatchNorm.

  Args:
    critic: module from images (B, ...) to outputs (B,).
    real_images: (B, ...) real images.
    fake_images: (B, ...) generated images, detached from the generator.
    interpolation: (B,) weights e_i in [0, 1].
    weight: lambda, 10 in the paper.

  Returns:
    Scalar penalty.
  """
  e = interpolation.view((-1,) + (1,) * (real_images.ndim - 1))
  mixed = (e * real_images + (1 - e) * fake_images).requires_grad_(True)
  (gradients,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)  # (B, ...)
  norms = torch.sqrt(torch.sum(torch.square(gradients), dim=tuple(range(1, gradients.ndim))))  # (B,)
  return weight * torch.mean(torch.square(norms - 1))


# Config field `loss` -> (discriminator loss, generator loss).
LOSSES = {
    'minimax': (non_saturating_discriminator_loss, minimax_generator_loss),
    'non_saturating': (non_saturating_discriminator_loss, non_saturating_generator_loss),
    'least_squares': (least_squares_discriminator_loss, least_squares_generator_loss),
    'hinge': (hinge_discriminator_loss, hinge_generator_loss),
    # The critic loss of 'wgan_gp' adds `gradient_penalty`, which needs the critic itself.
    'wgan_gp': (wasserstein_discriminator_loss, wasserstein_generator_loss),
}
# Losses whose discriminator loss is a binary cross-entropy and takes `real_label`.
CROSS_ENTROPY_LOSSES = ('minimax', 'non_saturating')
