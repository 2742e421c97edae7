"""Tests of the PyTorch DCGAN: shapes and initialization."""

import pytest
import torch

from torch_gan import models


@pytest.mark.parametrize('batch', [1, 7, 64])
def test_generator_output_shape_and_range(batch):
  torch.manual_seed(0)
  generator = models.Generator()
  images = generator(torch.randn(batch, 100))
  assert images.shape == (batch, 1, 28, 28)
  assert images.dtype == torch.float32
  assert images.abs().max().item() <= 1.0


@pytest.mark.parametrize('batch', [1, 7, 64])
def test_discriminator_output_shape(batch):
  torch.manual_seed(0)
  discriminator = models.Discriminator().eval()
  logits = discriminator(torch.rand(batch, 1, 28, 28) * 2 - 1)
  assert logits.shape == (batch,)
  assert logits.dtype == torch.float32


def test_parameter_shapes():
  shapes = {name: tuple(p.shape) for name, p in models.Generator().named_parameters()}
  assert shapes == {
      'project.weight': (12544, 100),
      'project_bn.weight': (256,), 'project_bn.bias': (256,),
      'conv_transpose1.weight': (256, 128, 4, 4),
      'conv_transpose1_bn.weight': (128,), 'conv_transpose1_bn.bias': (128,),
      'conv_transpose2.weight': (128, 1, 4, 4), 'conv_transpose2.bias': (1,),
  }
  shapes = {name: tuple(p.shape) for name, p in models.Discriminator().named_parameters()}
  assert shapes == {
      'conv1.weight': (64, 1, 4, 4), 'conv1.bias': (64,),
      'conv2.weight': (128, 64, 4, 4),
      'conv2_bn.weight': (128,), 'conv2_bn.bias': (128,),
      'dense.weight': (1, 6272), 'dense.bias': (1,),
  }


def test_dcgan_initialization_statistics():
  torch.manual_seed(0)
  generator = models.Generator()
  # 524,288 weights from N(0, 0.02): the sample std is within 1% of 0.02.
  weight = generator.conv_transpose1.weight.detach()
  assert abs(weight.std().item() - 0.02) < 0.0002
  assert abs(weight.mean().item()) < 0.0002
  scale = generator.project_bn.weight.detach()
  assert abs(scale.mean().item() - 1.0) < 0.01
  assert 0.01 < scale.std().item() < 0.03
  assert torch.equal(generator.conv_transpose2.bias.detach(), torch.zeros(1))
  assert generator.project_bn.momentum == 0.1
  assert generator.project_bn.eps == 1e-5
