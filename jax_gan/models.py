"""The 28x28 DCGAN and the MLP GAN for MNIST in Flax, NHWC layout.

The generator and discriminator mirror `torch_gan/models.py` layer for layer
and name for name; only the layout differs (NHWC here, NCHW in PyTorch).
Shapes in the comments are for the default widths (`features=64`).
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

# DCGAN initialization (Radford et al., 2016, section 4): every weight from
# N(0, 0.02), BatchNorm scale from N(1, 0.02), every bias 0.
weight_init = nn.initializers.normal(stddev=0.02)


def batch_norm_scale_init(key, shape, dtype=jnp.float32):
  return 1.0 + 0.02 * jax.random.normal(key, shape, dtype)


class BatchNorm(nn.Module):
  """Batch normalization over every axis but the last, with PyTorch's running statistics.

  Training mode normalizes with the biased batch variance, as every
  BatchNorm does. The running variance is updated with the unbiased batch
  variance (times n / (n - 1)), as `torch.nn.BatchNorm2d` does and
  `flax.linen.BatchNorm` does not, so that both backends keep the same
  running statistics. The variance is computed in two passes,
  mean((x - mean)^2), which loses less precision than E[x^2] - E[x]^2.

  Attributes:
    momentum: weight of the old running value; 0.9 here is PyTorch's
      `momentum=0.1`.
    epsilon: added to the variance before the square root, PyTorch's `eps`.
    dtype: dtype of the output, None for the input's dtype. The statistics
      and the normalization are computed in param_dtype whatever the input
      dtype, so that bfloat16 activations keep float32 statistics.
  """

  momentum: float = 0.9
  epsilon: float = 1e-5
  param_dtype: Any = jnp.float32
  dtype: Any = None

  @nn.compact
  def __call__(self, x, use_running_average: bool):
    output_dtype = self.dtype or x.dtype
    x = x.astype(self.param_dtype)
    features = x.shape[-1]
    reduction_axes = tuple(range(x.ndim - 1))
    scale = self.param('scale', batch_norm_scale_init, (features,), self.param_dtype)
    bias = self.param('bias', nn.initializers.zeros, (features,), self.param_dtype)
    running_mean = self.variable(
        'batch_stats', 'mean', lambda: jnp.zeros((features,), self.param_dtype))
    running_var = self.variable(
        'batch_stats', 'var', lambda: jnp.ones((features,), self.param_dtype))

    if use_running_average:
      mean, var = running_mean.value, running_var.value
    else:
      mean = jnp.mean(x, axis=reduction_axes)
      var = jnp.mean(jnp.square(x - mean), axis=reduction_axes)
      if not self.is_initializing():
        count = x.size // features
        unbiased_var = var * (count / (count - 1))
        running_mean.value = self.momentum * running_mean.value + (1 - self.momentum) * mean
        running_var.value = self.momentum * running_var.value + (1 - self.momentum) * unbiased_var

    return ((x - mean) * (scale * lax.rsqrt(var + self.epsilon)) + bias).astype(output_dtype)


CONV_TRANSPOSE_IMPLEMENTATIONS = ('xla', 'phases', 'matmul', 'cpu')


class ConvTranspose(nn.Module):
  """Transposed convolution with kernel 4, stride 2 and PyTorch's padding 1: (B, H, W, C) -> (B, 2H, 2W, features).

  The parameters have the layout of `flax.linen.ConvTranspose(features, (4, 4),
  strides=(2, 2), padding=((2, 2), (2, 2)))`: a kernel of shape (4, 4, C, features) that
  is applied to the zero-dilated input without flipping. That function equals
  `torch.nn.ConvTranspose2d(C, features, 4, stride=2, padding=1)` with the
  PyTorch weight transposed to (kH, kW, in, out) and flipped in H and W.

  Three implementations compute the same function from the same parameters:
    'xla': one `lax.conv_transpose`, as flax.linen.ConvTranspose runs it.
    'phases': each of the four output phases (even or odd row, even or odd
      column) is a stride-1 convolution of the undilated input with a 2x2
      slice of the kernel. The outputs are interleaved afterwards. Every output
      element is the same sum of the same products as in 'xla', and nothing
      multiplies the zeros of a dilated input. On XLA's CPU backend the whole
      DCGAN train step at batch 64 took 0.21 s with it against 1.28 s with
      'xla' (jax 0.10.2, 2 x86-64 cores).
    'matmul': one matrix product gives every input pixel times each of the
      16 kernel taps, and each output element adds the 4 products that land
      on it. The same products again, summed in another order. With one
      output feature the convolutions above are matrix-vector products, and
      this form is several times faster on XLA's CPU backend (PERFORMANCE.md).
  'cpu' picks 'matmul' for one output feature and 'phases' otherwise, the
  faster of the two for each layer of the default generator on XLA:CPU.
  """

  features: int
  use_bias: bool = False
  implementation: str = 'phases'
  param_dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x):
    in_features = x.shape[-1]
    kernel = self.param('kernel', weight_init, (4, 4, in_features, self.features),
                        self.param_dtype)
    kernel = kernel.astype(x.dtype)

    implementation = self.implementation
    if implementation == 'cpu':
      implementation = 'matmul' if self.features == 1 else 'phases'
    if implementation == 'xla':
      y = lax.conv_transpose(x, kernel, strides=(2, 2), padding=((2, 2), (2, 2)),
                             dimension_numbers=('NHWC', 'HWIO', 'NHWC'))
    elif implementation == 'phases':
      y = _conv_transpose_by_phases(x, kernel)
    elif implementation == 'matmul':
      y = _conv_transpose_by_matmul(x, kernel)
    else:
      raise ValueError(
          f"invalid ConvTranspose implementation {self.implementation!r}: "
          "expected one of " + ", ".join(repr(name) for name in CONV_TRANSPOSE_IMPLEMENTATIONS))

    if self.use_bias:
      bias = self.param('bias', nn.initializers.zeros, (self.features,), self.param_dtype)
      y = y + bias.astype(y.dtype)
    return y


def _conv_transpose_by_phases(x, kernel):
  """Compute the stride-2, kernel-4, padding-(2, 2) transposed convolution as four stride-1 convolutions.

  With the input dilated by 2 and padded by 2, output row 2m reads input rows
  m - 1 and m through kernel rows 0 and 2. Output row 2m + 1 reads input rows
  m and m + 1 through kernel rows 1 and 3, and columns work the same way. So
  the even phase pads the input by one row before it and the odd phase by one
  row after it.
  """
  padding_for_phase = {0: (1, 0), 1: (0, 1)}
  phases = []
  for row_phase in (0, 1):
    for col_phase in (0, 1):
      phase_kernel = kernel[row_phase::2, col_phase::2]  # (2, 2, C, features)
      phases.append(lax.conv_general_dilated(
          x, phase_kernel, window_strides=(1, 1),
          padding=(padding_for_phase[row_phase], padding_for_phase[col_phase]),
          dimension_numbers=('NHWC', 'HWIO', 'NHWC')))  # (B, H, W, features)

  return _interleave_phases(phases)


def _conv_transpose_by_matmul(x, kernel):
  """Compute the stride-2, kernel-4, padding-(2, 2) transposed convolution as one matrix product and sums.

  Output row 2m + p (phase p) adds input rows m - 1 + a + p times kernel rows
  p + 2a for a = 0, 1, as in `_conv_transpose_by_phases`, and columns work
  the same way.
  """
  _, height, width, _ = x.shape
  # Every input pixel times every kernel tap, one matrix product:
  # (B x H x W, C) @ (C, 16 x features).
  taps = jnp.einsum('bhwc,ijcf->bhwijf', x, kernel)  # (B, H, W, 4, 4, features)
  # A zero row and column on each side, so that input row m - 1 sits at row m.
  taps = jnp.pad(taps, ((0, 0), (1, 1), (1, 1), (0, 0), (0, 0), (0, 0)))
  phases = []
  for row_phase in (0, 1):
    for col_phase in (0, 1):
      total = 0
      for row_tap in (0, 1):
        for col_tap in (0, 1):
          row, col = row_tap + row_phase, col_tap + col_phase
          total += taps[:, row:row + height, col:col + width,
                        row_phase + 2 * row_tap, col_phase + 2 * col_tap]  # (B, H, W, features)
      phases.append(total)
  return _interleave_phases(phases)


def _interleave_phases(phases):
  """Interleave four (B, H, W, features) phases, in row-major phase order, into (B, 2H, 2W, features)."""
  batch, height, width, _ = phases[0].shape
  y = jnp.stack(phases, axis=3)  # (B, H, W, 4, features)
  y = y.reshape(batch, height, width, 2, 2, -1)  # (B, H, W, row phase, col phase, features)
  y = y.transpose(0, 1, 3, 2, 4, 5)  # (B, H, row phase, W, col phase, features)
  return y.reshape(batch, 2 * height, 2 * width, -1)  # (B, 2H, 2W, features)


class Generator(nn.Module):
  """DCGAN generator: latent vector (B, latent_dim) -> image (B, 28, 28, 1) in [-1, 1].

  Attributes:
    dtype: dtype of the layers' computation (bfloat16 for mixed precision),
      None for param_dtype. The output image is in param_dtype.
  """

  features: int = 64
  conv_transpose_implementation: str = 'cpu'
  param_dtype: Any = jnp.float32
  dtype: Any = None

  @nn.compact
  def __call__(self, z, train: bool):
    batch = z.shape[0]
    dtype = self.dtype or self.param_dtype
    dense = lambda features, name: nn.Dense(
        features, use_bias=False, kernel_init=weight_init, param_dtype=self.param_dtype,
        dtype=dtype, name=name)
    batch_norm = lambda name: BatchNorm(param_dtype=self.param_dtype, dtype=dtype, name=name)
    conv_transpose = lambda features, use_bias, name: ConvTranspose(
        features, use_bias=use_bias, implementation=self.conv_transpose_implementation,
        param_dtype=self.param_dtype, name=name)

    x = dense(7 * 7 * 4 * self.features, 'project')(z.astype(dtype))  # (B, 12544)
    x = x.reshape(batch, 7, 7, 4 * self.features)  # (B, 7, 7, 256)
    x = batch_norm('project_bn')(x, use_running_average=not train)
    x = nn.relu(x)

    x = conv_transpose(2 * self.features, False, 'conv_transpose1')(x)  # (B, 14, 14, 128)
    x = batch_norm('conv_transpose1_bn')(x, use_running_average=not train)
    x = nn.relu(x)

    x = conv_transpose(1, True, 'conv_transpose2')(x)  # (B, 28, 28, 1)
    return jnp.tanh(x).astype(self.param_dtype)


class Discriminator(nn.Module):
  """DCGAN discriminator: image (B, 28, 28, 1) -> one logit per image, (B,).

  Attributes:
    features: channels of the first convolution. The second has twice as many.
    normalization: after the second convolution, 'batch_norm' (the DCGAN
      paper), 'layer_norm' (normalizes each sample over its channels and
      pixels, with a scale and bias per channel: the WGAN-GP paper's choice for
      its critic) or 'none'.
    dtype: dtype of the layers' computation (bfloat16 for mixed precision),
      None for param_dtype. The logits are in param_dtype.
  """

  features: int = 64
  normalization: str = 'batch_norm'
  param_dtype: Any = jnp.float32
  dtype: Any = None

  @nn.compact
  def __call__(self, x, train: bool):
    batch = x.shape[0]
    dtype = self.dtype or self.param_dtype
    conv = lambda features, use_bias, name: nn.Conv(
        features, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), use_bias=use_bias,
        kernel_init=weight_init, param_dtype=self.param_dtype, dtype=dtype, name=name)

    x = conv(self.features, True, 'conv1')(x.astype(dtype))  # (B, 14, 14, 64)
    x = nn.leaky_relu(x, negative_slope=0.2)

    # A bias before a normalization layer would be cancelled by it.
    x = conv(2 * self.features, self.normalization == 'none', 'conv2')(x)  # (B, 7, 7, 128)
    if self.normalization == 'batch_norm':
      x = BatchNorm(param_dtype=self.param_dtype, dtype=dtype, name='conv2_bn')(
          x, use_running_average=not train)
    elif self.normalization == 'layer_norm':
      # One group: statistics over (7, 7, 128) per sample, like PyTorch's GroupNorm(1, C).
      x = nn.GroupNorm(num_groups=1, epsilon=1e-5, use_fast_variance=False,
                       param_dtype=self.param_dtype, dtype=dtype, name='conv2_ln')(x)
    elif self.normalization != 'none':
      raise ValueError(f"invalid normalization {self.normalization!r}: expected 'batch_norm', "
                       "'layer_norm' or 'none'")
    x = nn.leaky_relu(x, negative_slope=0.2)

    x = x.reshape(batch, -1)  # (B, 6272), flattened in (H, W, C) order
    x = nn.Dense(1, kernel_init=weight_init, param_dtype=self.param_dtype, dtype=dtype,
                 name='dense')(x)  # (B, 1)
    return x[:, 0].astype(self.param_dtype)  # (B,)


class MLPGenerator(nn.Module):
  """MLP generator: latent vector (B, latent_dim) -> image (B, 28, 28, 1) in [-1, 1]."""

  hidden_features: int = 256
  param_dtype: Any = jnp.float32
  dtype: Any = None  # as in Generator

  @nn.compact
  def __call__(self, z, train: bool):
    del train  # No BatchNorm or dropout: train and eval mode are the same.
    dtype = self.dtype or self.param_dtype
    dense = lambda features, name: nn.Dense(
        features, kernel_init=weight_init, param_dtype=self.param_dtype, dtype=dtype, name=name)
    x = dense(self.hidden_features, 'hidden')(z.astype(dtype))  # (B, 256)
    x = nn.leaky_relu(x, negative_slope=0.2)
    x = dense(28 * 28, 'output')(x)  # (B, 784)
    # One channel, so (H, W, C) order is PyTorch's (C, H, W) order too.
    x = jnp.tanh(x).astype(self.param_dtype)
    return x.reshape(z.shape[0], 28, 28, 1)  # (B, 28, 28, 1)


class MLPDiscriminator(nn.Module):
  """MLP discriminator: image (B, 28, 28, 1) -> one logit per image, (B,)."""

  hidden_features: int = 256
  param_dtype: Any = jnp.float32
  dtype: Any = None  # as in Discriminator

  @nn.compact
  def __call__(self, x, train: bool):
    del train
    dtype = self.dtype or self.param_dtype
    dense = lambda features, name: nn.Dense(
        features, kernel_init=weight_init, param_dtype=self.param_dtype, dtype=dtype, name=name)
    x = x.reshape(x.shape[0], -1).astype(dtype)  # (B, 784)
    x = dense(self.hidden_features, 'hidden')(x)  # (B, 256)
    x = nn.leaky_relu(x, negative_slope=0.2)
    x = dense(1, 'output')(x)  # (B, 1)
    return x[:, 0].astype(self.param_dtype)  # (B,)


def create_models(config, conv_transpose_implementation: str = 'cpu') -> tuple[nn.Module, nn.Module]:
  """Return (generator, discriminator) for config.model, with parameters of config.param_dtype.

  They compute in config.compute_dtype when it is 'bfloat16', else in the
  parameters' dtype.
  """
  param_dtype = jnp.dtype(config.param_dtype)
  dtype = jnp.bfloat16 if config.compute_dtype == 'bfloat16' else None
  if config.model == 'dcgan':
    return (Generator(features=config.generator_features,
                      conv_transpose_implementation=conv_transpose_implementation,
                      param_dtype=param_dtype, dtype=dtype),
            Discriminator(features=config.discriminator_features,
                          normalization=config.discriminator_normalization,
                          param_dtype=param_dtype, dtype=dtype))
  if config.model == 'mlp':
    return (MLPGenerator(hidden_features=config.hidden_features, param_dtype=param_dtype,
                         dtype=dtype),
            MLPDiscriminator(hidden_features=config.hidden_features, param_dtype=param_dtype,
                             dtype=dtype))
  raise ValueError(f"unknown model {config.model!r}: expected 'dcgan' or 'mlp'")
