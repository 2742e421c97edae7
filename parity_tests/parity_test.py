"""The JAX and the PyTorch DCGAN compute the same functions, gradients and training runs.

Every comparison starts from matched weights, built in one framework and
converted to the other (both directions), and feeds both sides the same numpy
inputs. JAX runs with 'highest' matmul precision and PyTorch with TF32 off.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from jax_gan import losses as jax_losses
from jax_gan import models as jax_models
from jax_gan import train_step as jax_train_step
from parity_tests import convert
from parity_tests import harness
from parity_tests.harness import DIRECTIONS
from torch_gan import input_pipeline as torch_input
from torch_gan import losses as torch_losses
from torch_gan import train_step as torch_train_step

# Tolerances. float64 runs agree to a few hundred ulps: the backends add the
# same products in different orders (oneDNN and XLA:CPU tile convolutions
# differently), which moves the last digits, and BatchNorm divides by batch
# standard deviations that can be small. Each is (atol, rtol), per element.
FLOAT64_FORWARD = (1e-12, 1e-10)
FLOAT64_GRADIENT = (1e-12, 1e-9)
FLOAT64_ADAM = (1e-15, 1e-12)
# 20 float64 training steps: Adam divides by the RMS of each gradient, which
# magnifies last-digit differences of near-zero gradients. The largest
# parameter difference measured (jax 0.10.2, torch 2.14.1, CPU) was 3.5e-13.
FLOAT64_TRAINING = (1e-11, 1e-8)

# float32 forward passes differ by a few ulps of the largest intermediate
# values: the discriminator's logit is a 6,272-term sum.
FLOAT32_FORWARD = (2e-5, 1e-4)
# float32 gradients are compared by relative L2 error per tensor, not per
# element: where a LeakyReLU or ReLU input lies within rounding of zero, the
# two backends can take different branches. One such element was found in the
# discriminator's first layer for the test batch. It changes that element's
# gradient by 0.8 x the upstream gradient (0.019 in a bias gradient whose
# largest entry is 3.9), and everything upstream of it in the generator.
FLOAT32_GRADIENT_L2 = 1e-2
# One float32 Adam step from identical gradients.
FLOAT32_ADAM = (1e-7, 1e-5)
# 20 float32 training steps drift apart: the branch differences above change
# the gradients, Adam turns a sign difference of a near-zero gradient into a
# 2 x lr difference of the update, and the two networks feed each other.
# Measured with jax 0.10.2 and torch 2.14.1 on the CPU, over both directions,
# per-step losses agree within 4.4% for the cross-entropy and least-squares
# losses, 1.9% for wgan_gp and 18% for the hinge loss. Parameters, BatchNorm
# statistics and Adam moments agree within 0.32 relative L2 error, 0.20 for
# wgan_gp and 0.47 for hinge. The MLP GAN stays within 1e-5 in losses and
# 0.002 in state.
# The first step starts from identical weights, so its losses agree like
# FLOAT32_FORWARD, except for wgan_gp: its step-1 critic loss is the mean of 5
# critic updates, 4 of them after Adam steps, and its generator loss comes
# after all 5. An early Adam step moves each weight by about the learning rate
# times the sign of its gradient, whatever the gradient's size, so rounding
# that flips a near-zero gradient moves that weight by twice the learning
# rate. On a 2-core Xeon with 2 threads the step-1 losses differed by up to
# 6.5e-4 relative, while the losses and gradients at identical weights
# (test_losses_and_gradients_match in float32) agree within FLOAT32_FORWARD.
FLOAT32_TRAINING_LOSS_RTOL = 0.25
FLOAT32_TRAINING_STATE_L2 = 0.6
# With beta1 = 0 (the wgan_gp config) Adam's first moment is the last
# gradient itself, not an average. The WGAN-GP critic gradient is very
# sensitive to the weights. After 20 float32 steps, both backends' critic
# gradients at the same weights agree with the float64 gradient within 3e-6.
# At each backend's own weights, which differ by 1.2%, they differ by 0.51
# relative L2 error. The first moments were measured up to 0.72 apart.
FLOAT32_TRAINING_LAST_GRADIENT_L2 = 1.0

DTYPES = {np.float32: 'float32', np.float64: 'float64'}
FORWARD_TOLERANCE = {np.float32: FLOAT32_FORWARD, np.float64: FLOAT64_FORWARD}
ADAM_TOLERANCE = {np.float32: FLOAT32_ADAM, np.float64: FLOAT64_ADAM}


@pytest.fixture(params=[np.float32, np.float64], ids=['float32', 'float64'])
def dtype(request):
  if request.param == np.float64:
    jax.config.update('jax_enable_x64', True)
    yield request.param
    jax.config.update('jax_enable_x64', False)
  else:
    yield request.param


@pytest.mark.parametrize('batch', [1, 7, 64])
def test_output_shapes_and_dtypes(dtype, batch):
  pair = harness.make_pair(harness.FROM_TORCH, dtype)
  images, z = harness.random_inputs(batch, dtype)
  for train in (False, True):
    jax_images, _ = harness.jax_generate(pair, z, train)
    torch_images = harness.torch_run(pair.torch_state.generator, z, train)
    assert jax_images.shape == (batch, 28, 28, 1)
    assert torch_images.shape == (batch, 1, 28, 28)
    assert jax_images.dtype == torch_images.dtype == dtype

    jax_logits, _ = harness.jax_discriminate(pair, images, train)
    torch_logits = harness.torch_run(pair.torch_state.discriminator, harness.nhwc_to_nchw(images), train)
    assert jax_logits.shape == torch_logits.shape == (batch,)
    assert jax_logits.dtype == torch_logits.dtype == dtype


# 'cpu' is the CPU default: 'phases' for the first transposed convolution and
# 'matmul' for the last. models_test checks each form against 'xla' alone.
@pytest.mark.parametrize('implementation', ['cpu', 'xla'])
@pytest.mark.parametrize('direction', DIRECTIONS)
def test_forward_outputs_match(dtype, direction, implementation):
  atol, rtol = FORWARD_TOLERANCE[dtype]
  pair = harness.make_pair(direction, dtype, conv_transpose_implementation=implementation)
  images, z = harness.random_inputs(16, dtype)
  # Eval mode first: a PyTorch forward pass in train mode updates the running statistics.
  for train in (False, True):
    mode = 'train' if train else 'eval'
    jax_images, _ = harness.jax_generate(pair, z, train)
    torch_images = harness.torch_run(pair.torch_state.generator, z, train)
    harness.assert_close(f'generator output ({mode} mode)', jax_images,
                         harness.nchw_to_nhwc(torch_images), atol=atol, rtol=rtol)

    jax_logits, _ = harness.jax_discriminate(pair, images, train)
    torch_logits = harness.torch_run(pair.torch_state.discriminator, harness.nhwc_to_nchw(images), train)
    harness.assert_close(f'discriminator logits ({mode} mode)', jax_logits, torch_logits,
                         atol=atol, rtol=rtol)


# Config overrides of each loss and model the suite covers. 'wgan_gp' and 'mlp'
# are configs/dcgan_wgan_gp.py and configs/mlp_mnist.py.
LOSS_SETTINGS = {
    'minimax': dict(loss='minimax'),
    'non_saturating': dict(loss='non_saturating'),
    'label_smoothing': dict(loss='non_saturating', real_label=0.9),
    'least_squares': dict(loss='least_squares'),
    'hinge': dict(loss='hinge'),
    'wgan_gp': dict(loss='wgan_gp', discriminator_normalization='layer_norm', critic_steps=5,
                    gradient_penalty_weight=10.0, learning_rate=1e-4, beta1=0.0, beta2=0.9),
    'mlp': dict(model='mlp', hidden_features=256),
}
# Discriminator variants for the forward pass.
MODEL_SETTINGS = {
    'dcgan_layer_norm': dict(discriminator_normalization='layer_norm'),
    'dcgan_no_norm': dict(discriminator_normalization='none'),
    'mlp': dict(model='mlp', hidden_features=256),
}


@pytest.mark.parametrize('model', MODEL_SETTINGS)
@pytest.mark.parametrize('direction', DIRECTIONS)
def test_model_variant_outputs_match(dtype, direction, model):
  atol, rtol = FORWARD_TOLERANCE[dtype]
  pair = harness.make_pair(direction, dtype, **MODEL_SETTINGS[model])
  images, z = harness.random_inputs(16, dtype)
  for train in (False, True):
    mode = 'train' if train else 'eval'
    jax_images, _ = harness.jax_generate(pair, z, train)
    torch_images = harness.torch_run(pair.torch_state.generator, z, train)
    harness.assert_close(f'generator output ({mode} mode)', jax_images,
                         harness.nchw_to_nhwc(torch_images), atol=atol, rtol=rtol)
    jax_logits, _ = harness.jax_discriminate(pair, images, train)
    torch_logits = harness.torch_run(pair.torch_state.discriminator, harness.nhwc_to_nchw(images), train)
    harness.assert_close(f'discriminator logits ({mode} mode)', jax_logits, torch_logits,
                         atol=atol, rtol=rtol)


@pytest.mark.parametrize('loss', LOSS_SETTINGS)
@pytest.mark.parametrize('direction', DIRECTIONS)
def test_losses_and_gradients_match(dtype, direction, loss):
  images, z = harness.random_inputs(16, dtype)
  pair = harness.make_pair(direction, dtype, **LOSS_SETTINGS[loss])
  (jax_d, jax_g, jax_d_grads, jax_g_grads), (torch_d, torch_g, torch_d_grads, torch_g_grads) = (
      harness.gradients_of_both(pair, jnp.asarray(images), jnp.asarray(z)))

  atol, rtol = FORWARD_TOLERANCE[dtype]
  harness.assert_close('discriminator loss', jax_d, torch_d, atol=atol, rtol=rtol)
  harness.assert_close('generator loss', jax_g, torch_g, atol=atol, rtol=rtol)
  if dtype == np.float64:
    tolerance = dict(atol=FLOAT64_GRADIENT[0], rtol=FLOAT64_GRADIENT[1])
  else:
    tolerance = dict(l2_rtol=FLOAT32_GRADIENT_L2)
  harness.assert_trees_close('discriminator gradient', jax_d_grads, torch_d_grads, **tolerance)
  harness.assert_trees_close('generator gradient', jax_g_grads, torch_g_grads, **tolerance)


@pytest.mark.parametrize('real,fake', [(0.0, 0.0), (3.5, -2.25), (40.0, -40.0), (-40.0, 40.0),
                                       (500.0, -500.0), (-500.0, 500.0)])
def test_loss_functions_match(enable_x64, real, fake):
  del enable_x64
  real_logits = np.array([real, 0.5 * real, -1.0], np.float64)
  fake_logits = np.array([fake, 0.5 * fake, 2.0], np.float64)
  jax_real, jax_fake = jnp.asarray(real_logits), jnp.asarray(fake_logits)
  torch_real, torch_fake = torch.from_numpy(real_logits), torch.from_numpy(fake_logits)
  for loss in jax_losses.LOSSES:
    jax_d, jax_g = jax_losses.LOSSES[loss]
    torch_d, torch_g = torch_losses.LOSSES[loss]
    harness.assert_close(f'{loss} discriminator loss', float(jax_d(jax_real, jax_fake)),
                         torch_d(torch_real, torch_fake).item(), atol=0, rtol=1e-15)
    harness.assert_close(f'{loss} generator loss', float(jax_g(jax_fake)),
                         torch_g(torch_fake).item(), atol=0, rtol=1e-15)
  harness.assert_close(
      'label-smoothed discriminator loss',
      float(jax_losses.non_saturating_discriminator_loss(jax_real, jax_fake, real_label=0.9)),
      torch_losses.non_saturating_discriminator_loss(torch_real, torch_fake, real_label=0.9).item(),
      atol=0, rtol=1e-15)


def test_batch_norm_running_statistics_match(dtype):
  # Several training steps of one BatchNorm layer in each framework.
  torch_norm = torch.nn.BatchNorm2d(3).to(getattr(torch, DTYPES[dtype]))
  flax_norm = jax_models.BatchNorm(param_dtype=jnp.dtype(dtype))
  variables = flax_norm.init(jax.random.PRNGKey(0), jnp.zeros((1, 4, 4, 3), dtype),
                             use_running_average=False)
  variables = {'params': {'scale': jnp.ones(3, dtype), 'bias': jnp.zeros(3, dtype)},
               'batch_stats': variables['batch_stats']}
  rng = np.random.RandomState(0)
  for step in range(5):
    x = (rng.standard_normal((6, 4, 4, 3)) * (step + 1) + step).astype(dtype)
    torch_norm(torch.from_numpy(harness.nhwc_to_nchw(x)))
    _, updates = flax_norm.apply(variables, jnp.asarray(x), use_running_average=False,
                                 mutable=['batch_stats'])
    variables = {'params': variables['params'], 'batch_stats': updates['batch_stats']}
  atol, rtol = FORWARD_TOLERANCE[dtype]
  harness.assert_close('running mean', variables['batch_stats']['mean'],
                       torch_norm.running_mean.numpy(), atol=atol, rtol=rtol)
  harness.assert_close('running var', variables['batch_stats']['var'],
                       torch_norm.running_var.numpy(), atol=atol, rtol=rtol)


@pytest.mark.parametrize('direction', DIRECTIONS)
def test_adam_step_matches(dtype, direction):
  pair = harness.make_pair(direction, dtype)
  torch_module = pair.torch_state.generator
  torch_optimizer = pair.torch_state.generator_optimizer
  optimizer = pair.gan.generator_optimizer
  params = pair.jax_state.generator.params
  opt_state = pair.jax_state.generator.opt_state

  rng = np.random.RandomState(3)
  for _ in range(3):
    grads = jax.tree.map(lambda p: rng.standard_normal(p.shape).astype(dtype) * 1e-2, params)
    updates, opt_state = optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    torch_grads = convert.params_to_torch(grads, convert.GENERATOR_LAYERS)
    for name, parameter in torch_module.named_parameters():
      parameter.grad = torch.from_numpy(np.array(torch_grads[name]))
    torch_optimizer.step()

  atol, rtol = ADAM_TOLERANCE[dtype]
  torch_params = harness.torch_variables(torch_module, convert.GENERATOR_LAYERS)['params']
  harness.assert_trees_close('params after Adam', jax.device_get(params), torch_params,
                             atol=atol, rtol=rtol)
  exp_avg, exp_avg_sq = harness.torch_adam_moments(torch_optimizer, torch_module,
                                                   convert.GENERATOR_LAYERS)
  harness.assert_trees_close('Adam first moment', jax.device_get(opt_state[0].mu), exp_avg,
                             atol=atol, rtol=rtol)
  harness.assert_trees_close('Adam second moment', jax.device_get(opt_state[0].nu), exp_avg_sq,
                             atol=atol, rtol=rtol)
  assert int(opt_state[0].count) == 3


# Real images for the training runs: 5 critic batches per wgan_gp step.
NUM_REAL_IMAGES = harness.NUM_TRAINING_STEPS * 5 * harness.TRAINING_BATCH


@pytest.fixture(scope='module')
def real_images(data_dir):
  """The first 3,200 MNIST training images, NHWC float64 in [-1, 1]."""
  images = torch_input.load_train_images(data_dir, download=False)[:NUM_REAL_IMAGES]
  scaled = torch_input.get_batch(images, torch.arange(NUM_REAL_IMAGES), 0, NUM_REAL_IMAGES,
                                 torch.float64)
  return harness.nchw_to_nhwc(scaled.numpy())


def assert_states_close(pair, first_moment_l2_rtol=None, **tolerance):
  """Compare parameters, BatchNorm statistics and Adam moments of both networks.

  `first_moment_l2_rtol`, when given, replaces the tolerance of Adam's first moments.
  """
  for network in ('generator', 'discriminator'):
    layers = pair.layers[network]
    module = getattr(pair.torch_state, network)
    torch_variables = harness.torch_variables(module, layers)
    jax_model_state = getattr(pair.jax_state, network)
    harness.assert_trees_close(f'{network} params', jax_model_state.params,
                               torch_variables['params'], **tolerance)
    harness.assert_trees_close(f'{network} batch_stats', jax_model_state.batch_stats,
                               torch_variables['batch_stats'], **tolerance)
    exp_avg, exp_avg_sq = harness.torch_adam_moments(
        getattr(pair.torch_state, f'{network}_optimizer'), module, layers)
    first_moment_tolerance = tolerance
    if first_moment_l2_rtol is not None:
      first_moment_tolerance = dict(l2_rtol=first_moment_l2_rtol)
    harness.assert_trees_close(f'{network} Adam first moment', jax_model_state.opt_state[0].mu,
                               exp_avg, **first_moment_tolerance)
    second_moment_tolerance = dict(tolerance)
    if 'atol' in tolerance:
      # Second moments are squared gradients, so their absolute scale is squared too.
      second_moment_tolerance['atol'] = tolerance['atol'] ** 2
    harness.assert_trees_close(f'{network} Adam second moment', jax_model_state.opt_state[0].nu,
                               exp_avg_sq, **second_moment_tolerance)


@pytest.mark.parametrize('loss', LOSS_SETTINGS)
@pytest.mark.parametrize('direction', DIRECTIONS)
def test_float64_training_runs_match(enable_x64, direction, loss, real_images):
  del enable_x64
  pair = harness.make_pair(direction, np.float64, **LOSS_SETTINGS[loss])
  jax_history, torch_history = harness.train_both(pair, real_images)
  atol, rtol = FLOAT64_TRAINING
  for step in range(harness.NUM_TRAINING_STEPS):
    for column, name in enumerate(('discriminator', 'generator')):
      harness.assert_close(f'step {step + 1} {name} loss', jax_history[step, column],
                           torch_history[step, column], atol=atol, rtol=rtol)
  assert_states_close(pair, atol=atol, rtol=rtol)


@pytest.mark.parametrize('loss', LOSS_SETTINGS)
@pytest.mark.parametrize('direction', DIRECTIONS)
def test_float32_training_runs_stay_close(direction, loss, real_images):
  pair = harness.make_pair(direction, np.float32, **LOSS_SETTINGS[loss])
  jax_history, torch_history = harness.train_both(pair, real_images)
  if pair.config.critic_steps == 1:
    atol, rtol = FLOAT32_FORWARD
    harness.assert_close('step 1 losses', jax_history[0], torch_history[0], atol=atol, rtol=rtol)
  harness.assert_close('losses of every step', jax_history, torch_history, atol=0,
                       rtol=FLOAT32_TRAINING_LOSS_RTOL)
  last_gradient = FLOAT32_TRAINING_LAST_GRADIENT_L2 if pair.config.beta1 == 0 else None
  assert_states_close(pair, first_moment_l2_rtol=last_gradient, l2_rtol=FLOAT32_TRAINING_STATE_L2)


# The checks catch the mistakes that a port makes.


def test_naive_conv_transpose_conversion_is_caught(enable_x64):
  del enable_x64
  pair = harness.make_pair(harness.FROM_TORCH, np.float64)
  weight = pair.torch_state.generator.conv_transpose1.weight.detach().numpy()
  params = jax.device_get(pair.jax_state.generator.params)
  # The naive permutation: (in, out, kH, kW) -> (kH, kW, in, out), without the flip.
  params['conv_transpose1']['kernel'] = weight.transpose(2, 3, 0, 1)
  pair.jax_state = pair.jax_state.replace(
      generator=pair.jax_state.generator.replace(params=params))
  _, z = harness.random_inputs(4, np.float64)
  jax_images, _ = harness.jax_generate(pair, z, train=False)
  torch_images = harness.torch_run(pair.torch_state.generator, z, train=False)
  with pytest.raises(AssertionError, match='generator output'):
    harness.assert_close('generator output', jax_images, harness.nchw_to_nhwc(torch_images),
                         atol=FLOAT64_FORWARD[0], rtol=FLOAT64_FORWARD[1])


def test_wrong_flatten_order_is_caught(enable_x64):
  del enable_x64
  pair = harness.make_pair(harness.FROM_TORCH, np.float64)
  weight = pair.torch_state.discriminator.dense.weight.detach().numpy()
  params = jax.device_get(pair.jax_state.discriminator.params)
  # A plain transpose keeps PyTorch's (C, H, W) input order: the shapes fit.
  params['dense']['kernel'] = convert.weight_to_flax(convert.DENSE, weight)
  pair.jax_state = pair.jax_state.replace(
      discriminator=pair.jax_state.discriminator.replace(params=params))
  images, _ = harness.random_inputs(4, np.float64)
  jax_logits, _ = harness.jax_discriminate(pair, images, train=False)
  torch_logits = harness.torch_run(pair.torch_state.discriminator, harness.nhwc_to_nchw(images), False)
  with pytest.raises(AssertionError, match='discriminator logits'):
    harness.assert_close('discriminator logits', jax_logits, torch_logits,
                         atol=FLOAT64_FORWARD[0], rtol=FLOAT64_FORWARD[1])


@pytest.mark.parametrize('flax_momentum', [0.99, 0.9])
def test_flax_batch_norm_statistics_are_caught(enable_x64, flax_momentum):
  # flax.linen.BatchNorm with its default momentum 0.99, or with 0.9 but its
  # biased running variance, drifts away from PyTorch's running statistics.
  del enable_x64
  torch_norm = torch.nn.BatchNorm2d(3).double()
  flax_norm = nn.BatchNorm(use_running_average=False, momentum=flax_momentum, epsilon=1e-5,
                           param_dtype=jnp.float64)
  x = np.random.RandomState(0).standard_normal((6, 4, 4, 3)) * 2 + 1
  variables = flax_norm.init(jax.random.PRNGKey(0), jnp.asarray(x))
  _, updates = flax_norm.apply(variables, jnp.asarray(x), mutable=['batch_stats'])
  torch_norm(torch.from_numpy(harness.nhwc_to_nchw(x)))
  with pytest.raises(AssertionError, match='running var'):
    harness.assert_close('running var', updates['batch_stats']['var'],
                         torch_norm.running_var.numpy(), atol=FLOAT64_FORWARD[0],
                         rtol=FLOAT64_FORWARD[1])
