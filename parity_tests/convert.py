"""Weight conversion between the PyTorch and the Flax models, and between whole training runs.

Layouts, PyTorch -> Flax:
  Conv2d weight (out, in, kH, kW)            -> Conv kernel (kH, kW, in, out)
  ConvTranspose2d weight (in, out, kH, kW)   -> ConvTranspose kernel (kH, kW, in, out),
      flipped in kH and kW: PyTorch computes the gradient of a convolution,
      Flax convolves the zero-dilated input with the kernel as stored. Without
      the flip the shapes fit and the numbers are wrong.
  Linear weight (out, in)                    -> Dense kernel (in, out)
  The generator's first Linear, whose outputs PyTorch views as (C, 7, 7) and
      Flax reshapes to (7, 7, C), and the discriminator's last Linear, whose
      inputs PyTorch flattens from (C, 7, 7) and Flax from (7, 7, C), have
      their feature axis reordered too.
  BatchNorm2d weight, bias, running_mean, running_var -> scale, bias (params)
      and mean, var (batch_stats). PyTorch's momentum 0.1 is the Flax
      BatchNorm's momentum 0.9; `jax_gan.models.BatchNorm` also updates the
      running variance with the unbiased batch variance, as PyTorch does.
  GroupNorm(1, C) weight, bias               -> GroupNorm(num_groups=1) scale, bias: the
      layer norm of the WGAN-GP critic, with no running statistics.

Adam moments are converted like the parameters they belong to.

Command line: `python -m parity_tests.convert --source=RUN --target=NEW_RUN`
converts a training run's latest checkpoint to the other backend, so that
`python -m <other backend>_gan.train --workdir=NEW_RUN --resume` continues it.
"""

import collections
import dataclasses
import json
import os
import shutil
import sys

import numpy as np

# Layer kinds.
CONV = 'conv'
CONV_TRANSPOSE = 'conv_transpose'
DENSE = 'dense'
DENSE_TO_NHWC = 'dense_to_nhwc'  # Linear whose output is viewed as (C, H, W) / (H, W, C).
DENSE_FROM_NHWC = 'dense_from_nhwc'  # Linear whose input is flattened from (C, H, W) / (H, W, C).
BATCH_NORM = 'batch_norm'
LAYER_NORM = 'layer_norm'  # GroupNorm(1, C) in PyTorch, GroupNorm(num_groups=1) in Flax.


@dataclasses.dataclass(frozen=True)
class Layer:
  """One layer: its name (the same in both backends) and how its weights are laid out."""

  name: str
  kind: str
  spatial: tuple = (7, 7)  # (H, W) of the reshaped side, for the two NHWC dense kinds.


GENERATOR_LAYERS = (
    Layer('project', DENSE_TO_NHWC),
    Layer('project_bn', BATCH_NORM),
    Layer('conv_transpose1', CONV_TRANSPOSE),
    Layer('conv_transpose1_bn', BATCH_NORM),
    Layer('conv_transpose2', CONV_TRANSPOSE),
)
DISCRIMINATOR_LAYERS = (
    Layer('conv1', CONV),
    Layer('conv2', CONV),
    Layer('conv2_bn', BATCH_NORM),
    Layer('dense', DENSE_FROM_NHWC),
)
LAYERS = {'generator': GENERATOR_LAYERS, 'discriminator': DISCRIMINATOR_LAYERS}
# The MLP's flatten and reshape see one channel, where (C, H, W) and (H, W, C)
# orders agree, so its Linear layers need only a transpose.
MLP_LAYERS = (Layer('hidden', DENSE), Layer('output', DENSE))


def model_layers(config) -> dict:
  """Return {'generator': layers, 'discriminator': layers} for config.model and its normalization."""
  if config.model == 'mlp':
    return {'generator': MLP_LAYERS, 'discriminator': MLP_LAYERS}
  if config.model != 'dcgan':
    raise ValueError(f'unknown model {config.model!r}')
  normalization = {
      'batch_norm': (Layer('conv2_bn', BATCH_NORM),),
      'layer_norm': (Layer('conv2_ln', LAYER_NORM),),
      'none': (),
  }[config.discriminator_normalization]
  discriminator = (Layer('conv1', CONV), Layer('conv2', CONV)) + normalization + (
      Layer('dense', DENSE_FROM_NHWC),)
  return {'generator': GENERATOR_LAYERS, 'discriminator': discriminator}


