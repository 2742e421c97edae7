"""Training state and the GAN train step in PyTorch."""

import dataclasses
import functools
from typing import Callable

import torch

from torch_gan import losses
from torch_gan import models
from torch_gan import parallel


@dataclasses.dataclass
class TrainState:
  """The whole training state; `train_step` updates it in place.

  Attributes:
    step: number of completed train steps.
    generator, discriminator: the networks, BatchNorm statistics included.
    generator_optimizer, discriminator_optimizer: their Adam optimizers.
    rng: the generator of the latent noise, whose state goes into checkpoints.
  """

  step: int
  generator: torch.nn.Module
  discriminator: torch.nn.Module
  generator_optimizer: torch.optim.Adam
  discriminator_optimizer: torch.optim.Adam
  rng: torch.Generator


@dataclasses.dataclass(frozen=True)
class GAN:
  """The static parts of a GAN: losses and sizes.

  Attributes:
    loss: the config's loss name. 'wgan_gp' selects `wgan_gp_train_step_with_noise`.
    critic_steps: discriminator updates per step, each on its own real batch.
    gradient_penalty_weight: lambda of the WGAN-GP penalty.
  """

  discriminator_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
  generator_loss: Callable[[torch.Tensor], torch.Tensor]
  latent_dim: int
  loss: str = 'non_saturating'
  critic_steps: int = 1
  gradient_penalty_weight: float = 10.0


def create_gan(config) -> GAN:
  """Pick the losses and sizes from a config."""
  if config.loss not in losses.LOSSES:
    raise ValueError(f'unknown loss {config.loss!r}: expected one of {sorted(losses.LOSSES)}')
  discriminator_loss, generator_loss = losses.LOSSES[config.loss]
  if config.loss in losses.CROSS_ENTROPY_LOSSES:
    discriminator_loss = functools.partial(discriminator_loss, real_label=config.real_label)
  return GAN(discriminator_loss=discriminator_loss, generator_loss=generator_loss,
             latent_dim=config.latent_dim, loss=config.loss, critic_steps=config.critic_steps,
             gradient_penalty_weight=config.gradient_penalty_weight)


def create_train_state(config, device, dtype=torch.float32) -> TrainState:
  """Initialize both networks and their optimizers; the parameters come from config.seed."""
  torch.manual_seed(config.seed)
  generator, discriminator = models.create_models(config)
  generator.to(device=device, dtype=dtype)
  discriminator.to(device=device, dtype=dtype)

  def adam(network):
    return torch.optim.Adam(network.parameters(), lr=config.learning_rate,
                            betas=(config.beta1, config.beta2), eps=1e-8)

  rng = torch.Generator(device=device)
  rng.manual_seed(config.seed)
  return TrainState(step=0, generator=generator, discriminator=discriminator,
                    generator_optimizer=adam(generator),
                    discriminator_optimizer=adam(discriminator), rng=rng)


def train_step(state: TrainState, batch: torch.Tensor, rng: torch.Generator, *, gan: GAN):
  """Draw the step's random numbers from `rng`, then run the loss's train step.

  Args:
    state: networks and optimizers, updated in place.
    batch: (K * B, 1, 28, 28) real images in [-1, 1], K = gan.critic_steps; B is
      the global batch when several processes train together.
    rng: draws the latent noise (and the penalty's interpolation weights).
    gan: losses and sizes.

  Returns:
    (state, metrics), metrics being a dict of scalar tensors on the device.
  """
  options = dict(generator=rng, device=batch.device, dtype=batch.dtype)
  if gan.loss == 'wgan_gp':
    steps = gan.critic_steps
    batch_size = batch.shape[0] // steps
    critic_z = torch.randn(steps, batch_size, gan.latent_dim, **options)
    interpolation = torch.rand(steps, batch_size, **options)
    z = torch.randn(batch_size, gan.latent_dim, **options)
    batches = batch.view((steps, batch_size) + batch.shape[1:])  # (K, B, 1, 28, 28)
    # Under torchrun each process keeps its slice of the global batch and noise.
    batches, critic_z, interpolation = (parallel.split_batch(value, batch_axis=1)
                                        for value in (batches, critic_z, interpolation))
    return wgan_gp_train_step_with_noise(state, batches, critic_z, interpolation,
                                         parallel.split_batch(z), gan=gan)
  z = torch.randn(batch.shape[0], gan.latent_dim, **options)
  return train_step_with_noise(state, parallel.split_batch(batch), parallel.split_batch(z),
                               gan=gan)


