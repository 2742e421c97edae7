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
from jax_gan import parallel


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
  """The static parts of a GAN: networks, optimizers and losses.

  Attributes:
    loss: the config's loss name. 'wgan_gp' selects `wgan_gp_train_step_with_noise`.
    critic_steps: discriminator updates per step, each on its own real batch.
    gradient_penalty_weight: lambda of the WGAN-GP penalty.
    mesh: the device mesh of `jax_gan.parallel` that the batch is split over,
      or None for one device.
  """

  generator: Any
  discriminator: Any
  generator_optimizer: optax.GradientTransformation
  discriminator_optimizer: optax.GradientTransformation
  discriminator_loss: Callable[[jax.Array, jax.Array], jax.Array]
  generator_loss: Callable[[jax.Array], jax.Array]
  latent_dim: int
  loss: str = 'non_saturating'
  critic_steps: int = 1
  gradient_penalty_weight: float = 10.0
  mesh: Any = None


def default_conv_transpose_implementation():
  """Return 'cpu' on the CPU, where it is much faster, and 'xla' elsewhere."""
  # NOTE: the choice for GPUs and TPUs is the library default, not a measurement.
  return 'cpu' if jax.default_backend() == 'cpu' else 'xla'


def create_gan(config, conv_transpose_implementation: str | None = None, mesh=None) -> GAN:
  """Build networks, Adam optimizers and losses from a config.

  Args:
    config: the experiment config.
    conv_transpose_implementation: one of `models.CONV_TRANSPOSE_IMPLEMENTATIONS` for the DCGAN generator;
      None picks the faster one for the default backend.
    mesh: a `jax_gan.parallel` mesh to split each batch over, or None.
  """
  if config.loss not in losses.LOSSES:
    raise ValueError(f'unknown loss {config.loss!r}: expected one of {sorted(losses.LOSSES)}')
  generator, discriminator = models.create_models(
      config, conv_transpose_implementation or default_conv_transpose_implementation())
  discriminator_loss, generator_loss = losses.LOSSES[config.loss]
  if config.loss in losses.CROSS_ENTROPY_LOSSES:
    discriminator_loss = functools.partial(discriminator_loss, real_label=config.real_label)
  adam = functools.partial(optax.adam, learning_rate=config.learning_rate,
                           b1=config.beta1, b2=config.beta2, eps=1e-8)
  return GAN(
      generator=generator,
      discriminator=discriminator,
      generator_optimizer=adam(),
      discriminator_optimizer=adam(),
      discriminator_loss=discriminator_loss,
      generator_loss=generator_loss,
      latent_dim=config.latent_dim,
      loss=config.loss,
      critic_steps=config.critic_steps,
      gradient_penalty_weight=config.gradient_penalty_weight,
      mesh=mesh,
  )


def create_train_state(gan: GAN, rng: jax.Array, param_dtype=jnp.float32) -> TrainState:
  """Initialize both networks and their optimizers from one PRNG key."""
  generator_key, discriminator_key, run_key = jax.random.split(rng, 3)
  generator_variables = gan.generator.init(
      generator_key, jnp.zeros((1, gan.latent_dim), param_dtype), train=False)
  discriminator_variables = gan.discriminator.init(
      discriminator_key, jnp.zeros((1, 28, 28, 1), param_dtype), train=False)

  def model_state(variables, optimizer):
    # Networks without BatchNorm (the MLPs, a layer-norm critic) have no batch_stats.
    return ModelState(params=variables['params'], batch_stats=variables.get('batch_stats', {}),
                      opt_state=optimizer.init(variables['params']))

  return TrainState(
      step=jnp.zeros((), jnp.int32),
      generator=model_state(generator_variables, gan.generator_optimizer),
      discriminator=model_state(discriminator_variables, gan.discriminator_optimizer),
      rng=jax.random.key_data(run_key),
  )


def train_step(state: TrainState, batch: jax.Array, rng: jax.Array, *, gan: GAN):
  """Draw the step's random numbers from `rng`, then run the loss's train step.

  Args:
    state: the current training state; donated by the jitted caller.
    batch: (K * B, 28, 28, 1) real images in [-1, 1], K = gan.critic_steps.
    rng: PRNG key for this step.
    gan: networks, optimizers and losses (static).

  Returns:
    (next state, metrics), metrics being a dict of scalars on the device.
  """
  if gan.loss == 'wgan_gp':
    steps = gan.critic_steps
    batch_size = batch.shape[0] // steps
    critic_key, interpolation_key, generator_key = jax.random.split(rng, 3)
    critic_z = jax.random.normal(critic_key, (steps, batch_size, gan.latent_dim), batch.dtype)
    interpolation = jax.random.uniform(interpolation_key, (steps, batch_size), batch.dtype)
    z = jax.random.normal(generator_key, (batch_size, gan.latent_dim), batch.dtype)
    batches = batch.reshape((steps, batch_size) + batch.shape[1:])  # (K, B, 28, 28, 1)
    batches, critic_z, interpolation = (split_batch(gan, value, batch_axis=1)
                                        for value in (batches, critic_z, interpolation))
    return wgan_gp_train_step_with_noise(state, batches, critic_z, interpolation,
                                         split_batch(gan, z), gan=gan)
  z = jax.random.normal(rng, (batch.shape[0], gan.latent_dim), batch.dtype)
  return train_step_with_noise(state, split_batch(gan, batch), split_batch(gan, z), gan=gan)


