"""Train the MNIST classifier that the evaluation metrics use, and write its weights for NumPy.

  python -m gan_common.train_classifier --output=runs/mnist_classifier.npz

It trains the network of gan_common/classifier.py with PyTorch, which trains
it fastest on a CPU, from a fixed seed, on the 60,000 training images with
random shifts of up to 2 pixels. It then writes the weights in the layout that
gan_common/classifier.py reads, scores them with the NumPy network on the
10,000 test images, and prints the file's SHA-256. To ship new weights, copy
the file over gan_common/mnist_classifier.npz and put its hash in
classifier.WEIGHTS_SHA256.

The shipped file came from the defaults with OMP_NUM_THREADS=1 and PyTorch
2.14.1 on an x86-64 CPU, in about 8 minutes, and scored 0.9929.

NOTE: the same seed gives the same weights only with the same PyTorch release
and thread count, because CPU convolutions sum in an order that depends on
both. The shipped file is identified by its hash, not by the seed.
"""

import os
import sys
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from gan_common import classifier
from gan_common import cli
from gan_common import configuration
from gan_common import images as image_files
from gan_common.errors import InputError
from torch_gan import input_pipeline

_OUTPUT = flags.DEFINE_string('output', None, 'Path of the .npz weights file to write.')
_DATA_DIR = flags.DEFINE_string(
    'data_dir', '', 'MNIST folder in the torchvision layout (MNIST/raw/); empty: '
    f'${configuration.DATA_DIR_VARIABLE}, else ~/.cache/torchvision.')
_EPOCHS = flags.DEFINE_integer('epochs', 10, 'Passes over the 60,000 training images.')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', 128, 'Images per step.')
_LEARNING_RATE = flags.DEFINE_float('learning_rate', 1e-3, 'Adam learning rate at the start; '
                                    'it falls to zero along a cosine over the run.')
_SEED = flags.DEFINE_integer('seed', 0, 'Seed of the initial weights, the shuffling, the shifts '
                             'and the dropout.')

MAX_SHIFT = 2  # pixels, in each direction


class Classifier(nn.Module):
  """The network of gan_common/classifier.py, with dropout for training."""

  def __init__(self):
    super().__init__()
    self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
    self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
    self.dense1 = nn.Linear(7 * 7 * 64, classifier.FEATURE_DIM)
    self.dense2 = nn.Linear(classifier.FEATURE_DIM, classifier.NUM_CLASSES)

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    x = F.max_pool2d(F.relu(self.conv1(x)), 2)  # (B, 32, 14, 14)
    x = F.max_pool2d(F.relu(self.conv2(x)), 2)  # (B, 64, 7, 7)
    x = F.dropout(x, 0.25, self.training)
    x = x.permute(0, 2, 3, 1).flatten(1)         # (B, 3136), (height, width, channel) order
    x = F.relu(self.dense1(x))                   # (B, 128)
    x = F.dropout(x, 0.5, self.training)
    return self.dense2(x)                        # (B, 10)

  def numpy_weights(self) -> dict:
    """Return the weights in the names and layouts of classifier.WEIGHT_SHAPES."""
    def array(tensor):
      return tensor.detach().cpu().numpy().astype(np.float32)
    return {
        'conv1_kernel': array(self.conv1.weight.permute(2, 3, 1, 0)),  # (O, I, H, W) -> HWIO
        'conv1_bias': array(self.conv1.bias),
        'conv2_kernel': array(self.conv2.weight.permute(2, 3, 1, 0)),
        'conv2_bias': array(self.conv2.bias),
        'dense1_kernel': array(self.dense1.weight.T),  # (out, in) -> (in, out)
        'dense1_bias': array(self.dense1.bias),
        'dense2_kernel': array(self.dense2.weight.T),
        'dense2_bias': array(self.dense2.bias),
    }


