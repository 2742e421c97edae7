"""Matched JAX and PyTorch GANs, and comparisons that name the tensor that differs and by how much."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import torch

from configs import default
from jax_gan import losses as jax_losses
from jax_gan import train_step as jax_train_step
from parity_tests import convert
from torch_gan import losses as torch_losses
from torch_gan import train_step as torch_train_step

FROM_TORCH = 'built in PyTorch'
FROM_FLAX = 'built in Flax'
DIRECTIONS = (FROM_TORCH, FROM_FLAX)


def max_differences(actual, expected):
  """Return (max absolute difference, max relative difference) between two arrays."""
  actual = np.asarray(actual, np.float64)
  expected = np.asarray(expected, np.float64)
  absolute = np.abs(actual - expected)
  relative = absolute / np.maximum(np.abs(expected), np.finfo(np.float64).tiny)
  return float(absolute.max(initial=0.0)), float(relative.max(initial=0.0))


def assert_close(name, actual, expected, *, atol, rtol):
  """Assert |actual - expected| <= atol + rtol |expected| elementwise, naming the tensor and the worst differences."""
  actual = np.asarray(actual)
  expected = np.asarray(expected)
  if actual.shape != expected.shape:
    raise AssertionError(f'{name}: shape {actual.shape} (JAX) != {expected.shape} (PyTorch)')
  ok = np.abs(actual.astype(np.float64) - expected.astype(np.float64)) <= (
      atol + rtol * np.abs(expected.astype(np.float64)))
  if not np.all(ok):
    max_abs, max_rel = max_differences(actual, expected)
    raise AssertionError(
        f'{name}: {int((~ok).sum())} of {ok.size} elements differ; max abs diff {max_abs:.3g}, '
        f'max rel diff {max_rel:.3g}; tolerance atol={atol:g}, rtol={rtol:g}')


def assert_close_in_norm(name, actual, expected, *, rtol):
  """Assert ||actual - expected||_2 <= rtol ||expected||_2 over the whole tensor, naming it and the errors."""
  actual = np.asarray(actual, np.float64)
  expected = np.asarray(expected, np.float64)
  if actual.shape != expected.shape:
    raise AssertionError(f'{name}: shape {actual.shape} (JAX) != {expected.shape} (PyTorch)')
  error = np.linalg.norm(actual - expected)
  scale = np.linalg.norm(expected)
  if not error <= rtol * scale:
    max_abs, _ = max_differences(actual, expected)
    raise AssertionError(
        f'{name}: relative L2 error {error / max(scale, np.finfo(np.float64).tiny):.3g} > '
        f'tolerance {rtol:g}; max abs diff {max_abs:.3g}')


def assert_trees_close(prefix, actual_tree, expected_tree, *, atol=None, rtol=None, l2_rtol=None):
  """Compare two nested dicts of arrays leaf by leaf, naming each leaf by its path.

  With atol and rtol every element is checked; with l2_rtol each leaf's
  relative L2 error is.
  """
  actual_leaves = dict(_flatten(actual_tree))
  expected_leaves = dict(_flatten(expected_tree))
  if actual_leaves.keys() != expected_leaves.keys():
    raise AssertionError(f'{prefix}: leaves differ: {sorted(actual_leaves)} != {sorted(expected_leaves)}')
  for path in sorted(expected_leaves):
    name = f'{prefix}.{path}'
    if l2_rtol is not None:
      assert_close_in_norm(name, actual_leaves[path], expected_leaves[path], rtol=l2_rtol)
    else:
      assert_close(name, actual_leaves[path], expected_leaves[path], atol=atol, rtol=rtol)


def _flatten(tree, prefix=''):
  if isinstance(tree, dict) or hasattr(tree, 'items'):
    for key, value in tree.items():
      yield from _flatten(value, f'{prefix}.{key}' if prefix else str(key))
  else:
    yield prefix, np.asarray(tree)


def nchw_to_nhwc(images: np.ndarray) -> np.ndarray:
  # A writable copy: JAX arrays are read-only, and torch.from_numpy warns about those.
  return np.array(np.asarray(images).transpose(0, 2, 3, 1))


def nhwc_to_nchw(images: np.ndarray) -> np.ndarray:
  return np.array(np.asarray(images).transpose(0, 3, 1, 2))


@dataclasses.dataclass
class Pair:
  """A JAX GAN and a PyTorch GAN that start from the same weights."""

  config: object
  gan: jax_train_step.GAN
  jax_state: jax_train_step.TrainState
  torch_gan: torch_train_step.GAN
  torch_state: torch_train_step.TrainState
  dtype: np.dtype
  layers: dict  # convert.model_layers(config)


def make_pair(direction: str, dtype=np.float32, seed: int = 0,
              conv_transpose_implementation: str = 'cpu', **config_overrides) -> Pair:
  """Build both GANs from one seed: initialized in one framework and converted to the other.

  float64 needs `jax_enable_x64`, which the caller sets.
  """
  config = default.get_config()
  config.param_dtype = np.dtype(dtype).name
  config.seed = seed
  for name, value in config_overrides.items():
    config[name] = value

  gan = jax_train_step.create_gan(config, conv_transpose_implementation)
  jax_state = jax.device_get(jax_train_step.create_train_state(
      gan, jax.random.PRNGKey(seed), jnp.dtype(dtype)))
  torch_state = torch_train_step.create_train_state(config, 'cpu', getattr(torch, config.param_dtype))

  layers = convert.model_layers(config)
  if direction == FROM_TORCH:
    jax_state = convert.torch_state_to_jax(torch_state, jax_state, layers)
  elif direction == FROM_FLAX:
    convert.jax_state_to_torch(jax_state, torch_state, layers)
  else:
    raise ValueError(f'unknown direction {direction!r}')
  jax_state = jax.tree.map(jnp.asarray, jax_state)
  return Pair(config, gan, jax_state, torch_train_step.create_gan(config), torch_state,
              np.dtype(dtype), layers)


def torch_variables(module, layers):
  """Return a PyTorch module's parameters and BatchNorm statistics in the Flax layout."""
  return convert.state_dict_to_flax(module.state_dict(), layers)


