"""Tests of the PyTorch losses against hand-computed values."""

import math

import torch

from torch_gan import losses


def test_non_saturating_losses_at_zero_logits():
  zeros = torch.zeros(4)
  # sigmoid(0) = 1/2, so each cross-entropy term is log 2.
  assert math.isclose(losses.non_saturating_discriminator_loss(zeros, zeros).item(),
                      2 * math.log(2), rel_tol=1e-6)
  assert math.isclose(losses.non_saturating_generator_loss(zeros).item(), math.log(2),
                      rel_tol=1e-6)


def test_non_saturating_losses_by_hand():
  real = torch.tensor([2.0, -1.0], dtype=torch.float64)
  fake = torch.tensor([0.5, -3.0], dtype=torch.float64)
  softplus = lambda x: math.log1p(math.exp(x))
  expected_d = (softplus(-2.0) + softplus(1.0)) / 2 + (softplus(0.5) + softplus(-3.0)) / 2
  expected_g = (softplus(-0.5) + softplus(3.0)) / 2
  assert math.isclose(losses.non_saturating_discriminator_loss(real, fake).item(), expected_d,
                      rel_tol=1e-12)
  assert math.isclose(losses.non_saturating_generator_loss(fake).item(), expected_g,
                      rel_tol=1e-12)


def test_non_saturating_losses_at_extreme_logits():
  # A confident, correct discriminator: loss 2 exp(-100) = 7.44e-44, below
  # float32's smallest normal number, so PyTorch returns it as a subnormal.
  loss = losses.non_saturating_discriminator_loss(torch.tensor([100.0]), torch.tensor([-100.0]))
  assert 0.0 < loss.item() < 1e-42
  loss = losses.non_saturating_discriminator_loss(torch.tensor([100.0], dtype=torch.float64),
                                                  torch.tensor([-100.0], dtype=torch.float64))
  assert math.isclose(loss.item(), 2 * math.exp(-100), rel_tol=1e-12)
  # A confident, wrong discriminator: loss 100 + 100, finite, not inf.
  assert math.isclose(losses.non_saturating_discriminator_loss(
      torch.tensor([-100.0]), torch.tensor([100.0])).item(), 200.0, rel_tol=1e-6)
  assert math.isclose(losses.non_saturating_generator_loss(torch.tensor([-1000.0])).item(),
                      1000.0, rel_tol=1e-6)
  logits = torch.tensor([-1000.0, 1000.0], requires_grad=True)
  losses.non_saturating_generator_loss(logits).backward()
  torch.testing.assert_close(logits.grad, torch.tensor([-0.5, 0.0]), rtol=0, atol=1e-7)


def _softplus(x):
  return math.log1p(math.exp(x))


def test_other_losses_by_hand():
  real = torch.tensor([2.0, -1.0], dtype=torch.float64)
  fake = torch.tensor([0.5, -3.0], dtype=torch.float64)
  expected = {
      # mean(log(1 - sigmoid(f))) = -mean(softplus(f))
      'minimax': (None, -(_softplus(0.5) + _softplus(-3.0)) / 2),
      # 1/2 mean([1, 4]) + 1/2 mean([0.25, 9]) and 1/2 mean([0.25, 16])
      'least_squares': (3.5625, 4.0625),
      # mean(relu([-1, 2])) + mean(relu([1.5, -2])) and -mean([0.5, -3])
      'hinge': (1.75, 1.25),
  }
  for name, (expected_d, expected_g) in expected.items():
    d_loss, g_loss = losses.LOSSES[name]
    if expected_d is not None:
      assert math.isclose(d_loss(real, fake).item(), expected_d, rel_tol=1e-12), name
    assert math.isclose(g_loss(fake).item(), expected_g, rel_tol=1e-12), name


def test_label_smoothing_by_hand():
  real = torch.tensor([2.0, -1.0], dtype=torch.float64)
  fake = torch.tensor([0.5, -3.0], dtype=torch.float64)
  # -mean(0.9 log sigmoid(x) + 0.1 log sigmoid(-x)) = mean(0.9 softplus(-x) + 0.1 softplus(x))
  real_term = (0.9 * _softplus(-2.0) + 0.1 * _softplus(2.0)
               + 0.9 * _softplus(1.0) + 0.1 * _softplus(-1.0)) / 2
  fake_term = (_softplus(0.5) + _softplus(-3.0)) / 2
  loss = losses.non_saturating_discriminator_loss(real, fake, real_label=0.9)
  assert math.isclose(loss.item(), real_term + fake_term, rel_tol=1e-12)