def shift_randomly(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
  """Shift each (B, 1, 28, 28) image by up to MAX_SHIFT pixels each way, filling with -1 (black)."""
  count = images.shape[0]
  padded = F.pad(images, (MAX_SHIFT,) * 4, value=-1.0)  # (B, 1, 32, 32)
  offsets = torch.randint(0, 2 * MAX_SHIFT + 1, (2, count), generator=generator)
  positions = torch.arange(28)
  rows = (offsets[0][:, None] + positions)[:, :, None]     # (B, 28, 1)
  columns = (offsets[1][:, None] + positions)[:, None, :]  # (B, 1, 28)
  return padded[torch.arange(count)[:, None, None], 0, rows, columns].unsqueeze(1)


def train(data_dir: str, epochs: int, batch_size: int, learning_rate: float,
          seed: int) -> Classifier:
  """Train the classifier on the MNIST training split and return it in eval mode."""
  torch.manual_seed(seed)
  generator = torch.Generator().manual_seed(seed)
  images, labels = input_pipeline.load_images_and_labels(data_dir, False, 'train')
  pixel_values = torch.from_numpy(image_files.PIXEL_VALUES).float()
  images = pixel_values[images.long()]  # (60000, 1, 28, 28) in [-1, 1]

  model = Classifier()
  steps_per_epoch = len(images) // batch_size
  optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
  schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, epochs * steps_per_epoch)
  for epoch in range(epochs):
    model.train()
    start = time.perf_counter()
    order = torch.randperm(len(images), generator=generator)
    total_loss = 0.0
    for step in range(steps_per_epoch):
      indices = order[step * batch_size:(step + 1) * batch_size]
      batch = shift_randomly(images[indices], generator)
      loss = F.cross_entropy(model(batch), labels[indices])
      optimizer.zero_grad()
      loss.backward()
      optimizer.step()
      schedule.step()
      total_loss += loss.item()
    logging.info('Epoch %d/%d: cross-entropy %.4f, %.1f s.', epoch + 1, epochs,
                 total_loss / steps_per_epoch, time.perf_counter() - start)
  return model.eval()


def test_accuracy(weights: dict, data_dir: str) -> float:
  """Return the NumPy classifier's accuracy on the 10,000 MNIST test images."""
  images, labels = input_pipeline.load_images_and_labels(data_dir, False, 'test')
  pixels = image_files.PIXEL_VALUES.astype(np.float32)[images.numpy()[:, 0]]  # (10000, 28, 28)
  predictions = classifier.MnistClassifier(weights).predict(pixels)
  return float(np.mean(predictions == labels.numpy()))


def main(argv):
  if len(argv) > 1:
    cli.exit_with_error(f'unexpected arguments: {" ".join(argv[1:])}')
  if not _OUTPUT.value:
    cli.exit_with_error('--output is required: the .npz file to write')
  for flag in (_EPOCHS, _BATCH_SIZE):
    if flag.value <= 0:
      cli.exit_with_error(f'--{flag.name} must be a positive integer, got {flag.value}')
  output = os.path.abspath(os.path.expanduser(_OUTPUT.value))
  if os.path.exists(output):
    cli.exit_with_error(f'{output} already exists; choose another --output')
  if not os.path.isdir(os.path.dirname(output)):
    cli.exit_with_error(f'the folder of --output, {os.path.dirname(output)}, does not exist')

  try:
    model = train(_DATA_DIR.value, _EPOCHS.value, _BATCH_SIZE.value, _LEARNING_RATE.value,
                  _SEED.value)
    weights = model.numpy_weights()
    np.savez(output, **weights)
    accuracy = test_accuracy(classifier.load_weights(output, expected_sha256=None),
                             _DATA_DIR.value)
  except InputError as error:
    cli.exit_with_error(error)
  sys.stdout.write(f'Wrote {output}\n'
                   f'test accuracy (NumPy network, 10,000 images): {accuracy:.4f}\n'
                   f'SHA-256: {classifier.file_sha256(output)}\n')


if __name__ == '__main__':
  app.run(main)
