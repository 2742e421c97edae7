"""Tests of the weight converter: exact round trips, and a training run moved between backends."""

import json
import os

import numpy as np
import pytest
import torch

from parity_tests import convert
from torch_gan import models as torch_models


@pytest.mark.parametrize('kind,shape', [
    (convert.CONV, (8, 3, 4, 4)),
    (convert.CONV_TRANSPOSE, (6, 6, 4, 4)),  # in == out: the case a missing flip hides in.
    (convert.CONV_TRANSPOSE, (8, 3, 4, 4)),
    (convert.DENSE, (5, 7)),
    (convert.DENSE_TO_NHWC, (3 * 49, 10)),
    (convert.DENSE_FROM_NHWC, (2, 4 * 49)),
])
def test_weight_round_trip_is_exact(kind, shape):
  weight = np.random.RandomState(0).standard_normal(shape)
  kernel = convert.weight_to_flax(kind, weight)
  np.testing.assert_array_equal(convert.kernel_to_torch(kind, kernel), weight)


def test_conv_transpose_kernel_layout_by_hand():
  # PyTorch weight (in=1, out=1, 4, 4) with entries 0..15: the Flax kernel is
  # (4, 4, 1, 1) and flipped in both spatial axes.
  weight = np.arange(16.0).reshape(1, 1, 4, 4)
  kernel = convert.weight_to_flax(convert.CONV_TRANSPOSE, weight)
  assert kernel.shape == (4, 4, 1, 1)
  assert kernel[0, 0, 0, 0] == 15.0
  assert kernel[3, 3, 0, 0] == 0.0
  assert kernel[0, 3, 0, 0] == 12.0


def test_dense_to_nhwc_reorders_outputs_by_hand():
  # Output feature (c, h, w) of PyTorch is output feature (h, w, c) of Flax.
  weight = np.zeros((2 * 49, 1))
  weight[1 * 49 + 3 * 7 + 5, 0] = 1.0  # c=1, h=3, w=5
  kernel = convert.weight_to_flax(convert.DENSE_TO_NHWC, weight)
  assert kernel.shape == (1, 98)
  assert kernel[0, (3 * 7 + 5) * 2 + 1] == 1.0
  assert kernel.sum() == 1.0


@pytest.mark.parametrize('network,module', [
    ('generator', torch_models.Generator()),
    ('discriminator', torch_models.Discriminator()),
])
def test_state_dict_round_trip_is_exact(network, module):
  state_dict = module.state_dict()
  variables = convert.state_dict_to_flax(state_dict, convert.LAYERS[network])
  restored = convert.flax_to_state_dict(variables, convert.LAYERS[network])
  assert sorted(restored) == sorted(state_dict)
  for name, tensor in state_dict.items():
    assert torch.equal(restored[name], tensor), name


@pytest.mark.parametrize('overrides', [
    dict(discriminator_normalization='layer_norm'),
    dict(discriminator_normalization='none'),
    dict(model='mlp', hidden_features=16),
], ids=['layer_norm', 'no_norm', 'mlp'])
def test_other_models_round_trip_exactly(overrides):
  from configs import default  # pylint: disable=g-import-not-at-top

  config = default.get_config()
  config.update(overrides)
  layers = convert.model_layers(config)
  for network, module in zip(('generator', 'discriminator'), torch_models.create_models(config)):
    state_dict = module.state_dict()
    restored = convert.flax_to_state_dict(convert.state_dict_to_flax(state_dict, layers[network]),
                                          layers[network])
    assert sorted(restored) == sorted(state_dict)
    for name, tensor in state_dict.items():
      assert torch.equal(restored[name], tensor), name


def test_run_moves_between_backends(small_run_config, tmp_path, capsys):
  from jax_gan import train as jax_train  # pylint: disable=g-import-not-at-top
  from torch_gan import train as torch_train  # pylint: disable=g-import-not-at-top

  torch_run, jax_run, back = (str(tmp_path / name) for name in ('torch', 'jax', 'back'))
  torch_train.train_and_evaluate(small_run_config(num_steps=2), torch_run)
  convert.main([f'--source={torch_run}', f'--target={jax_run}'])
  assert 'continue it with python -m jax_gan.train' in capsys.readouterr().out
  with open(os.path.join(jax_run, 'run.json')) as f:
    assert json.load(f)['backend'] == 'jax'

  state = jax_train.train_and_evaluate(small_run_config(num_steps=4), jax_run, resume=True)
  assert int(state.step) == 4
  convert.main([f'--source={jax_run}', f'--target={back}'])
  resumed = torch_train.train_and_evaluate(small_run_config(num_steps=5), back, resume=True)
  assert resumed.step == 5
  with open(os.path.join(back, 'metrics.jsonl')) as f:
    assert [json.loads(line)['step'] for line in f] == [2, 4, 5]


def test_convert_rejects_missing_run(tmp_path):
  with pytest.raises(SystemExit) as exit_info:
    convert.main([f'--source={tmp_path / "none"}', f'--target={tmp_path / "new"}'])
  assert exit_info.value.code == 2
