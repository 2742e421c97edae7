"""The 28x28 DCGAN and the MLP GAN for MNIST in PyTorch, NCHW layout.

The generator and discriminator mirror `jax_gan/models.py` layer for layer
and name for name; only the layout differs (NCHW here, NHWC in JAX).
Shapes in the comments are for the default widths (`features=64`).
"""

import contextlib

import torch
from torch import nn


def compute_context(x: torch.Tensor, compute_dtype):
  """Return torch.autocast to bfloat16 on x's device when compute_dtype is torch.bfloat16, else a no-op context."""
  if compute_dtype == torch.bfloat16:
    return torch.autocast(x.device.type, dtype=torch.bfloat16)
  return contextlib.nullcontext()


def dcgan_init_(module: nn.Module) -> None:
  """Apply the DCGAN initialization (Radford et al., 2016, section 4) to one module, in place.

  Every weight is drawn from N(0, 0.02), BatchNorm scale from N(1, 0.02), and
  every bias is 0.
  """
  if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
    nn.init.normal_(module.weight, 0.0, 0.02)
    if module.bias is not None:
      nn.init.zeros_(module.bias)
  elif isinstance(module, nn.BatchNorm2d):
    nn.init.normal_(module.weight, 1.0, 0.02)
    nn.init.zeros_(module.bias)


class Generator(nn.Module):
  """DCGAN generator: latent vector (B, latent_dim) -> image (B, 1, 28, 28) in [-1, 1].

  compute_dtype torch.bfloat16 runs the layers under torch.autocast (mixed
  precision); None computes in the parameters' dtype. The output image is in
  the parameters' dtype.
  """

  def __init__(self, latent_dim: int = 100, features: int = 64, compute_dtype=None):
    super().__init__()
    self.features = features
    self.compute_dtype = compute_dtype
    self.project = nn.Linear(latent_dim, 7 * 7 * 4 * features, bias=False)
    self.project_bn = nn.BatchNorm2d(4 * features)
    self.conv_transpose1 = nn.ConvTranspose2d(4 * features, 2 * features, 4, stride=2,
                                              padding=1, bias=False)
    self.conv_transpose1_bn = nn.BatchNorm2d(2 * features)
    self.conv_transpose2 = nn.ConvTranspose2d(2 * features, 1, 4, stride=2, padding=1,
                                              bias=True)
    self.apply(dcgan_init_)

  def forward(self, z: torch.Tensor) -> torch.Tensor:
    with compute_context(z, self.compute_dtype):
      x = self.project(z)  # (B, 12544)
      x = x.view(z.shape[0], 4 * self.features, 7, 7)  # (B, 256, 7, 7)
      x = torch.relu(self.project_bn(x))

      x = self.conv_transpose1(x)  # (B, 128, 14, 14)
      x = torch.relu(self.conv_transpose1_bn(x))

      x = self.conv_transpose2(x)  # (B, 1, 28, 28)
      x = torch.tanh(x)
    return x.to(self.project.weight.dtype)


class Discriminator(nn.Module):
  """DCGAN discriminator: image (B, 1, 28, 28) -> one logit per image, (B,).

  `normalization` after the second convolution is 'batch_norm' (the DCGAN
  paper), 'layer_norm' (normalizes each sample over its channels and pixels,
  with a scale and bias per channel: the WGAN-GP paper's choice for its
  critic) or 'none'. compute_dtype is as in Generator; the logits are in the
  parameters' dtype.
  """

  def __init__(self, features: int = 64, normalization: str = 'batch_norm', compute_dtype=None):
    super().__init__()
    self.compute_dtype = compute_dtype
    self.conv1 = nn.Conv2d(1, features, 4, stride=2, padding=1, bias=True)
    # A bias before a normalization layer would be cancelled by it.
    self.conv2 = nn.Conv2d(features, 2 * features, 4, stride=2, padding=1,
                           bias=normalization == 'none')
    if normalization == 'batch_norm':
      self.conv2_bn = nn.BatchNorm2d(2 * features)
    elif normalization == 'layer_norm':
      # One group: statistics over (128, 7, 7) per sample.
      self.conv2_ln = nn.GroupNorm(1, 2 * features, eps=1e-5)
    elif normalization != 'none':
      raise ValueError(f"invalid normalization {normalization!r}: expected 'batch_norm', "
                       "'layer_norm' or 'none'")
    self.normalization = normalization
    self.dense = nn.Linear(2 * features * 7 * 7, 1)
    self.apply(dcgan_init_)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    with compute_context(x, self.compute_dtype):
      x = self.conv1(x)  # (B, 64, 14, 14)
      x = nn.functional.leaky_relu(x, 0.2)

      x = self.conv2(x)  # (B, 128, 7, 7)
      if self.normalization == 'batch_norm':
        x = self.conv2_bn(x)
      elif self.normalization == 'layer_norm':
        x = self.conv2_ln(x)
      x = nn.functional.leaky_relu(x, 0.2)

      x = x.flatten(1)  # (B, 6272), flattened in (C, H, W) order
      x = self.dense(x)  # (B, 1)
    return x[:, 0].to(self.dense.weight.dtype)  # (B,)


class MLPGenerator(nn.Module):
  """MLP generator: latent vector (B, latent_dim) -> image (B, 1, 28, 28) in [-1, 1]."""

  def __init__(self, latent_dim: int = 100, hidden_features: int = 256, compute_dtype=None):
    super().__init__()
    self.compute_dtype = compute_dtype  # as in Generator
    self.hidden = nn.Linear(latent_dim, hidden_features)
    self.output = nn.Linear(hidden_features, 28 * 28)
    self.apply(dcgan_init_)

  def forward(self, z: torch.Tensor) -> torch.Tensor:
    with compute_context(z, self.compute_dtype):
      x = nn.functional.leaky_relu(self.hidden(z), 0.2)  # (B, 256)
      x = torch.tanh(self.output(x))  # (B, 784)
    return x.to(self.output.weight.dtype).view(z.shape[0], 1, 28, 28)  # (B, 1, 28, 28)


class MLPDiscriminator(nn.Module):
  """MLP discriminator: image (B, 1, 28, 28) -> one logit per image, (B,)."""

  def __init__(self, hidden_features: int = 256, compute_dtype=None):
    super().__init__()
    self.compute_dtype = compute_dtype  # as in Discriminator
    self.hidden = nn.Linear(28 * 28, hidden_features)
    self.output = nn.Linear(hidden_features, 1)
    self.apply(dcgan_init_)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    with compute_context(x, self.compute_dtype):
      x = x.flatten(1)  # (B, 784)
      x = nn.functional.leaky_relu(self.hidden(x), 0.2)  # (B, 256)
      x = self.output(x)  # (B, 1)
    return x[:, 0].to(self.output.weight.dtype)  # (B,)


def create_models(config) -> tuple[nn.Module, nn.Module]:
  """Return (generator, discriminator) for config.model, initialized from the current torch seed.

  They compute in bfloat16 under torch.autocast when config.compute_dtype is
  'bfloat16', else in the parameters' dtype.
  """
  compute_dtype = torch.bfloat16 if config.compute_dtype == 'bfloat16' else None
  if config.model == 'dcgan':
    return (Generator(config.latent_dim, config.generator_features, compute_dtype),
            Discriminator(config.discriminator_features, config.discriminator_normalization,
                          compute_dtype))
  if config.model == 'mlp':
    return (MLPGenerator(config.latent_dim, config.hidden_features, compute_dtype),
            MLPDiscriminator(config.hidden_features, compute_dtype))
  raise ValueError(f"unknown model {config.model!r}: expected 'dcgan' or 'mlp'")