def train_step_with_noise(state: TrainState, batch: torch.Tensor, z: torch.Tensor, *, gan: GAN):
  """Run one discriminator update, then one generator update, in place, from given latent noise.

  The generator runs forward once. The discriminator update gets its output
  detached, and the generator update backpropagates through the same output,
  as `jax_gan.train_step.train_step_with_noise` does with `jax.vjp`. BatchNorm statistics
  are updated once in the generator and three times in the discriminator
  (real, fake, and fake again in the generator update).

  Args:
    state: networks and optimizers, updated in place.
    batch: (B, 1, 28, 28) real images in [-1, 1].
    z: (B, latent_dim) latent noise for the generator.
    gan: losses and sizes.

  Returns:
    (state, metrics), metrics being a dict of scalar tensors on the device.
  """
  generator, discriminator = state.generator, state.discriminator
  generator.train()
  discriminator.train()
  fake = generator(z)

  # (1) Discriminator update: real batch, then the generated batch as a constant.
  state.discriminator_optimizer.zero_grad(set_to_none=True)
  real_logits = discriminator(batch)
  fake_logits = discriminator(fake.detach())
  d_loss = gan.discriminator_loss(real_logits, fake_logits)
  d_loss.backward()
  state.discriminator_optimizer.step()

  # (2) Generator update through the updated discriminator.
  state.generator_optimizer.zero_grad(set_to_none=True)
  g_loss = gan.generator_loss(discriminator(fake))
  g_loss.backward()
  state.generator_optimizer.step()

  state.step += 1
  metrics = {
      'd_loss': d_loss.detach(),
      'g_loss': g_loss.detach(),
      'real_score': torch.sigmoid(real_logits.detach()).mean(),
      'fake_score': torch.sigmoid(fake_logits.detach()).mean(),
  }
  return state, metrics


def wgan_gp_train_step_with_noise(state: TrainState, batches: torch.Tensor, critic_z: torch.Tensor,
                                  interpolation: torch.Tensor, z: torch.Tensor, *, gan: GAN):
  """Run K critic updates, then one generator update, in place, as in WGAN-GP's Algorithm 1.

  Critic update k takes real batch k, generates a batch from critic_z[k]
  without gradient, and minimizes
    mean(D(G(z))) - mean(D(x)) + gradient_penalty(D, x, G(z), interpolation[k]).
  The generator update then generates from its own noise z and minimizes
  -mean(D(G(z))) through the updated critic. The generator runs in train mode
  K + 1 times, so its BatchNorm statistics are updated K + 1 times, as in
  `jax_gan.train_step.wgan_gp_train_step_with_noise`.

  Args:
    state: networks and optimizers, updated in place.
    batches: (K, B, 1, 28, 28) real images in [-1, 1], one batch per critic update.
    critic_z: (K, B, latent_dim) latent noise of the critic updates.
    interpolation: (K, B) interpolation weights in [0, 1] of the penalty.
    z: (B, latent_dim) latent noise of the generator update.
    gan: losses and sizes.

  Returns:
    (state, metrics): d_loss, gradient_penalty and wasserstein_distance are
    means over the K critic updates.
  """
  generator, critic = state.generator, state.discriminator
  generator.train()
  critic.train()
  critic_metrics = []
  for real, noise, weights in zip(batches, critic_z, interpolation):
    with torch.no_grad():
      fake = generator(noise)
    state.discriminator_optimizer.zero_grad(set_to_none=True)
    distance_loss = gan.discriminator_loss(critic(real), critic(fake))
    penalty = losses.gradient_penalty(critic, real, fake, weights, gan.gradient_penalty_weight)
    d_loss = distance_loss + penalty
    d_loss.backward()
    state.discriminator_optimizer.step()
    critic_metrics.append(torch.stack([d_loss.detach(), penalty.detach(), -distance_loss.detach()]))

  state.generator_optimizer.zero_grad(set_to_none=True)
  g_loss = gan.generator_loss(critic(generator(z)))
  g_loss.backward()
  state.generator_optimizer.step()

  state.step += 1
  d_loss, penalty, distance = torch.stack(critic_metrics).mean(dim=0)
  metrics = {'d_loss': d_loss, 'gradient_penalty': penalty, 'wasserstein_distance': distance,
             'g_loss': g_loss.detach()}
  return state, metrics


@torch.no_grad()
def generate_samples(generator: torch.nn.Module, z: torch.Tensor) -> torch.Tensor:
  """Generate images (B, 1, 28, 28) in [-1, 1] with the running BatchNorm statistics."""
  was_training = generator.training
  generator.eval()
  images = generator(z)
  generator.train(was_training)
  return images
