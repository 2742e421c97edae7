"""MNIST for the PyTorch backend: read by torchvision, kept on the device as uint8."""

import functools
import os

from absl import logging
import numpy as np
import torch
import torchvision

from gan_common import configuration
from gan_common import images as image_files
from gan_common.errors import InputError

NUM_TRAIN_IMAGES = 60000
# Images in each MNIST split.
SPLIT_SIZES = {'train': NUM_TRAIN_IMAGES, 'test': 10000}
DEFAULT_ROOT = '~/.cache/torchvision'


def torchvision_root(data_dir: str) -> str:
  """Return the torchvision dataset root for config.data_dir; MNIST lives in <root>/MNIST/raw."""
  return configuration.resolve_data_dir(data_dir) or os.path.expanduser(DEFAULT_ROOT)


def load_train_images(data_dir: str, download: bool) -> torch.Tensor:
  """Read the 60,000 MNIST training images with torchvision.

  Args:
    data_dir: config.data_dir (see `torchvision_root`).
    download: whether torchvision may download MNIST when it is missing.

  Returns:
    (60000, 1, 28, 28) uint8 tensor on the CPU, in the files' order.

  Raises:
    InputError: the data is missing, corrupt, or cannot be downloaded.
  """
  return load_images_and_labels(data_dir, download, 'train')[0]


def load_images_and_labels(data_dir: str, download: bool,
                           split: str) -> tuple[torch.Tensor, torch.Tensor]:
  """Read one MNIST split with torchvision.

  Args:
    data_dir: config.data_dir (see `torchvision_root`).
    download: whether torchvision may download MNIST when it is missing.
    split: 'train' (60,000 images) or 'test' (10,000 images).

  Returns:
    images: (N, 1, 28, 28) uint8 tensor on the CPU, in the files' order.
    labels: (N,) int64 tensor, the digits.

  Raises:
    InputError: the data is missing, corrupt, or cannot be downloaded.
  """
  root = torchvision_root(data_dir)
  hint = ('set --config.data_dir (or the MNIST_DATA_DIR variable) to a folder holding '
          'MNIST/raw/ (the torchvision layout)')
  if not download:
    hint += ', or pass --config.download=true when online'
  try:
    dataset = torchvision.datasets.MNIST(root, train=split == 'train', download=download)
    images, labels = dataset.data, dataset.targets
  except Exception as error:  # pylint: disable=broad-except
    # torchvision raises RuntimeError for missing files, and ValueError,
    # OSError or URLError for corrupt files or a failed download.
    summary = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if isinstance(error, RuntimeError) and summary.startswith('Dataset not found'):
      # torchvision's own text goes on to suggest download=True, its argument, not our flag.
      summary = f'MNIST files not found in {os.path.join(root, "MNIST", "raw")}'
    action = 'read or download' if download else 'read'
    raise InputError(f'cannot {action} MNIST with torchvision from {root} ({summary}); '
                     f'{hint}') from error

  expected = SPLIT_SIZES[split]
  if tuple(images.shape) != (expected, 28, 28) or images.dtype != torch.uint8:
    raise InputError(f'MNIST {split} split in {root} has images of shape {tuple(images.shape)} '
                     f'and dtype {images.dtype}, expected ({expected}, 28, 28) uint8')
  logging.info('Read %d MNIST %s images with torchvision from %s.', len(images), split, root)
  return images.unsqueeze(1), labels.long()  # (N, 1, 28, 28), (N,)


def seed_for(*words: int) -> int:
  """Return a 63-bit seed derived from integers, so that each (seed, purpose, epoch) gets its own stream."""
  return int(np.random.SeedSequence(list(words)).generate_state(1, np.uint64)[0] >> np.uint64(1))


def epoch_permutation(seed: int, epoch: int, num_images: int, device) -> torch.Tensor:
  """Return the image order of `epoch` (0-based), computed on the device from the run's seed."""
  generator = torch.Generator(device=device).manual_seed(seed_for(seed, 0, epoch))
  return torch.randperm(num_images, generator=generator, device=device)


def get_batch(images: torch.Tensor, permutation: torch.Tensor, index: int, batch_size: int,
              dtype=torch.float32) -> torch.Tensor:
  """Gather batch `index` of an epoch from device-resident uint8 images and scale it to [-1, 1].

  Args:
    images: (N, 1, 28, 28) uint8 on the device.
    permutation: (N,) image order of the epoch.
    index: batch number within the epoch.
    batch_size: B.
    dtype: dtype of the result.

  Returns:
    (B, 1, 28, 28) tensor of `dtype` in [-1, 1].
  """
  indices = permutation[index * batch_size:(index + 1) * batch_size]
  return _pixel_values(images.device, dtype)[images[indices].long()]


@functools.lru_cache(maxsize=None)
def _pixel_values(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
  # Copied to the device once per (device, dtype), not once per batch.
  return torch.from_numpy(image_files.PIXEL_VALUES).to(device=device, dtype=dtype)
