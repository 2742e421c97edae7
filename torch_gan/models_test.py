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


def test_critic_variant_shapes():
  layer_norm = models.Discriminator(normalization='layer_norm')
  assert {name: tuple(p.shape) for name, p in layer_norm.named_parameters()} == {
      'conv1.weight': (64, 1, 4, 4), 'conv1.bias': (64,),
      'conv2.weight': (128, 64, 4, 4),
      'conv2_ln.weight': (128,), 'conv2_ln.bias': (128,),
      'dense.weight': (1, 6272), 'dense.bias': (1,),
  }
  assert not list(layer_norm.buffers())  # No running statistics.
  no_norm = models.Discriminator(normalization='none')
  assert tuple(no_norm.conv2.bias.shape) == (128,)
  with pytest.raises(ValueError, match="invalid normalization 'group'"):
    models.Discriminator(normalization='group')


def test_layer_norm_critic_normalizes_each_sample():
  # The critic's output for one image must not depend on the other images of the batch.
  torch.manual_seed(0)
  critic = models.Discriminator(normalization='layer_norm').train()
  images = torch.rand(4, 1, 28, 28) * 2 - 1
  with torch.no_grad():
    together = critic(images)
    alone = torch.cat([critic(images[i:i + 1]) for i in range(4)])
  torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('batch', [1, 7])
def test_mlp_shapes(batch):
  torch.manual_seed(0)
  generator, discriminator = models.MLPGenerator(100, 32), models.MLPDiscriminator(32)
  assert {name: tuple(p.shape) for name, p in generator.named_parameters()} == {
      'hidden.weight': (32, 100), 'hidden.bias': (32,),
      'output.weight': (784, 32), 'output.bias': (784,)}
  assert {name: tuple(p.shape) for name, p in discriminator.named_parameters()} == {
      'hidden.weight': (32, 784), 'hidden.bias': (32,),
      'output.weight': (1, 32), 'output.bias': (1,)}
  images = generator(torch.randn(batch, 100))
  assert images.shape == (batch, 1, 28, 28)
  assert images.abs().max().item() <= 1.0
  assert discriminator(images).shape == (batch,)


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


@pytest.mark.parametrize('model,normalization', [
    ('dcgan', 'batch_norm'), ('dcgan', 'layer_norm'), ('mlp', 'batch_norm')])
def test_bfloat16_compute_stays_near_float32(model, normalization):
  from configs import default  # pylint: disable=g-import-not-at-top
  config = default.get_config()
  config.model = model
  config.discriminator_normalization = normalization
  torch.manual_seed(0)
  generator, discriminator = models.create_models(config)
  config.compute_dtype = 'bfloat16'
  torch.manual_seed(0)
  generator_bf16, discriminator_bf16 = models.create_models(config)

  z = torch.randn(16, 100)
  with torch.no_grad():
    images, images_bf16 = generator(z), generator_bf16(z)
    logits, logits_bf16 = discriminator(images), discriminator_bf16(images)

  # The outputs come back in the parameters' float32, from bfloat16 layers:
  # bfloat16 keeps 8 significant bits, and the measured differences were
  # below 0.011 on logits up to 2.2.
  assert images_bf16.dtype == torch.float32
  assert logits_bf16.dtype == torch.float32
  torch.testing.assert_close(images_bf16, images, atol=0.03, rtol=0)
  torch.testing.assert_close(logits_bf16, logits, atol=0.03, rtol=0)
  assert not torch.equal(logits_bf16, logits)