def test_other_losses_at_extreme_logits():
  big = torch.tensor([1000.0, -1000.0])
  assert math.isclose(losses.minimax_generator_loss(big).item(), -500.0, rel_tol=1e-6)
  assert math.isclose(losses.least_squares_generator_loss(big).item(),
                      0.5 * (999.0**2 + 1001.0**2) / 2, rel_tol=1e-6)
  assert math.isclose(losses.hinge_discriminator_loss(big, -big).item(), 1001.0, rel_tol=1e-6)
  # The saturating loss: its gradient vanishes for a confidently rejected sample.
  logits = torch.tensor([-1000.0], requires_grad=True)
  losses.minimax_generator_loss(logits).backward()
  assert logits.grad.item() == 0.0


def test_wasserstein_losses_by_hand():
  real = torch.tensor([2.0, -1.0], dtype=torch.float64)
  fake = torch.tensor([0.5, -3.0], dtype=torch.float64)
  # mean([0.5, -3]) - mean([2, -1]) = -1.25 - 0.5, and -mean([0.5, -3])
  assert losses.wasserstein_discriminator_loss(real, fake).item() == -1.75
  assert losses.wasserstein_generator_loss(fake).item() == 1.25
  # Raw outputs, no saturation: extreme values pass through linearly.
  big = torch.tensor([1e6, -1e6])
  assert losses.wasserstein_discriminator_loss(big, torch.tensor([1e6, 1e6])).item() == 1e6
  assert losses.wasserstein_generator_loss(-big).item() == 0.0


# Images of 2x2 pixels, one channel: (B, 1, 2, 2).
LINEAR_CRITIC_WEIGHTS = torch.tensor([[3.0, 0.0], [0.0, 4.0]], dtype=torch.float64).view(1, 2, 2)


class LinearCritic(torch.nn.Module):
  """Critic D(x) = sum(w x) over the pixels of each image, whose input gradient is w, of norm 5."""

  def __init__(self):
    super().__init__()
    self.weight = torch.nn.Parameter(LINEAR_CRITIC_WEIGHTS.clone())

  def forward(self, images):
    return torch.sum(images * self.weight, dim=(1, 2, 3))


def test_gradient_penalty_of_a_linear_critic():
  # Penalty 10 (5 - 1)^2 = 160 whatever the images and interpolation weights.
  generator = torch.Generator().manual_seed(0)
  real, fake = torch.rand(2, 3, 1, 2, 2, generator=generator, dtype=torch.float64) * 2 - 1
  penalty = losses.gradient_penalty(LinearCritic(), real, fake,
                                    torch.tensor([0.0, 0.3, 1.0], dtype=torch.float64))
  assert math.isclose(penalty.item(), 160.0, rel_tol=1e-12)


def test_gradient_penalty_backward_reaches_the_critic():
  # dP/dw = 10 * 2 (|w| - 1) w / |w| = 16 w, through the input gradient
  # that create_graph=True keeps differentiable.
  critic = LinearCritic()
  images = torch.zeros(3, 1, 2, 2, dtype=torch.float64)
  losses.gradient_penalty(critic, images, images, torch.full((3,), 0.5, dtype=torch.float64)).backward()
  torch.testing.assert_close(critic.weight.grad, 16 * LINEAR_CRITIC_WEIGHTS, rtol=1e-12, atol=0)


def test_gradient_penalty_interpolates_per_sample():
  # D(x) = 1/2 sum(x^2) has gradient x_hat. Sample 0: 0.5 in each of 4 pixels,
  # norm 1, term 0. Sample 1: 0.25 * 3 + 0.75 * 1 = 1.5, norm 3, term 4.
  # Penalty 10 * mean([0, 4]) = 20.
  real = torch.stack([torch.ones(1, 2, 2), 3 * torch.ones(1, 2, 2)]).double()
  fake = torch.stack([torch.zeros(1, 2, 2), torch.ones(1, 2, 2)]).double()
  critic = lambda images: 0.5 * torch.sum(torch.square(images), dim=(1, 2, 3))
  weights = torch.tensor([0.5, 0.25], dtype=torch.float64)
  assert math.isclose(losses.gradient_penalty(critic, real, fake, weights).item(), 20.0,
                      rel_tol=1e-12)
  assert math.isclose(losses.gradient_penalty(critic, real, fake, weights, weight=1.0).item(), 2.0,
                      rel_tol=1e-12)