def weight_to_flax(kind: str, weight: np.ndarray, spatial=(7, 7)) -> np.ndarray:
  """Convert one PyTorch weight array to the Flax kernel layout of a layer of `kind`."""
  height, width = spatial
  if kind == CONV:
    return weight.transpose(2, 3, 1, 0)
  if kind == CONV_TRANSPOSE:
    return weight.transpose(2, 3, 0, 1)[::-1, ::-1]
  if kind == DENSE:
    return weight.T
  if kind == DENSE_TO_NHWC:
    features_out, features_in = weight.shape
    channels = features_out // (height * width)
    return (weight.reshape(channels, height, width, features_in)
            .transpose(3, 1, 2, 0).reshape(features_in, features_out))
  if kind == DENSE_FROM_NHWC:
    features_out, features_in = weight.shape
    channels = features_in // (height * width)
    return (weight.reshape(features_out, channels, height, width)
            .transpose(2, 3, 1, 0).reshape(features_in, features_out))
  raise ValueError(f'unknown layer kind {kind!r}')


def kernel_to_torch(kind: str, kernel: np.ndarray, spatial=(7, 7)) -> np.ndarray:
  """Convert one Flax kernel array to the PyTorch weight layout; the inverse of `weight_to_flax`."""
  height, width = spatial
  if kind == CONV:
    return kernel.transpose(3, 2, 0, 1)
  if kind == CONV_TRANSPOSE:
    return kernel[::-1, ::-1].transpose(2, 3, 0, 1)
  if kind == DENSE:
    return kernel.T
  if kind == DENSE_TO_NHWC:
    features_in, features_out = kernel.shape
    channels = features_out // (height * width)
    return (kernel.reshape(features_in, height, width, channels)
            .transpose(3, 1, 2, 0).reshape(features_out, features_in))
  if kind == DENSE_FROM_NHWC:
    features_in, features_out = kernel.shape
    channels = features_in // (height * width)
    return (kernel.reshape(height, width, channels, features_out)
            .transpose(3, 2, 0, 1).reshape(features_out, features_in))
  raise ValueError(f'unknown layer kind {kind!r}')


def _numpy(value) -> np.ndarray:
  if hasattr(value, 'detach'):
    value = value.detach().cpu().numpy()
  return np.asarray(value)


def params_to_flax(named_tensors, layers) -> dict:
  """Convert PyTorch parameters (name -> array) to a Flax params tree; BatchNorm buffers are skipped."""
  params = {}
  for layer in layers:
    prefix = f'{layer.name}.'
    if layer.kind in (BATCH_NORM, LAYER_NORM):
      params[layer.name] = {'scale': _numpy(named_tensors[prefix + 'weight']),
                            'bias': _numpy(named_tensors[prefix + 'bias'])}
      continue
    converted = {'kernel': np.ascontiguousarray(weight_to_flax(
        layer.kind, _numpy(named_tensors[prefix + 'weight']), layer.spatial))}
    if prefix + 'bias' in named_tensors:
      converted['bias'] = _numpy(named_tensors[prefix + 'bias'])
    params[layer.name] = converted
  return params


def params_to_torch(params, layers) -> dict:
  """Convert a Flax params tree to PyTorch parameter arrays (name -> array); the inverse of `params_to_flax`."""
  named = {}
  for layer in layers:
    values = params[layer.name]
    if layer.kind in (BATCH_NORM, LAYER_NORM):
      named[f'{layer.name}.weight'] = _numpy(values['scale'])
      named[f'{layer.name}.bias'] = _numpy(values['bias'])
      continue
    named[f'{layer.name}.weight'] = np.ascontiguousarray(
        kernel_to_torch(layer.kind, _numpy(values['kernel']), layer.spatial))
    if 'bias' in values:
      named[f'{layer.name}.bias'] = _numpy(values['bias'])
  return named


def state_dict_to_flax(state_dict, layers) -> dict:
  """Convert a PyTorch module state_dict to Flax variables {'params': ..., 'batch_stats': ...} of numpy arrays."""
  batch_stats = {
      layer.name: {'mean': _numpy(state_dict[f'{layer.name}.running_mean']),
                   'var': _numpy(state_dict[f'{layer.name}.running_var'])}
      for layer in layers if layer.kind == BATCH_NORM}
  return {'params': params_to_flax(state_dict, layers), 'batch_stats': batch_stats}


