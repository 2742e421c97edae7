"""Training state and the GAN train step in PyTorch."""

import dataclasses
import functools
from typing import Callable

import torch

from torch_gan import losses
from torch_gan import models


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
  generator: models.Generator
  discriminator: models.Discriminator
  generator_optimizer: torch.optim.Adam
  discriminator_optimizer: torch.optim.Adam
  rng: torch.Generator


@dataclasses.dataclass(frozen=True)
class GAN:
  """The static parts of a GAN: losses and sizes."""

  discriminator_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
  generator_loss: Callable[[torch.Tensor], torch.Tensor]
  latent_dim: int


def create_gan(config) -> GAN:
  """Pick the losses and sizes from a config."""
  if config.model != 'dcgan':
    raise ValueError(f"unknown model {config.model!r}: expected 'dcgan'")
  if config.loss not in losses.LOSSES:
    raise ValueError(f'unknown loss {config.loss!r}: expected one of {sorted(losses.LOSSES)}')
  discriminator_loss, generator_loss = losses.LOSSES[config.loss]
  if config.loss in losses.CROSS_ENTROPY_LOSSES:
    discriminator_loss = functools.partial(discriminator_loss, real_label=config.real_label)
  return GAN(discriminator_loss=discriminator_loss, generator_loss=generator_loss,
             latent_dim=config.latent_dim)


def create_train_state(config, device, dtype=torch.float32) -> TrainState:
  """Initialize both networks and their optimizers; the parameters come from config.seed."""
  torch.manual_seed(config.seed)
  generator = models.Generator(config.latent_dim, config.generator_features)
  discriminator = models.Discriminator(config.discriminator_features)
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
  """Draw the latent noise from `rng`, then run `train_step_with_noise`.

  Args:
    state: networks and optimizers, updated in place.
    batch: (B, 1, 28, 28) real images in [-1, 1].
    rng: draws the latent noise.
    gan: losses and sizes.

  Returns:
    (state, metrics), metrics being a dict of scalar tensors on the device.
  """
  z = torch.randn(batch.shape[0], gan.latent_dim, generator=rng, device=batch.device,
                  dtype=batch.dtype)
  return train_step_with_noise(state, batch, z, gan=gan)


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


@torch.no_grad()
def generate_samples(generator: models.Generator, z: torch.Tensor) -> torch.Tensor:
  """Generate images (B, 1, 28, 28) in [-1, 1] with the running BatchNorm statistics."""
  was_training = generator.training
  generator.eval()
  images = generator(z)
  generator.train(was_training)
  return images
