"""Shared pytest fixtures: the real MNIST folder, and an import order that keeps TensorFlow and torchvision apart."""

import os

import pytest

# NOTE: with tensorflow-cpu 2.21 and torchvision 0.29.1 (torch 2.14.1), importing
# torchvision after TensorFlow crashes the process with a segmentation fault in
# torchvision's C++ operator registration. The other order works. Because one
# pytest process runs both backends' tests, torchvision is imported first here.
try:
  import torchvision  # pylint: disable=unused-import
except ImportError:
  pass

REPOSITORY_ROOT = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope='session')
def data_dir() -> str:
  """Return the folder holding real MNIST in both layouts, downloading it there when it is missing.

  The folder is $MNIST_DATA_DIR, else `data/` in the repository. It contains
  `MNIST/raw/` for torchvision and `tensorflow_datasets/mnist/` for TFDS.
  """
  from gan_common import configuration  # pylint: disable=g-import-not-at-top
  from jax_gan import input_pipeline as jax_input  # pylint: disable=g-import-not-at-top
  from torch_gan import input_pipeline as torch_input  # pylint: disable=g-import-not-at-top

  path = os.path.abspath(os.environ.get(configuration.DATA_DIR_VARIABLE)
                         or os.path.join(REPOSITORY_ROOT, 'data'))
  tfds_dir = os.path.join(path, 'tensorflow_datasets')
  if not os.path.isdir(tfds_dir):
    os.makedirs(tfds_dir, exist_ok=True)
  # Each call reads the prepared files, or downloads them when online.
  for load in (torch_input.load_train_images, jax_input.load_train_images):
    try:
      load(path, download=True)
    except configuration.InputError as error:
      pytest.fail(f'real MNIST is needed for the tests and could not be read or downloaded: '
                  f'{error}; set {configuration.DATA_DIR_VARIABLE} to a folder holding '
                  'MNIST/raw/ and tensorflow_datasets/mnist/')
  return path


@pytest.fixture
def small_run_config(data_dir):
  """Return a function that builds the default config for a short run on real MNIST, with overrides."""
  from configs import default  # pylint: disable=g-import-not-at-top

  def make(**overrides):
    config = default.get_config()
    config.data_dir = data_dir
    config.download = False
    config.num_steps = 4
    config.log_every_steps = 2
    config.num_samples = 16
    # Scoring takes seconds on 10,000 images; the tests that check it turn it on.
    config.eval_num_samples = 0
    for name, value in overrides.items():
      config[name] = value
    return config

  return make