def torch_gradients(module, layers):
  """Return a PyTorch module's `.grad` fields in the Flax params layout."""
  grads = {name: parameter.grad for name, parameter in module.named_parameters()}
  return convert.params_to_flax(grads, layers)


def torch_adam_moments(optimizer, module, layers):
  """Return a PyTorch Adam's (exp_avg, exp_avg_sq) in the Flax params layout."""
  state = optimizer.state_dict()['state']
  names = convert.parameter_names(module.state_dict())
  moments = []
  for moment in ('exp_avg', 'exp_avg_sq'):
    moments.append(convert.params_to_flax(
        {name: state[index][moment] for index, name in enumerate(names)}, layers))
  return tuple(moments)


def random_inputs(batch: int, dtype, seed: int = 1, latent_dim: int = 100):
  """Return (real images NHWC in [-1, 1], latent noise) from numpy, the same for both backends."""
  rng = np.random.RandomState(seed)
  images = rng.uniform(-1, 1, (batch, 28, 28, 1)).astype(dtype)
  z = rng.standard_normal((batch, latent_dim)).astype(dtype)
  return images, z


def interpolation_weights(shape, dtype, seed: int = 2):
  """Return WGAN-GP interpolation weights in [0, 1) from numpy, the same for both backends."""
  return np.random.RandomState(seed).uniform(0, 1, shape).astype(dtype)


def jax_generate(pair, z, train):
  variables = {'params': pair.jax_state.generator.params,
               'batch_stats': pair.jax_state.generator.batch_stats}
  if train:
    images, updates = pair.gan.generator.apply(variables, jnp.asarray(z), train=True,
                                               mutable=['batch_stats'])
    return np.asarray(images), jax.device_get(updates['batch_stats'])
  return np.asarray(pair.gan.generator.apply(variables, jnp.asarray(z), train=False)), None


def jax_discriminate(pair, images, train):
  variables = {'params': pair.jax_state.discriminator.params,
               'batch_stats': pair.jax_state.discriminator.batch_stats}
  if train:
    logits, updates = pair.gan.discriminator.apply(variables, jnp.asarray(images), train=True,
                                                   mutable=['batch_stats'])
    return np.asarray(logits), jax.device_get(updates['batch_stats'])
  return np.asarray(pair.gan.discriminator.apply(variables, jnp.asarray(images), train=False)), None


def torch_run(module, inputs, train):
  module.train(train)
  with torch.no_grad():
    return module(torch.from_numpy(inputs)).numpy()