def split_batch(gan: GAN, value: jax.Array, batch_axis: int = 0) -> jax.Array:
  """Split `value` along its batch axis over the devices of gan.mesh; unchanged without a mesh.

  The split changes where each sample is computed, not the values: random
  numbers drawn before it are the same on any number of devices.
  """
  if gan.mesh is None:
    return value
  return jax.lax.with_sharding_constraint(value, parallel.batch_sharding(gan.mesh, batch_axis))


def apply_in_train_mode(module, params, batch_stats, inputs):
  """Run `module` in train mode and return (outputs, its updated BatchNorm statistics)."""
  outputs, updates = module.apply({'params': params, 'batch_stats': batch_stats}, inputs,
                                  train=True, mutable=['batch_stats'])
  return outputs, updates.get('batch_stats', batch_stats)


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
    return apply_in_train_mode(gan.generator, generator_params, generator.batch_stats, z)

  fake, generator_vjp, generator_batch_stats = jax.vjp(
      generate, generator.params, has_aux=True)

  def discriminate(params, batch_stats, images):
    return apply_in_train_mode(gan.discriminator, params, batch_stats, images)

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


def wgan_gp_train_step_with_noise(state: TrainState, batches: jax.Array, critic_z: jax.Array,
                                  interpolation: jax.Array, z: jax.Array, *, gan: GAN):
  """Run K critic updates, then one generator update, as in WGAN-GP's Algorithm 1.

  Critic update k takes real batch k, generates a batch from critic_z[k] with
  the gradient cut, and minimizes
    mean(D(G(z))) - mean(D(x)) + gradient_penalty(D, x, G(z), interpolation[k]).
  The generator update then generates from its own noise z and minimizes
  -mean(D(G(z))) through the updated critic. The generator runs in train mode
  K + 1 times, so its BatchNorm statistics are updated K + 1 times, as in
  PyTorch. The critic must have no BatchNorm (`configuration.validate`
  checks it): the penalty needs each sample's gradient on its own.

  Args:
    state: the current training state.
    batches: (K, B, 28, 28, 1) real images in [-1, 1], one batch per critic update.
    critic_z: (K, B, latent_dim) latent noise of the critic updates.
    interpolation: (K, B) interpolation weights in [0, 1] of the penalty.
    z: (B, latent_dim) latent noise of the generator update.
    gan: networks, optimizers and losses (static).

  Returns:
    (next state, metrics): d_loss, gradient_penalty and wasserstein_distance
    are means over the K critic updates.
  """
  generator = state.generator

  def critic(params, images):
    return gan.discriminator.apply({'params': params}, images, train=True)

  def critic_update(carry, inputs):
    params, opt_state, generator_batch_stats = carry
    real, noise, weights = inputs
    fake, generator_batch_stats = apply_in_train_mode(
        gan.generator, generator.params, generator_batch_stats, noise)
    fake = jax.lax.stop_gradient(fake)

    def loss_fn(params):
      distance_loss = gan.discriminator_loss(critic(params, real), critic(params, fake))
      penalty = losses.gradient_penalty(functools.partial(critic, params), real, fake, weights,
                                        gan.gradient_penalty_weight)
      return distance_loss + penalty, (distance_loss, penalty)

    (loss, (distance_loss, penalty)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt_state = gan.discriminator_optimizer.update(grads, opt_state, params)
    params = optax.apply_updates(params, updates)
    metrics = {'d_loss': loss, 'gradient_penalty': penalty, 'wasserstein_distance': -distance_loss}
    return (params, opt_state, generator_batch_stats), metrics

  # A Python loop, unrolled at trace time, not lax.scan: inside an XLA:CPU
  # while loop a convolution's weight gradient runs about 50 times slower
  # (see PERFORMANCE.md).
  carry = (state.discriminator.params, state.discriminator.opt_state, generator.batch_stats)
  critic_metrics = []
  for k in range(batches.shape[0]):
    carry, metrics = critic_update(carry, (batches[k], critic_z[k], interpolation[k]))
    critic_metrics.append(metrics)
  d_params, d_opt_state, generator_batch_stats = carry
  critic_metrics = jax.tree.map(lambda *values: jnp.stack(values), *critic_metrics)

  def generate(generator_params):
    return apply_in_train_mode(gan.generator, generator_params, generator_batch_stats, z)

  fake, generator_vjp, generator_batch_stats = jax.vjp(generate, generator.params, has_aux=True)
  g_loss, fake_grad = jax.value_and_grad(
      lambda images: gan.generator_loss(critic(d_params, images)))(fake)
  (g_grads,) = generator_vjp(fake_grad)
  g_updates, g_opt_state = gan.generator_optimizer.update(
      g_grads, generator.opt_state, generator.params)
  g_params = optax.apply_updates(generator.params, g_updates)

  next_state = state.replace(
      step=state.step + 1,
      generator=ModelState(g_params, generator_batch_stats, g_opt_state),
      discriminator=ModelState(d_params, state.discriminator.batch_stats, d_opt_state),
  )
  metrics = {name: jnp.mean(values) for name, values in critic_metrics.items()}
  metrics['g_loss'] = g_loss
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
  device, so a step copies nothing from the host. A step takes
  gan.critic_steps * batch_size images.

  Args:
    state: the current training state.
    images: (N, 28, 28, 1) uint8 training images on the device.
    permutation: (N,) image order of the current epoch.
    gan: networks, optimizers and losses (static).
    steps_per_epoch: steps per epoch (static).
    batch_size: B (static).
  """
  _, noise_key, _ = run_keys(state.rng)
  dtype = jax.tree.leaves(state.generator.params)[0].dtype
  batch = input_pipeline.get_batch(images, permutation, state.step % steps_per_epoch,
                                   gan.critic_steps * batch_size, dtype)
  return train_step(state, batch, jax.random.fold_in(noise_key, state.step), gan=gan)


def _jit_on_mesh(function, gan: GAN):
  """Return `function(state, images, permutation)` jit-compiled, the old state donated.

  On a mesh every input and output is replicated on every device; only the
  batch inside is split (`split_batch`).
  """
  if gan.mesh is None:
    return jax.jit(function, donate_argnums=0)
  replicated = parallel.replicated(gan.mesh)
  return jax.jit(function, donate_argnums=0, in_shardings=(replicated,) * 3,
                 out_shardings=(replicated, replicated))


def make_train_step_on_dataset(gan: GAN, steps_per_epoch: int, batch_size: int):
  """Return `train_step_on_dataset` with its static arguments bound, jit-compiled, the old state donated."""
  return _jit_on_mesh(functools.partial(train_step_on_dataset, gan=gan,
                                        steps_per_epoch=steps_per_epoch, batch_size=batch_size),
                      gan)


def default_scan_unroll():
  """Return the `lax.scan` unroll for fused steps: all of them on the CPU, none elsewhere.

  Inside an XLA:CPU while loop a convolution's weight gradient runs about 50
  times slower (see PERFORMANCE.md), so on the CPU the fused steps are
  unrolled into straight-line code. On other devices this is the library
  default, not a measurement.
  """
  return True if jax.default_backend() == 'cpu' else 1


def train_steps_on_dataset(state: TrainState, images: jax.Array, permutation: jax.Array, *,
                           gan: GAN, steps_per_epoch: int, batch_size: int, num_steps: int,
                           unroll=1):
  """Run `num_steps` calls of `train_step_on_dataset` fused into one `lax.scan`.

  The steps must lie in one epoch, because they share `permutation`. With
  unroll=True the steps are unrolled at trace time into straight-line code.

  Returns:
    (state after the last step, metrics of every step stacked along axis 0).
  """
  def body(state, _):
    return train_step_on_dataset(state, images, permutation, gan=gan,
                                 steps_per_epoch=steps_per_epoch, batch_size=batch_size)

  if unroll is True:
    # A Python loop: lax.scan(unroll=True) still ran a one-trip XLA:CPU while
    # loop for num_steps = 1, as slowly as a rolled one.
    all_metrics = []
    for _ in range(num_steps):
      state, metrics = body(state, None)
      all_metrics.append(metrics)
    return state, jax.tree.map(lambda *values: jnp.stack(values), *all_metrics)
  return jax.lax.scan(body, state, length=num_steps, unroll=unroll)


def make_train_steps_on_dataset(gan: GAN, steps_per_epoch: int, batch_size: int, num_steps: int,
                                unroll=None):
  """Return `train_steps_on_dataset` with its static arguments bound, jit-compiled, the old state donated.

  `unroll` None means `default_scan_unroll()`.
  """
  unroll = default_scan_unroll() if unroll is None else unroll
  return _jit_on_mesh(functools.partial(train_steps_on_dataset, gan=gan,
                                        steps_per_epoch=steps_per_epoch, batch_size=batch_size,
                                        num_steps=num_steps, unroll=unroll),
                      gan)


def generate_samples(gan: GAN, generator: ModelState, z: jax.Array) -> jax.Array:
  """Generate images (B, 28, 28, 1) in [-1, 1] with the running BatchNorm statistics."""
  return gan.generator.apply(
      {'params': generator.params, 'batch_stats': generator.batch_stats}, z, train=False)
