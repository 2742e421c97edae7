"""MNIST for the JAX backend: read by TensorFlow Datasets, kept on the device as uint8.

TFDS needs TensorFlow to read its prepared files. TensorFlow is imported only
here, and its GPUs are hidden from it, so it runs on the CPU alone.
"""

import glob
import os

from absl import logging
import jax
import jax.numpy as jnp
import numpy as np

from gan_common import configuration
from gan_common import images as image_files
from gan_common.errors import InputError

NUM_TRAIN_IMAGES = 60000
# Images in each MNIST split.
SPLIT_SIZES = {'train': NUM_TRAIN_IMAGES, 'test': 10000}


def tfds_data_dir(data_dir: str):
  """Return the TFDS data dir for config.data_dir, or None for TFDS's default."""
  data_dir = configuration.resolve_data_dir(data_dir)
  if not data_dir:
    return None
  nested = os.path.join(data_dir, 'tensorflow_datasets')
  return nested if os.path.isdir(nested) else data_dir


def load_train_images(data_dir: str, download: bool) -> np.ndarray:
  """Read the 60,000 MNIST training images with TFDS.

  Args:
    data_dir: config.data_dir (see `tfds_data_dir`).
    download: whether TFDS may download and prepare MNIST when it is missing.

  Returns:
    (60000, 28, 28, 1) uint8 array in TFDS's stored order.

  Raises:
    InputError: the data is missing, corrupt, or cannot be downloaded.
  """
  return load_images_and_labels(data_dir, download, 'train')[0]


def load_images_and_labels(data_dir: str, download: bool,
                           split: str) -> tuple[np.ndarray, np.ndarray]:
  """Read one MNIST split with TFDS.

  Args:
    data_dir: config.data_dir (see `tfds_data_dir`).
    download: whether TFDS may download and prepare MNIST when it is missing.
    split: 'train' (60,000 images) or 'test' (10,000 images).

  Returns:
    images: (N, 28, 28, 1) uint8 array in TFDS's stored order.
    labels: (N,) int64 array, the digits.

  Raises:
    InputError: the data is missing, corrupt, or cannot be downloaded.
  """
  directory = tfds_data_dir(data_dir)
  where = directory or os.environ.get('TFDS_DATA_DIR') or '~/tensorflow_datasets'
  hint = ('set --config.data_dir (or the MNIST_DATA_DIR variable) to a folder holding '
          'tensorflow_datasets/mnist/')
  if not download:
    hint += ', or pass --config.download=true when online'
    # Checked here, before TFDS logs its own warnings about the empty folder.
    # A URL such as gs://bucket is left to TFDS to check.
    pattern = os.path.join(os.path.expanduser(where), 'mnist', '*', 'dataset_info.json')
    if '://' not in where and not glob.glob(pattern):
      raise InputError(f'cannot read MNIST with TFDS from {where} (prepared MNIST not found: no '
                       f'mnist/<version>/dataset_info.json); {hint}')

  # TensorFlow only reads files here. Its oneDNN notice (TensorFlow 2.21)
  # ignores TF_CPP_MIN_LOG_LEVEL, and turning oneDNN off silences it.
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  os.environ.setdefault('TF_ENABLE_ONEDNN_OPTS', '0')
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  tf.config.set_visible_devices([], 'GPU')
  try:
    dataset = tfds.load('mnist', split=split, data_dir=directory, download=download,
                        batch_size=-1)
    arrays = tfds.as_numpy(dataset)
    images, labels = arrays['image'], arrays['label']
  except Exception as error:  # pylint: disable=broad-except
    # TFDS raises AssertionError, tf.errors.* and OSError subclasses here;
    # all mean the same to the user: no readable MNIST in that folder.
    summary = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    action = 'read or download' if download else 'read'
    raise InputError(f'cannot {action} MNIST with TFDS from {where} ({summary}); {hint}') from error

  expected = SPLIT_SIZES[split]
  if images.shape != (expected, 28, 28, 1) or images.dtype != np.uint8:
    raise InputError(f'MNIST {split} split in {where} has images of shape {images.shape} and '
                     f'dtype {images.dtype}, expected ({expected}, 28, 28, 1) uint8')
  logging.info('Read %d MNIST %s images with TFDS from %s.', len(images), split, where)
  return images, labels.astype(np.int64)


def epoch_permutation(shuffle_key: jax.Array, epoch: int, num_images: int) -> jax.Array:
  """Return the image order of `epoch` (0-based), computed on the device from the run's shuffle key."""
  return jax.random.permutation(jax.random.fold_in(shuffle_key, epoch), num_images)


@jax.jit(static_argnames=('batch_size', 'dtype'))
def get_batch(images: jax.Array, permutation: jax.Array, index: jax.Array, batch_size: int,
              dtype=jnp.float32) -> jax.Array:
  """Gather batch `index` of an epoch from device-resident uint8 images and scale it to [-1, 1].

  Args:
    images: (N, 28, 28, 1) uint8 on the device.
    permutation: (N,) image order of the epoch.
    index: batch number within the epoch.
    batch_size: B.
    dtype: dtype of the result.

  Returns:
    (B, 28, 28, 1) array of `dtype` in [-1, 1].
  """
  indices = jax.lax.dynamic_slice_in_dim(permutation, index * batch_size, batch_size)
  pixel_values = jnp.asarray(image_files.PIXEL_VALUES.astype(dtype))
  return pixel_values[images[indices]]
