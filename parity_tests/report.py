"""Print the differences between the JAX and the PyTorch GAN, layer by layer.

    python -m parity_tests.report [--dtype=float64] [--steps=3] [--direction=torch]

Both GANs start from one seed (initialized in one framework, converted to the
other) and see the same numpy inputs. The table lists, for each layer, the
max absolute difference of its output on one batch, of its parameter
gradients on that batch, and of its parameters after a few training steps.
"""

import argparse

# torchvision before TensorFlow: the other order crashes with the pinned versions.
import torchvision  # pylint: disable=unused-import  # noqa: F401
import jax
import jax.numpy as jnp
import numpy as np
import torch

from parity_tests import convert
from parity_tests import harness

BATCH = 16


def layer_outputs_jax(pair, z, images):
  """Return {'generator.<layer>': output} for every layer, NHWC, from Flax's captured intermediates."""
  outputs = {}
  for network, module, inputs in (('generator', pair.gan.generator, z),
                                  ('discriminator', pair.gan.discriminator, images)):
    model_state = getattr(pair.jax_state, network)
    _, state = module.apply({'params': model_state.params, 'batch_stats': model_state.batch_stats},
                            jnp.asarray(inputs), train=True,
                            mutable=['batch_stats', 'intermediates'],
                            capture_intermediates=True)
    for layer in convert.LAYERS[network]:
      outputs[f'{network}.{layer.name}'] = np.asarray(
          state['intermediates'][layer.name]['__call__'][0])
  return outputs


def layer_outputs_torch(pair, z, images):
  """Return {'generator.<layer>': output} for every layer, turned to NHWC, from forward hooks."""
  outputs = {}
  for network, inputs in (('generator', z), ('discriminator', harness.nhwc_to_nchw(images))):
    module = getattr(pair.torch_state, network)
    handles = []
    for layer in convert.LAYERS[network]:
      def hook(_, __, output, key=f'{network}.{layer.name}', kind=layer.kind):
        value = output.detach().numpy()
        if value.ndim == 4:
          value = harness.nchw_to_nhwc(value)
        elif kind == convert.DENSE_TO_NHWC:
          # (B, C*7*7) in (C, H, W) order -> (B, 7*7*C) in (H, W, C) order.
          channels = value.shape[1] // 49
          value = value.reshape(-1, channels, 7, 7).transpose(0, 2, 3, 1).reshape(len(value), -1)
        outputs[key] = value
      handles.append(getattr(module, layer.name).register_forward_hook(hook))
    module.train()
    with torch.no_grad():
      module(torch.from_numpy(inputs))
    for handle in handles:
      handle.remove()
  return outputs


def max_abs_tree(jax_tree, torch_tree) -> float:
  leaves = [harness.max_differences(np.asarray(jax_tree[key]), np.asarray(torch_tree[key]))[0]
            for key in torch_tree]
  return max(leaves, default=0.0)


def build_report(dtype, steps: int, direction: str, data_images=None):
  """Return the table rows: (layer, kind, output diff, gradient diff, parameter diff after `steps`)."""
  pair = harness.make_pair(direction, dtype)
  images, z = harness.random_inputs(BATCH, dtype)

  jax_outputs = layer_outputs_jax(pair, z, images)
  torch_outputs = layer_outputs_torch(pair, z, images)
  (_, _, jax_d_grads, jax_g_grads), (_, _, torch_d_grads, torch_g_grads) = (
      harness.gradients_of_both(pair, jnp.asarray(images), jnp.asarray(z)))
  gradients = {'generator': (jax_g_grads, torch_g_grads),
               'discriminator': (jax_d_grads, torch_d_grads)}

  if data_images is None:
    data_images = np.random.RandomState(5).uniform(-1, 1, (steps * BATCH, 28, 28, 1))
  pair.torch_state.generator.zero_grad()
  pair.torch_state.discriminator.zero_grad()
  harness.train_both(pair, data_images, num_steps=steps, batch=BATCH)

  rows = []
  for network in ('generator', 'discriminator'):
    torch_params = harness.torch_variables(getattr(pair.torch_state, network),
                                           convert.LAYERS[network])['params']
    jax_params = getattr(pair.jax_state, network).params
    jax_grads, torch_grads = gradients[network]
    for layer in convert.LAYERS[network]:
      key = f'{network}.{layer.name}'
      output_diff = harness.max_differences(jax_outputs[key], torch_outputs[key])[0]
      rows.append((key, layer.kind, output_diff,
                   max_abs_tree(jax_grads[layer.name], torch_grads[layer.name]),
                   max_abs_tree(jax_params[layer.name], torch_params[layer.name])))
  return rows


def format_report(rows, steps: int) -> str:
  header = ('layer', 'kind', 'output', 'gradient', f'params after {steps} steps')
  widths = (30, 16, 10, 10, 10)
  lines = ['max |JAX - PyTorch| per layer',
           '  '.join(title.ljust(width) for title, width in zip(header, widths))]
  for name, kind, output, gradient, params in rows:
    lines.append('  '.join([name.ljust(widths[0]), kind.ljust(widths[1]), f'{output:<10.3g}',
                            f'{gradient:<10.3g}', f'{params:.3g}']))
  return '\n'.join(lines)


def main(argv=None):
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--dtype', choices=('float32', 'float64'), default='float32',
                      help='dtype of parameters and inputs on both sides (default float32)')
  parser.add_argument('--steps', type=int, default=3,
                      help='training steps before the parameters are compared (default 3)')
  parser.add_argument('--direction', choices=('torch', 'flax'), default='torch',
                      help='the framework that initializes the weights (default torch)')
  args = parser.parse_args(argv)
  if args.steps < 1:
    parser.error(f'--steps must be at least 1, got {args.steps}')

  dtype = np.dtype(args.dtype).type
  if dtype == np.float64:
    jax.config.update('jax_enable_x64', True)
  jax.config.update('jax_default_matmul_precision', 'highest')
  torch.set_float32_matmul_precision('highest')
  torch.backends.cudnn.allow_tf32 = False
  direction = harness.FROM_TORCH if args.direction == 'torch' else harness.FROM_FLAX
  rows = build_report(dtype, args.steps, direction)
  print(f'{args.dtype}, weights {direction}, batch {BATCH}, jax {jax.__version__}, '
        f'torch {torch.__version__}, device {jax.devices()[0].device_kind}')
  print(format_report(rows, args.steps))


if __name__ == '__main__':
  main()