def gradients_of_both(pair, images, z):
  """Return the D and G losses and gradients on both sides, the gradients in the Flax layout.

  For the wgan_gp loss the discriminator loss includes the gradient penalty,
  with interpolation weights from `interpolation_weights`.
  """
  gan, state = pair.gan, pair.jax_state
  penalized = gan.loss == 'wgan_gp'
  weights = interpolation_weights((images.shape[0],), pair.dtype)

  def generate(generator_params):
    return gan.generator.apply({'params': generator_params,
                                'batch_stats': state.generator.batch_stats},
                               z, train=True, mutable=['batch_stats'])[0]

  def discriminate(discriminator_params, inputs):
    return gan.discriminator.apply({'params': discriminator_params,
                                    'batch_stats': state.discriminator.batch_stats},
                                   inputs, train=True, mutable=['batch_stats'])[0]

  fake = generate(state.generator.params)

  def jax_discriminator_loss(params):
    loss = gan.discriminator_loss(discriminate(params, images), discriminate(params, fake))
    if penalized:
      loss += jax_losses.gradient_penalty(lambda inputs: discriminate(params, inputs), images,
                                          fake, jnp.asarray(weights), gan.gradient_penalty_weight)
    return loss

  d_loss, d_grads = jax.value_and_grad(jax_discriminator_loss)(state.discriminator.params)
  g_loss, g_grads = jax.value_and_grad(lambda p: gan.generator_loss(
      discriminate(state.discriminator.params, generate(p))))(state.generator.params)
  jax_results = (float(d_loss), float(g_loss), jax.device_get(d_grads), jax.device_get(g_grads))

  generator, discriminator = pair.torch_state.generator, pair.torch_state.discriminator
  generator.train()
  discriminator.train()
  # A train step leaves gradients in .grad (the generator update's reach the
  # discriminator too), and backward adds to them.
  generator.zero_grad(set_to_none=True)
  discriminator.zero_grad(set_to_none=True)
  torch_fake = generator(torch.from_numpy(np.array(z)))
  torch_images = torch.from_numpy(nhwc_to_nchw(images))
  torch_d_loss = pair.torch_gan.discriminator_loss(discriminator(torch_images),
                                                   discriminator(torch_fake.detach()))
  if penalized:
    torch_d_loss = torch_d_loss + torch_losses.gradient_penalty(
        discriminator, torch_images, torch_fake.detach(), torch.from_numpy(weights),
        pair.torch_gan.gradient_penalty_weight)
  torch_d_loss.backward()
  d_grads = torch_gradients(discriminator, pair.layers['discriminator'])
  discriminator.zero_grad()
  torch_g_loss = pair.torch_gan.generator_loss(discriminator(torch_fake))
  torch_g_loss.backward()
  g_grads = torch_gradients(generator, pair.layers['generator'])
  torch_results = (torch_d_loss.item(), torch_g_loss.item(), d_grads, g_grads)
  return jax_results, torch_results


NUM_TRAINING_STEPS = 20
TRAINING_BATCH = 32


def train_both(pair, real_images, num_steps=NUM_TRAINING_STEPS, batch=TRAINING_BATCH):
  """Run `num_steps` full steps on both sides and return the per-step losses of each.

  A step is one discriminator update and one generator update, or for
  wgan_gp K critic updates and one generator update. Both sides get the same
  numpy noise and interpolation weights. Needs num_steps * K * batch real images.
  """
  rng = np.random.RandomState(7)
  wgan_gp = pair.gan.loss == 'wgan_gp'
  steps = pair.gan.critic_steps
  latent_dim = pair.config.latent_dim
  if wgan_gp:
    jax_step = jax.jit(functools.partial(jax_train_step.wgan_gp_train_step_with_noise,
                                         gan=pair.gan))
    torch_step = functools.partial(torch_train_step.wgan_gp_train_step_with_noise,
                                   gan=pair.torch_gan)
  else:
    jax_step = jax.jit(functools.partial(jax_train_step.train_step_with_noise, gan=pair.gan))
    torch_step = functools.partial(torch_train_step.train_step_with_noise, gan=pair.torch_gan)
  jax_losses_per_step, torch_losses_per_step = [], []
  state = pair.jax_state
  for step in range(num_steps):
    images = real_images[step * steps * batch:(step + 1) * steps * batch].astype(pair.dtype)
    if wgan_gp:
      images = images.reshape((steps, batch) + images.shape[1:])  # (K, B, 28, 28, 1)
      noise = (rng.standard_normal((steps, batch, latent_dim)),
               rng.uniform(0, 1, (steps, batch)),
               rng.standard_normal((batch, latent_dim)))
      torch_images = nhwc_to_nchw(images.reshape((-1,) + images.shape[2:])).reshape(
          (steps, batch, 1, 28, 28))
    else:
      noise = (rng.standard_normal((batch, latent_dim)),)
      torch_images = nhwc_to_nchw(images)
    noise = [array.astype(pair.dtype) for array in noise]
    state, metrics = jax_step(state, jnp.asarray(images), *map(jnp.asarray, noise))
    jax_losses_per_step.append((float(metrics['d_loss']), float(metrics['g_loss'])))
    _, torch_metrics = torch_step(pair.torch_state, torch.from_numpy(torch_images),
                                  *map(torch.from_numpy, noise))
    torch_losses_per_step.append((torch_metrics['d_loss'].item(), torch_metrics['g_loss'].item()))
  pair.jax_state = jax.device_get(state)
  return np.array(jax_losses_per_step), np.array(torch_losses_per_step)
