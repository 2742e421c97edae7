"""Training state and the pure, jit-compiled GAN train step."""

import dataclasses
import functools
from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import optax

from jax_gan import input_pipeline
from jax_gan import losses
from jax_gan import models


class ModelState(flax.struct.PyTreeNode):
  """Everything that changes during training for one network."""

  params: Any
  batch_stats: Any
  opt_state: Any


class TrainState(flax.struct.PyTreeNode):
  """The whole training state; `train_step` takes it and returns the next one.

  Attributes:
    step: number of completed train steps, an int32 scalar.
    generator: generator parameters, BatchNorm statistics and Adam state.
    discriminator: the same for the discriminator.
    rng: raw key data (uint32) of the run's root PRNG key, from which the
      loop derives every per-step and per-epoch key with `fold_in`.
  """

  step: jax.Array
  generator: ModelState
  discriminator: ModelState
  rng: jax.Array


@dataclasses.dataclass(frozen=True)
class GAN:
  """The static parts of a GAN: networks, optimizers and losses."""

  generator: Any
  discriminator: Any
  generator_optimizer: optax.GradientTransformation
  discriminator_optimizer: optax.GradientTransformation
  discriminator_loss: Callable[[jax.Array, jax.Array], jax.Array]
  generator_loss: Callable[[jax.Array], jax.Array]
  latent_dim: int


def default_conv_transpose_implementation():
  """Return 'phases' on the CPU, where it is much faster, and 'xla' elsewhere."""
  # NOTE: the choice for GPUs and TPUs is the library default, not a measurement.
  return 'phases' if jax.default_backend() == 'cpu' else 'xla'


def create_gan(config) -> GAN:
  """Build networks, Adam optimizers and losses from a config."""
  if config.model != 'dcgan':
    raise ValueError(f"unknown model {config.model!r}: expected 'dcgan'")
  if config.loss not in losses.LOSSES:
    raise ValueError(f'unknown loss {config.loss!r}: expected one of {sorted(losses.LOSSES)}')

  param_dtype = jnp.dtype(config.param_dtype)
  discriminator_loss, generator_loss = losses.LOSSES[config.loss]
  if config.loss in losses.CROSS_ENTROPY_LOSSES:
    discriminator_loss = functools.partial(discriminator_loss, real_label=config.real_label)
  adam = functools.partial(optax.adam, learning_rate=config.learning_rate,
                           b1=config.beta1, b2=config.beta2, eps=1e-8)
  return GAN(
      generator=models.Generator(
          features=config.generator_features,
          conv_transpose_implementation=default_conv_transpose_implementation(),
          param_dtype=param_dtype),
      discriminator=models.Discriminator(
          features=config.discriminator_features, param_dtype=param_dtype),
      generator_optimizer=adam(),
      discriminator_optimizer=adam(),
      discriminator_loss=discriminator_loss,
      generator_loss=generator_loss,
      latent_dim=config.latent_dim,
  )


def create_train_state(gan: GAN, rng: jax.Array, param_dtype=jnp.float32) -> TrainState:
  """Initialize both networks and their optimizers from one PRNG key."""
  generator_key, discriminator_key, run_key = jax.random.split(rng, 3)
  generator_variables = gan.generator.init(
      generator_key, jnp.zeros((1, gan.latent_dim), param_dtype), train=False)
  discriminator_variables = gan.discriminator.init(
      discriminator_key, jnp.zeros((1, 28, 28, 1), param_dtype), train=False)

  def model_state(variables, optimizer):
    return ModelState(params=variables['params'], batch_stats=variables['batch_stats'],
                      opt_state=optimizer.init(variables['params']))

  return TrainState(
      step=jnp.zeros((), jnp.int32),
      generator=model_state(generator_variables, gan.generator_optimizer),
      discriminator=model_state(discriminator_variables, gan.discriminator_optimizer),
      rng=jax.random.key_data(run_key),
  )


def train_step(state: TrainState, batch: jax.Array, rng: jax.Array, *, gan: GAN):
  """Draw the latent noise from `rng`, then run `train_step_with_noise`.

  Args:
    state: the current training state; donated by the jitted caller.
    batch: (B, 28, 28, 1) real images in [-1, 1].
    rng: PRNG key for this step, used once for the latent noise.
    gan: networks, optimizers and losses (static).

  Returns:
    (next state, metrics), metrics being a dict of scalars on the device.
  """
  z = jax.random.normal(rng, (batch.shape[0], gan.latent_dim), batch.dtype)
  return train_step_with_noise(state, batch, z, gan=gan)