def flax_to_state_dict(variables, layers, num_batches_tracked: int = 0) -> dict:
  """Convert Flax variables to a PyTorch state_dict of torch tensors.

  Args:
    variables: {'params': ..., 'batch_stats': ...}.
    layers: the model's layer table, GENERATOR_LAYERS or DISCRIMINATOR_LAYERS.
    num_batches_tracked: the value for every BatchNorm's counter, which Flax
      does not keep; PyTorch reads it only when momentum is None.
  """
  import torch  # pylint: disable=g-import-not-at-top

  named = params_to_torch(variables['params'], layers)
  for layer in layers:
    if layer.kind == BATCH_NORM:
      stats = variables['batch_stats'][layer.name]
      named[f'{layer.name}.running_mean'] = _numpy(stats['mean'])
      named[f'{layer.name}.running_var'] = _numpy(stats['var'])
      named[f'{layer.name}.num_batches_tracked'] = np.array(num_batches_tracked, np.int64)
  return collections.OrderedDict(
      (name, torch.from_numpy(np.array(value))) for name, value in named.items())


def parameter_names(state_dict) -> list:
  """Return the parameter names of a module state_dict in `module.parameters()` order (buffers dropped)."""
  buffers = ('.running_mean', '.running_var', '.num_batches_tracked')
  return [name for name in state_dict if not name.endswith(buffers)]


def adam_state_to_optax(torch_optimizer_state, state_dict, layers, template):
  """Convert a torch.optim.Adam state_dict to optax.adam's state, shaped like `template`.

  Args:
    torch_optimizer_state: `optimizer.state_dict()` of the model's Adam.
    state_dict: the model's state_dict, for the parameter order.
    layers: the model's layer table.
    template: an optax.adam state of the same model, e.g. `optimizer.init(params)`.
  """
  if not torch_optimizer_state['state']:
    return template  # A fresh Adam: optax's zero moments and count 0 are equivalent.
  names = parameter_names(state_dict)
  moments = {'exp_avg': {}, 'exp_avg_sq': {}}
  steps = set()
  for index, name in enumerate(names):
    entry = torch_optimizer_state['state'][index]
    steps.add(int(_numpy(entry['step'])))
    for moment in moments:
      moments[moment][name] = entry[moment]
  if len(steps) != 1:
    raise ValueError(f'Adam parameters have different step counts {sorted(steps)}')
  adam_state = template[0]
  adam_state = adam_state._replace(
      count=np.asarray(steps.pop(), np.asarray(adam_state.count).dtype),
      mu=params_to_flax(moments['exp_avg'], layers),
      nu=params_to_flax(moments['exp_avg_sq'], layers))
  return (adam_state,) + tuple(template[1:])


def optax_state_to_adam(optax_state, state_dict, layers, torch_optimizer_state_template):
  """Convert optax.adam's state to a torch.optim.Adam state_dict, with the hyperparameters of the template."""
  import torch  # pylint: disable=g-import-not-at-top

  adam_state = optax_state[0]
  mu = params_to_torch(adam_state.mu, layers)
  nu = params_to_torch(adam_state.nu, layers)
  step = float(_numpy(adam_state.count))
  state = {}
  if step == 0:
    # A fresh optax state; PyTorch keeps no per-parameter state before the first step.
    return {'state': state, 'param_groups': torch_optimizer_state_template['param_groups']}
  for index, name in enumerate(parameter_names(state_dict)):
    state[index] = {'step': torch.tensor(step),
                    'exp_avg': torch.from_numpy(np.array(mu[name])),
                    'exp_avg_sq': torch.from_numpy(np.array(nu[name]))}
  return {'state': state, 'param_groups': torch_optimizer_state_template['param_groups']}


