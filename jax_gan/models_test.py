"""Tests of the Flax DCGAN: shapes, initialization, BatchNorm statistics and the two ConvTranspose forms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_gan import models


@pytest.mark.parametrize('batch', [1, 7, 64])
def test_generator_output_shape_and_range(batch):
  generator = models.Generator()
  z = jax.random.normal(jax.random.PRNGKey(0), (batch, 100))
  variables = generator.init(jax.random.PRNGKey(1), z, train=False)
  images, _ = generator.apply(variables, z, train=True, mutable=['batch_stats'])
  assert images.shape == (batch, 28, 28, 1)
  assert images.dtype == jnp.float32
  assert float(jnp.max(jnp.abs(images))) <= 1.0


@pytest.mark.parametrize('batch', [1, 7, 64])
def test_discriminator_output_shape(batch):
  discriminator = models.Discriminator()
  images = jax.random.uniform(jax.random.PRNGKey(0), (batch, 28, 28, 1), minval=-1, maxval=1)
  variables = discriminator.init(jax.random.PRNGKey(1), images, train=False)
  logits = discriminator.apply(variables, images, train=False)
  assert logits.shape == (batch,)
  assert logits.dtype == jnp.float32


def test_parameter_shapes():
  generator_params = models.Generator().init(
      jax.random.PRNGKey(0), jnp.zeros((1, 100)), train=False)['params']
  discriminator_params = models.Discriminator().init(
      jax.random.PRNGKey(0), jnp.zeros((1, 28, 28, 1)), train=False)['params']
  shapes = jax.tree.map(jnp.shape, {'generator': generator_params,
                                    'discriminator': discriminator_params})
  assert shapes == {
      'generator': {
          'project': {'kernel': (100, 12544)},
          'project_bn': {'scale': (256,), 'bias': (256,)},
          'conv_transpose1': {'kernel': (4, 4, 256, 128)},
          'conv_transpose1_bn': {'scale': (128,), 'bias': (128,)},
          'conv_transpose2': {'kernel': (4, 4, 128, 1), 'bias': (1,)},
      },
      'discriminator': {
          'conv1': {'kernel': (4, 4, 1, 64), 'bias': (64,)},
          'conv2': {'kernel': (4, 4, 64, 128)},
          'conv2_bn': {'scale': (128,), 'bias': (128,)},
          'dense': {'kernel': (6272, 1), 'bias': (1,)},
      },
  }


def _shapes(module, inputs):
  variables = module.init(jax.random.PRNGKey(0), inputs, train=False)
  return jax.tree.map(jnp.shape, dict(variables))


def test_critic_variant_shapes():
  images = jnp.zeros((1, 28, 28, 1))
  layer_norm = _shapes(models.Discriminator(normalization='layer_norm'), images)
  assert layer_norm == {'params': {
      'conv1': {'kernel': (4, 4, 1, 64), 'bias': (64,)},
      'conv2': {'kernel': (4, 4, 64, 128)},
      'conv2_ln': {'scale': (128,), 'bias': (128,)},
      'dense': {'kernel': (6272, 1), 'bias': (1,)},
  }}  # No batch_stats: nothing mixes the samples of a batch.
  no_norm = _shapes(models.Discriminator(normalization='none'), images)
  assert no_norm['params']['conv2'] == {'kernel': (4, 4, 64, 128), 'bias': (128,)}
  assert set(no_norm) == {'params'}
  with pytest.raises(ValueError, match="invalid normalization 'group'"):
    _shapes(models.Discriminator(normalization='group'), images)


def test_layer_norm_critic_normalizes_each_sample():
  # The critic's output for one image must not depend on the other images of the batch.
  critic = models.Discriminator(normalization='layer_norm')
  images = jax.random.uniform(jax.random.PRNGKey(0), (4, 28, 28, 1), minval=-1, maxval=1)
  variables = critic.init(jax.random.PRNGKey(1), images, train=True)
  together = critic.apply(variables, images, train=True)
  alone = jnp.concatenate([critic.apply(variables, images[i:i + 1], train=True) for i in range(4)])
  np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize('batch', [1, 7])
def test_mlp_shapes(batch):
  generator, discriminator = models.MLPGenerator(hidden_features=32), models.MLPDiscriminator(32)
  z = jax.random.normal(jax.random.PRNGKey(0), (batch, 100))
  generator_variables = generator.init(jax.random.PRNGKey(1), z, train=False)
  assert jax.tree.map(jnp.shape, dict(generator_variables)) == {'params': {
      'hidden': {'kernel': (100, 32), 'bias': (32,)},
      'output': {'kernel': (32, 784), 'bias': (784,)}}}
  images = generator.apply(generator_variables, z, train=True)
  assert images.shape == (batch, 28, 28, 1)
  assert float(jnp.max(jnp.abs(images))) <= 1.0
  discriminator_variables = discriminator.init(jax.random.PRNGKey(2), images, train=False)
  assert jax.tree.map(jnp.shape, dict(discriminator_variables)) == {'params': {
      'hidden': {'kernel': (784, 32), 'bias': (32,)},
      'output': {'kernel': (32, 1), 'bias': (1,)}}}
  assert discriminator.apply(discriminator_variables, images, train=True).shape == (batch,)


def test_dcgan_initialization_statistics():
  params = models.Generator().init(jax.random.PRNGKey(0), jnp.zeros((1, 100)), train=False)['params']
  # 524,288 weights from N(0, 0.02): the sample std is within 1% of 0.02.
  kernel = np.asarray(params['conv_transpose1']['kernel'])
  assert abs(kernel.std() - 0.02) < 0.0002
  assert abs(kernel.mean()) < 0.0002
  scale = np.asarray(params['project_bn']['scale'])
  assert abs(scale.mean() - 1.0) < 0.01
  assert 0.01 < scale.std() < 0.03
  np.testing.assert_array_equal(params['conv_transpose2']['bias'], np.zeros(1, np.float32))


def test_batch_norm_matches_hand_computation():
  # Two channels, four samples: channel 0 = [1, 2, 3, 6], channel 1 = [0, 0, 4, 4].
  x = jnp.array([[1.0, 0.0], [2.0, 0.0], [3.0, 4.0], [6.0, 4.0]])
  norm = models.BatchNorm()
  variables = norm.init(jax.random.PRNGKey(0), x, use_running_average=False)
  variables = {'params': {'scale': jnp.ones(2), 'bias': jnp.zeros(2)},
               'batch_stats': variables['batch_stats']}
  y, updates = norm.apply(variables, x, use_running_average=False, mutable=['batch_stats'])

  # Channel 0: mean 3, biased variance (4 + 1 + 0 + 9) / 4 = 3.5, unbiased 14 / 3.
  # Channel 1: mean 2, biased variance 4, unbiased 16 / 3.
  expected_y0 = (np.array([1.0, 2.0, 3.0, 6.0]) - 3.0) / np.sqrt(3.5 + 1e-5)
  np.testing.assert_allclose(y[:, 0], expected_y0, rtol=1e-6)
  np.testing.assert_allclose(updates['batch_stats']['mean'], [0.1 * 3.0, 0.1 * 2.0], rtol=1e-6)
  np.testing.assert_allclose(updates['batch_stats']['var'],
                             [0.9 + 0.1 * 14 / 3, 0.9 + 0.1 * 16 / 3], rtol=1e-6)


def test_batch_norm_eval_uses_running_statistics():
  x = jnp.array([[1.0], [3.0]])
  variables = {'params': {'scale': jnp.array([2.0]), 'bias': jnp.array([0.5])},
               'batch_stats': {'mean': jnp.array([1.0]), 'var': jnp.array([4.0])}}
  y = models.BatchNorm().apply(variables, x, use_running_average=True)
  np.testing.assert_allclose(y[:, 0], [0.5, 2.0 * 2.0 / np.sqrt(4.0 + 1e-5) + 0.5], rtol=1e-6)


@pytest.fixture
def enable_x64():
  jax.config.update('jax_enable_x64', True)
  yield
  jax.config.update('jax_enable_x64', False)


@pytest.mark.parametrize('implementation', ['phases', 'matmul', 'cpu'])
@pytest.mark.parametrize('in_features,out_features,size', [(8, 4, 7), (3, 3, 5), (4, 1, 14)])
def test_conv_transpose_forms_equal_xla_in_float64(enable_x64, implementation, in_features,
                                                   out_features, size):
  del enable_x64
  x = jax.random.normal(jax.random.PRNGKey(0), (2, size, size, in_features), jnp.float64)
  kernel = jax.random.normal(jax.random.PRNGKey(1), (4, 4, in_features, out_features),
                             jnp.float64)

  def apply(implementation, kernel, x):
    layer = models.ConvTranspose(out_features, implementation=implementation,
                                 param_dtype=jnp.float64)
    return layer.apply({'params': {'kernel': kernel}}, x)

  xla = apply('xla', kernel, x)
  other = apply(implementation, kernel, x)
  assert other.shape == (2, 2 * size, 2 * size, out_features)
  # The same products, summed in another order.
  np.testing.assert_allclose(other, xla, rtol=0, atol=1e-13)

  # Gradients with respect to the kernel and the input agree too.
  cotangent = jax.random.normal(jax.random.PRNGKey(2), xla.shape, jnp.float64)
  grad = lambda implementation: jax.grad(
      lambda k, v: jnp.sum(apply(implementation, k, v) * cotangent), argnums=(0, 1))(kernel, x)
  for xla_grad, other_grad in zip(grad('xla'), grad(implementation)):
    np.testing.assert_allclose(other_grad, xla_grad, rtol=0, atol=1e-12)


def test_conv_transpose_by_matmul_by_hand():
  # A 1x1 image of one channel: each pixel of the 2x2 output gets it through
  # one kernel tap. The kernel slides over the dilated input, padded by 2, as
  # a correlation, so the pixel sits at offset 2 and output (r, c) reads tap
  # (2 - r, 2 - c).
  kernel = jnp.arange(16.0).reshape(4, 4, 1, 1)
  layer = models.ConvTranspose(1, implementation='matmul')
  y = layer.apply({'params': {'kernel': kernel}}, jnp.full((1, 1, 1, 1), 2.0))
  np.testing.assert_array_equal(y[0, :, :, 0], 2.0 * np.array([[10.0, 9.0], [6.0, 5.0]]))


def test_cpu_form_picks_matmul_for_one_feature_only():
  x = jnp.ones((1, 3, 3, 2))
  for features, form in ((1, 'matmul'), (2, 'phases')):
    layer = models.ConvTranspose(features, implementation='cpu')
    params = layer.init(jax.random.PRNGKey(0), x)
    expected = models.ConvTranspose(features, implementation=form).apply(params, x)
    jaxpr = str(jax.make_jaxpr(lambda p: layer.apply(p, x))(params))
    assert ('conv_general_dilated' in jaxpr) == (form == 'phases')
    np.testing.assert_array_equal(layer.apply(params, x), expected)


def test_conv_transpose_rejects_unknown_implementation():
  layer = models.ConvTranspose(2, implementation='fft')
  with pytest.raises(ValueError, match="invalid ConvTranspose implementation 'fft'"):
    layer.init(jax.random.PRNGKey(0), jnp.zeros((1, 3, 3, 2)))


@pytest.mark.parametrize('model,normalization', [
    ('dcgan', 'batch_norm'), ('dcgan', 'layer_norm'), ('mlp', 'batch_norm')])
def test_bfloat16_compute_stays_near_float32(model, normalization):
  from configs import default  # pylint: disable=g-import-not-at-top
  config = default.get_config()
  config.model = model
  config.discriminator_normalization = normalization
  generator, discriminator = models.create_models(config)
  config.compute_dtype = 'bfloat16'
  generator_bf16, discriminator_bf16 = models.create_models(config)

  z = jax.random.normal(jax.random.PRNGKey(1), (16, 100))
  generator_variables = generator.init(jax.random.PRNGKey(0), z, train=False)
  images, _ = generator.apply(generator_variables, z, train=True, mutable=['batch_stats'])
  images_bf16, _ = generator_bf16.apply(generator_variables, z, train=True,
                                        mutable=['batch_stats'])
  discriminator_variables = discriminator.init(jax.random.PRNGKey(2), images, train=False)
  logits, _ = discriminator.apply(discriminator_variables, images, train=True,
                                  mutable=['batch_stats'])
  logits_bf16, _ = discriminator_bf16.apply(discriminator_variables, images, train=True,
                                            mutable=['batch_stats'])

  # The outputs come back in the parameters' float32, from bfloat16 layers:
  # bfloat16 keeps 8 significant bits, and the measured differences were
  # below 0.011 on logits up to 2.8.
  assert images_bf16.dtype == jnp.float32
  assert logits_bf16.dtype == jnp.float32
  np.testing.assert_allclose(images_bf16, images, atol=0.03)
  np.testing.assert_allclose(logits_bf16, logits, atol=0.03)
  assert not np.array_equal(logits_bf16, logits)
