"""Tests of the JAX losses against hand-computed values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_gan import losses


@pytest.mark.parametrize('jit', [False, True])
def test_non_saturating_losses_at_zero_logits(jit):
  d_loss = losses.non_saturating_discriminator_loss
  g_loss = losses.non_saturating_generator_loss
  if jit:
    d_loss, g_loss = jax.jit(d_loss), jax.jit(g_loss)
  zeros = jnp.zeros(4)
  # sigmoid(0) = 1/2, so each cross-entropy term is log 2.
  np.testing.assert_allclose(d_loss(zeros, zeros), 2 * np.log(2), rtol=1e-6)
  np.testing.assert_allclose(g_loss(zeros), np.log(2), rtol=1e-6)


def test_non_saturating_losses_by_hand():
  real = jnp.array([2.0, -1.0])
  fake = jnp.array([0.5, -3.0])
  softplus = lambda x: np.log1p(np.exp(x))
  expected_d = np.mean(softplus(-np.array([2.0, -1.0]))) + np.mean(softplus(np.array([0.5, -3.0])))
  expected_g = np.mean(softplus(-np.array([0.5, -3.0])))
  np.testing.assert_allclose(losses.non_saturating_discriminator_loss(real, fake), expected_d,
                             rtol=1e-6)
  np.testing.assert_allclose(losses.non_saturating_generator_loss(fake), expected_g, rtol=1e-6)


def test_non_saturating_losses_at_extreme_logits():
  # A confident, correct discriminator: loss 2 exp(-100) = 7.44e-44, below
  # float32's smallest normal number. XLA's CPU backend flushes such subnormal
  # results to zero, where PyTorch keeps them.
  loss = float(losses.non_saturating_discriminator_loss(jnp.array([100.0]), jnp.array([-100.0])))
  assert 0.0 <= loss < 1e-42
  # A confident, wrong discriminator: loss 100 + 100, finite, not inf.
  np.testing.assert_allclose(
      losses.non_saturating_discriminator_loss(jnp.array([-100.0]), jnp.array([100.0])), 200.0,
      rtol=1e-6)
  np.testing.assert_allclose(losses.non_saturating_generator_loss(jnp.array([-1000.0])), 1000.0,
                             rtol=1e-6)
  grad = jax.grad(lambda x: losses.non_saturating_generator_loss(x))(jnp.array([-1000.0, 1000.0]))
  np.testing.assert_allclose(grad, [-0.5, 0.0], atol=1e-7)


def _softplus(x):
  return np.log1p(np.exp(x))


@pytest.mark.parametrize('jit', [False, True])
def test_other_losses_by_hand(jit):
  real = jnp.array([2.0, -1.0])
  fake = jnp.array([0.5, -3.0])
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
    if jit:
      d_loss, g_loss = jax.jit(d_loss), jax.jit(g_loss)
    if expected_d is not None:
      np.testing.assert_allclose(d_loss(real, fake), expected_d, rtol=1e-6, err_msg=name)
    np.testing.assert_allclose(g_loss(fake), expected_g, rtol=1e-6, err_msg=name)


def test_label_smoothing_by_hand():
  real = jnp.array([2.0, -1.0])
  fake = jnp.array([0.5, -3.0])
  # -mean(0.9 log sigmoid(x) + 0.1 log sigmoid(-x)) = mean(0.9 softplus(-x) + 0.1 softplus(x))
  real_term = np.mean([0.9 * _softplus(-2.0) + 0.1 * _softplus(2.0),
                       0.9 * _softplus(1.0) + 0.1 * _softplus(-1.0)])
  fake_term = np.mean([_softplus(0.5), _softplus(-3.0)])
  np.testing.assert_allclose(
      losses.non_saturating_discriminator_loss(real, fake, real_label=0.9),
      real_term + fake_term, rtol=1e-6)


def test_other_losses_at_extreme_logits():
  big = jnp.array([1000.0, -1000.0])
  np.testing.assert_allclose(losses.minimax_generator_loss(big), -500.0, rtol=1e-6)
  np.testing.assert_allclose(losses.least_squares_generator_loss(big), 0.5 * (999.0**2 + 1001.0**2) / 2,
                             rtol=1e-6)
  np.testing.assert_allclose(losses.hinge_discriminator_loss(big, -big), 1001.0, rtol=1e-6)
  # The saturating loss: its gradient vanishes for a confidently rejected sample.
  grad = jax.grad(losses.minimax_generator_loss)(jnp.array([-1000.0]))
  assert float(grad[0]) == 0.0


def test_wasserstein_losses_by_hand():
  real = jnp.array([2.0, -1.0])
  fake = jnp.array([0.5, -3.0])
  # mean([0.5, -3]) - mean([2, -1]) = -1.25 - 0.5, and -mean([0.5, -3])
  np.testing.assert_allclose(losses.wasserstein_discriminator_loss(real, fake), -1.75, rtol=1e-6)
  np.testing.assert_allclose(losses.wasserstein_generator_loss(fake), 1.25, rtol=1e-6)
  # Raw outputs, no saturation: extreme values pass through linearly.
  big = jnp.array([1e6, -1e6])
  np.testing.assert_allclose(losses.wasserstein_discriminator_loss(big, jnp.array([1e6, 1e6])),
                             1e6, rtol=1e-6)
  np.testing.assert_allclose(losses.wasserstein_generator_loss(-big), 0.0, atol=1e-6)


# Images of 2x2 pixels, one channel: (B, 2, 2, 1).
LINEAR_CRITIC_WEIGHTS = np.array([[3.0, 0.0], [0.0, 4.0]]).reshape(2, 2, 1)  # norm 5


def _linear_critic(weights):
  return lambda images: jnp.sum(images * weights, axis=(1, 2, 3))


def test_gradient_penalty_of_a_linear_critic():
  # grad_x sum(w x) = w everywhere, of norm 5: penalty 10 (5 - 1)^2 = 160
  # whatever the images and interpolation weights.
  rng = np.random.RandomState(0)
  real, fake = rng.uniform(-1, 1, (2, 3, 2, 2, 1))
  penalty = losses.gradient_penalty(_linear_critic(jnp.asarray(LINEAR_CRITIC_WEIGHTS)),
                                    jnp.asarray(real), jnp.asarray(fake), jnp.array([0.0, 0.3, 1.0]))
  np.testing.assert_allclose(penalty, 160.0, rtol=1e-6)


def test_gradient_penalty_gradient_reaches_the_critic():
  # dP/dw = 10 * 2 (|w| - 1) w / |w| = 20 * 4 / 5 w = 16 w: a gradient of the input gradient.
  images = jnp.zeros((3, 2, 2, 1))
  def penalty(weights):
    return losses.gradient_penalty(_linear_critic(weights), images, images, jnp.full(3, 0.5))
  gradient = jax.jit(jax.grad(penalty))(jnp.asarray(LINEAR_CRITIC_WEIGHTS))
  np.testing.assert_allclose(gradient, 16 * LINEAR_CRITIC_WEIGHTS, rtol=1e-6)


def test_gradient_penalty_interpolates_per_sample():
  # D(x) = 1/2 sum(x^2) has gradient x_hat. Sample 0: 0.5 * 1 + 0.5 * 0 = 0.5 in
  # each of 4 pixels, norm 1, penalty term 0. Sample 1: 0.25 * 3 + 0.75 * 1 = 1.5,
  # norm 3, term (3 - 1)^2 = 4. Penalty 10 * mean([0, 4]) = 20.
  real = jnp.stack([jnp.ones((2, 2, 1)), 3 * jnp.ones((2, 2, 1))])
  fake = jnp.stack([jnp.zeros((2, 2, 1)), jnp.ones((2, 2, 1))])
  critic = lambda images: 0.5 * jnp.sum(jnp.square(images), axis=(1, 2, 3))
  np.testing.assert_allclose(losses.gradient_penalty(critic, real, fake, jnp.array([0.5, 0.25])),
                             20.0, rtol=1e-6)
  np.testing.assert_allclose(
      losses.gradient_penalty(critic, real, fake, jnp.array([0.5, 0.25]), weight=1.0), 2.0,
      rtol=1e-6)