def _convert_run(source: str, target: str) -> str:
  """Convert the run in `source` to the other backend in `target`; return the target backend."""
  # pylint: disable=g-import-not-at-top
  import torchvision  # noqa: F401  # Before TensorFlow; see the conftest note on import order.
  import jax
  import jax.numpy as jnp
  import ml_collections
  import torch

  from gan_common import run_directory
  from gan_common.errors import InputError
  from jax_gan import checkpoints as jax_checkpoints
  from jax_gan import train_step as jax_train_step
  from torch_gan import checkpoints as torch_checkpoints
  from torch_gan import train_step as torch_train_step
  # pylint: enable=g-import-not-at-top

  source_dir, target_dir = run_directory.RunDirectory(source), run_directory.RunDirectory(target)
  if not os.path.isfile(source_dir.run_file):
    raise InputError(f'no run to convert: {source_dir.run_file} not found')
  with open(source_dir.run_file) as f:
    run = json.load(f)
  backend = run.get('backend')
  if backend not in ('jax', 'torch'):
    raise InputError(f'{source_dir.run_file} names backend {backend!r}, expected jax or torch')
  config = ml_collections.ConfigDict(run['config'])
  other = 'torch' if backend == 'jax' else 'jax'
  if os.path.exists(target_dir.run_file):
    raise InputError(f'--target {target_dir.workdir} already contains a run; '
                     'choose a new directory')
  target_dir.check(other, config, resume=False)

  dtype = jnp.dtype(config.param_dtype)
  if dtype == jnp.float64:
    jax.config.update('jax_enable_x64', True)
  gan = jax_train_step.create_gan(config)
  jax_template = jax.device_get(
      jax_train_step.create_train_state(gan, jax.random.PRNGKey(config.seed), dtype))
  torch_state = torch_train_step.create_train_state(config, 'cpu', getattr(torch, config.param_dtype))

  layers = model_layers(config)
  if backend == 'torch':
    torch_checkpoints.restore(source_dir.checkpoints_dir, torch_state)
    jax_state = torch_state_to_jax(torch_state, jax_template, layers)
    jax_checkpoints.save(target_dir.checkpoints_dir, jax_state)
  else:
    jax_state = jax_checkpoints.restore(source_dir.checkpoints_dir, jax_template)
    jax_state_to_torch(jax.device_get(jax_state), torch_state, layers)
    torch_checkpoints.save(target_dir.checkpoints_dir, torch_state)

  target_dir.record(other, config)
  if os.path.isfile(source_dir.metrics_file):
    shutil.copyfile(source_dir.metrics_file, target_dir.metrics_file)
  return other


def torch_state_to_jax(torch_state, jax_template, layers=None):
  """Convert a `torch_gan` TrainState to a `jax_gan` TrainState; the PRNG key is the template's.

  `layers` is `model_layers(config)`, or None for the default DCGAN.
  """
  from jax_gan import train_step as jax_train_step  # pylint: disable=g-import-not-at-top

  layers = layers or LAYERS
  networks = {}
  for network in ('generator', 'discriminator'):
    state_dict = getattr(torch_state, network).state_dict()
    variables = state_dict_to_flax(state_dict, layers[network])
    optimizer = getattr(torch_state, f'{network}_optimizer')
    opt_state = adam_state_to_optax(optimizer.state_dict(), state_dict, layers[network],
                                    getattr(jax_template, network).opt_state)
    networks[network] = jax_train_step.ModelState(variables['params'], variables['batch_stats'],
                                                  opt_state)
  return jax_template.replace(step=np.asarray(torch_state.step, np.int32), **networks)


def jax_state_to_torch(jax_state, torch_state, layers=None):
  """Load a `jax_gan` TrainState into a `torch_gan` TrainState in place; the noise generator is kept.

  `layers` is `model_layers(config)`, or None for the default DCGAN.
  """
  layers = layers or LAYERS
  for network in ('generator', 'discriminator'):
    module = getattr(torch_state, network)
    model_state = getattr(jax_state, network)
    module.load_state_dict(flax_to_state_dict(
        {'params': model_state.params, 'batch_stats': model_state.batch_stats},
        layers[network], int(jax_state.step)))
    optimizer = getattr(torch_state, f'{network}_optimizer')
    optimizer.load_state_dict(optax_state_to_adam(
        model_state.opt_state, module.state_dict(), layers[network], optimizer.state_dict()))
  torch_state.step = int(jax_state.step)
  return torch_state


def main(argv=None) -> None:
  import argparse  # pylint: disable=g-import-not-at-top

  parser = argparse.ArgumentParser(
      description='Convert a training run (its latest checkpoint, config and metrics) '
                  'from one backend to the other.')
  parser.add_argument('--source', required=True, help='workdir of the run to convert')
  parser.add_argument('--target', required=True, help='new workdir for the converted run')
  args = parser.parse_args(argv)

  from gan_common import cli  # pylint: disable=g-import-not-at-top
  from gan_common.errors import InputError  # pylint: disable=g-import-not-at-top
  try:
    backend = _convert_run(args.source, args.target)
  except InputError as error:
    cli.exit_with_error(error)
  print(f'Converted {args.source} to a {backend} run in {args.target}; continue it with '
        f'python -m {backend}_gan.train --workdir={args.target} --resume')


if __name__ == '__main__':
  main(sys.argv[1:])
