"""The 28x28 DCGAN for MNIST in PyTorch, NCHW layout.

The generator and discriminator mirror `jax_gan/models.py` layer for layer
and name for name; only the layout differs (NCHW here, NHWC in JAX).
Shapes in the comments are for the default widths (`features=64`).
"""

import torch
from torch import nn


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
  """DCGAN generator: latent vector (B, latent_dim) -> image (B, 1, 28, 28) in [-1, 1]."""

  def __init__(self, latent_dim: int = 100, features: int = 64):
    super().__init__()
    self.features = features
    self.project = nn.Linear(latent_dim, 7 * 7 * 4 * features, bias=False)
    self.project_bn = nn.BatchNorm2d(4 * features)
    self.conv_transpose1 = nn.ConvTranspose2d(4 * features, 2 * features, 4, stride=2,
                                              padding=1, bias=False)
    self.conv_transpose1_bn = nn.BatchNorm2d(2 * features)
    self.conv_transpose2 = nn.ConvTranspose2d(2 * features, 1, 4, stride=2, padding=1,
                                              bias=True)
    self.apply(dcgan_init_)

  def forward(self, z: torch.Tensor) -> torch.Tensor:
    x = self.project(z)  # (B, 12544)
    x = x.view(z.shape[0], 4 * self.features, 7, 7)  # (B, 256, 7, 7)
    x = torch.relu(self.project_bn(x))

    x = self.conv_transpose1(x)  # (B, 128, 14, 14)
    x = torch.relu(self.conv_transpose1_bn(x))

    x = self.conv_transpose2(x)  # (B, 1, 28, 28)
    return torch.tanh(x)


class Discriminator(nn.Module):
  """DCGAN discriminator: image (B, 1, 28, 28) -> one logit per image, (B,)."""

  def __init__(self, features: int = 64):
    super().__init__()
    self.conv1 = nn.Conv2d(1, features, 4, stride=2, padding=1, bias=True)
    self.conv2 = nn.Conv2d(features, 2 * features, 4, stride=2, padding=1, bias=False)
    self.conv2_bn = nn.BatchNorm2d(2 * features)
    self.dense = nn.Linear(2 * features * 7 * 7, 1)
    self.apply(dcgan_init_)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    x = self.conv1(x)  # (B, 64, 14, 14)
    x = nn.functional.leaky_relu(x, 0.2)

    x = self.conv2(x)  # (B, 128, 7, 7)
    x = nn.functional.leaky_relu(self.conv2_bn(x), 0.2)

    x = x.flatten(1)  # (B, 6272), flattened in (C, H, W) order
    x = self.dense(x)  # (B, 1)
    return x[:, 0]  # (B,)
