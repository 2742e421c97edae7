"""The scores do not depend on the backend: both evaluators agree, and the same images score the same."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from configs import default
from jax_gan import evaluate as jax_evaluate
from jax_gan import train_step as jax_train_step
from torch_gan import evaluate as torch_evaluate
from torch_gan import train_step as torch_train_step

NUM_IMAGES = 500


@pytest.fixture(scope='module')
def config(data_dir):
  config = default.get_config()
  config.data_dir = data_dir
  config.download = False
  return config


@pytest.fixture(scope='module')
def evaluators(config):
  """The JAX evaluator reads MNIST with TFDS, the PyTorch one with torchvision, in other orders."""
  return jax_evaluate.load_evaluator(config), torch_evaluate.load_evaluator(config)


def test_both_evaluators_have_the_same_reference(evaluators):
  jax_evaluator, torch_evaluator = evaluators
  np.testing.assert_array_equal(jax_evaluator.test_features, torch_evaluator.test_features)
  assert jax_evaluator.floor(NUM_IMAGES) == torch_evaluator.floor(NUM_IMAGES)


def test_same_images_score_the_same_through_both_backends(evaluators):
  jax_evaluator, torch_evaluator = evaluators
  images = np.tanh(np.random.default_rng(0).normal(size=(NUM_IMAGES, 28, 28))).astype(np.float32)
  from_jax = jax_evaluate.evaluation_images(jnp.asarray(images)[..., None])    # NHWC
  from_torch = torch_evaluate.evaluation_images(torch.from_numpy(images)[:, None])  # NCHW
  np.testing.assert_array_equal(from_jax, images)
  np.testing.assert_array_equal(from_torch, images)
  assert jax_evaluator.score(from_jax) == torch_evaluator.score(from_torch)


@pytest.mark.parametrize('backend', ['jax', 'torch'])
def test_untrained_generator_scores_far_worse(backend, config, evaluators):
  if backend == 'jax':
    gan = jax_train_step.create_gan(config)
    state = jax_train_step.create_train_state(gan, jax.random.PRNGKey(0))
    scores, floor = jax_evaluate.score_generator(gan, state.generator, config, evaluators[0],
                                                 NUM_IMAGES)
  else:
    state = torch_train_step.create_train_state(config, torch.device('cpu'))
    scores, floor = torch_evaluate.score_generator(state.generator, config, evaluators[1],
                                                   NUM_IMAGES)
  assert scores['num_generated'] == NUM_IMAGES
  assert scores['fid'] > 50 * floor['fid']
  assert scores['classifier_score'] < floor['classifier_score'] - 3.0
  assert scores['precision'] < 0.1
  assert scores['recall'] < 0.1