def train_step_with_noise(state: TrainState, batch: jax.Array, z: jax.Array, *, gan: GAN):
  """Run one discriminator update, then one generator update, from given latent noise.

  The generator runs forward once. Its output goes, with the gradient cut,
  into the discriminator update, and its pullback (`jax.vjp`) carries the
  generator loss gradient back to the generator parameters. PyTorch's loop
  does the same with `fake.detach()` and one `backward` through `fake`, so
  both backends update BatchNorm statistics the same number of times: the
  generator's once, the discriminator's three times (real, fake, and fake
  again in the generator update).

  Args:
    state: the current training state.
    batch: (B, 28, 28, 1) real images in [-1, 1].
    z: (B, latent_dim) latent noise for the generator.
    gan: networks, optimizers and losses (static).

  Returns:
    (next state, metrics), metrics being a dict of scalars on the device.
  """
  generator, discriminator = state.generator, state.discriminator

  def generate(generator_params):
    fake, updates = gan.generator.apply(
        {'params': generator_params, 'batch_stats': generator.batch_stats},
        z, train=True, mutable=['batch_stats'])
    return fake, updates['batch_stats']

  fake, generator_vjp, generator_batch_stats = jax.vjp(
      generate, generator.params, has_aux=True)

  def discriminate(params, batch_stats, images):
    logits, updates = gan.discriminator.apply(
        {'params': params, 'batch_stats': batch_stats},
        images, train=True, mutable=['batch_stats'])
    return logits, updates['batch_stats']

  # (1) Discriminator update: real batch, then the generated batch as a constant.
  def discriminator_loss_fn(params):
    real_logits, batch_stats = discriminate(params, discriminator.batch_stats, batch)
    fake_logits, batch_stats = discriminate(params, batch_stats, jax.lax.stop_gradient(fake))
    loss = gan.discriminator_loss(real_logits, fake_logits)
    return loss, (batch_stats, real_logits, fake_logits)

  (d_loss, (d_batch_stats, real_logits, fake_logits)), d_grads = jax.value_and_grad(
      discriminator_loss_fn, has_aux=True)(discriminator.params)
  d_updates, d_opt_state = gan.discriminator_optimizer.update(
      d_grads, discriminator.opt_state, discriminator.params)
  d_params = optax.apply_updates(discriminator.params, d_updates)

  # (2) Generator update through the updated discriminator.
  def generator_loss_fn(fake_images):
    logits, batch_stats = discriminate(d_params, d_batch_stats, fake_images)
    return gan.generator_loss(logits), batch_stats

  (g_loss, d_batch_stats), fake_grad = jax.value_and_grad(
      generator_loss_fn, has_aux=True)(fake)
  (g_grads,) = generator_vjp(fake_grad)
  g_updates, g_opt_state = gan.generator_optimizer.update(
      g_grads, generator.opt_state, generator.params)
  g_params = optax.apply_updates(generator.params, g_updates)

  next_state = state.replace(
      step=state.step + 1,
      generator=ModelState(g_params, generator_batch_stats, g_opt_state),
      discriminator=ModelState(d_params, d_batch_stats, d_opt_state),
  )
  metrics = {
      'd_loss': d_loss,
      'g_loss': g_loss,
      'real_score': jnp.mean(jax.nn.sigmoid(real_logits)),
      'fake_score': jnp.mean(jax.nn.sigmoid(fake_logits)),
  }
  return next_state, metrics


def make_train_step(gan: GAN):
  """Return `train_step` bound to `gan` and jit-compiled, the old state donated."""
  return jax.jit(functools.partial(train_step, gan=gan), donate_argnums=0)


def run_keys(rng: jax.Array):
  """Derive the run's (shuffle, noise, sample) keys from the raw root key data in TrainState.rng."""
  root = jax.random.wrap_key_data(rng)
  return tuple(jax.random.fold_in(root, purpose) for purpose in range(3))


def train_step_on_dataset(state: TrainState, images: jax.Array, permutation: jax.Array, *,
                          gan: GAN, steps_per_epoch: int, batch_size: int) -> tuple:
  """Take batch number `state.step % steps_per_epoch` of the epoch's order and run `train_step` on it.

  The batch index and the step's noise key come from `state.step` on the
  device, so a step copies nothing from the host.

  Args:
    state: the current training state.
    images: (N, 28, 28, 1) uint8 training images on the device.
    permutation: (N,) image order of the current epoch.
    gan: networks, optimizers and losses (static).
    steps_per_epoch: full batches per epoch (static).
    batch_size: B (static).
  """
  _, noise_key, _ = run_keys(state.rng)
  dtype = jax.tree.leaves(state.generator.params)[0].dtype
  batch = input_pipeline.get_batch(images, permutation, state.step % steps_per_epoch, batch_size,
                                   dtype)
  return train_step(state, batch, jax.random.fold_in(noise_key, state.step), gan=gan)


def make_train_step_on_dataset(gan: GAN, steps_per_epoch: int, batch_size: int):
  """Return `train_step_on_dataset` with its static arguments bound, jit-compiled, the old state donated."""
  return jax.jit(functools.partial(train_step_on_dataset, gan=gan,
                                   steps_per_epoch=steps_per_epoch, batch_size=batch_size),
                 donate_argnums=0)


def generate_samples(gan: GAN, generator: ModelState, z: jax.Array) -> jax.Array:
  """Generate images (B, 28, 28, 1) in [-1, 1] with the running BatchNorm statistics."""
  return gan.generator.apply(
      {'params': generator.params, 'batch_stats': generator.batch_stats}, z, train=False)
