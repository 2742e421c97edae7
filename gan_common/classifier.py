"""The MNIST classifier whose features and class probabilities the evaluation metrics use.

It runs in NumPy alone, so that one network scores images from either backend
and the scores do not depend on which framework is installed. The weights are
trained by `python -m gan_common.train_classifier` and shipped beside this file
as mnist_classifier.npz, checked against WEIGHTS_SHA256 when loaded.

The network, on (N, 28, 28, 1) images in [-1, 1] (the GANs' pixel range):
  conv1    3x3, 1 -> 32 channels, padding 1, ReLU    (N, 28, 28, 32)
  max pool 2x2                                       (N, 14, 14, 32)
  conv2    3x3, 32 -> 64 channels, padding 1, ReLU   (N, 14, 14, 64)
  max pool 2x2                                       (N, 7, 7, 64)
  flatten  in (height, width, channel) order         (N, 3136)
  dense1   3136 -> 128, ReLU                         (N, 128)  the features
  dense2   128 -> 10                                 (N, 10)   the logits
"""

import hashlib
import os

import numpy as np

from gan_common.errors import InputError

WEIGHTS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'mnist_classifier.npz')
# SHA-256 of mnist_classifier.npz as written by gan_common.train_classifier.
WEIGHTS_SHA256 = 'e1dc008b322ece334f056839954790587f8180f055fa8b839dcb217ffe08e667'
FEATURE_DIM = 128
NUM_CLASSES = 10

# Name and shape of every array in the weights file. Kernels are
# (height, width, in, out) for convolutions and (in, out) for dense layers.
WEIGHT_SHAPES = {
    'conv1_kernel': (3, 3, 1, 32),
    'conv1_bias': (32,),
    'conv2_kernel': (3, 3, 32, 64),
    'conv2_bias': (64,),
    'dense1_kernel': (7 * 7 * 64, FEATURE_DIM),
    'dense1_bias': (FEATURE_DIM,),
    'dense2_kernel': (FEATURE_DIM, NUM_CLASSES),
    'dense2_bias': (NUM_CLASSES,),
}


def file_sha256(path: str) -> str:
  """Return the hex SHA-256 of a file's bytes."""
  digest = hashlib.sha256()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      digest.update(block)
  return digest.hexdigest()


def load_weights(path: str = WEIGHTS_FILE, expected_sha256: str | None = WEIGHTS_SHA256) -> dict:
  """Read the classifier's weights as float32 arrays, checking the file's hash and every shape.

  Args:
    path: an .npz file with the arrays of WEIGHT_SHAPES.
    expected_sha256: the file's expected SHA-256, or None to skip the check
      (for weights that were just trained).

  Raises:
    InputError: the file is missing, has another hash, or lacks an array of
      the expected shape.
  """
  if not os.path.isfile(path):
    raise InputError(f'classifier weights {path} not found; reinstall the package, or train '
                     'them with `python -m gan_common.train_classifier`')
  if expected_sha256 is not None:
    actual = file_sha256(path)
    if actual != expected_sha256:
      raise InputError(f'classifier weights {path} have SHA-256 {actual}, expected '
                       f'{expected_sha256}; the file is damaged or not the shipped one')
  try:
    with np.load(path) as arrays:
      weights = {name: np.asarray(arrays[name], np.float32) for name in WEIGHT_SHAPES}
  except (OSError, ValueError, KeyError) as error:
    raise InputError(f'cannot read classifier weights {path}: {error}') from error
  for name, shape in WEIGHT_SHAPES.items():
    if weights[name].shape != shape:
      raise InputError(f'classifier weights {path}: {name} has shape {weights[name].shape}, '
                       f'expected {shape}')
  return weights


def _conv3x3_relu(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
  # A 3x3 convolution with padding 1 as one matrix product over 3x3 patches:
  # (N, H, W, C) -> patches (N * H * W, 3 * 3 * C) -> (N, H, W, out).
  count, height, width, channels = x.shape
  padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  patches = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(1, 2))
  patches = patches.transpose(0, 1, 2, 4, 5, 3).reshape(count * height * width, 9 * channels)
  out = patches @ kernel.reshape(9 * channels, -1) + bias
  return np.maximum(out, 0.0).reshape(count, height, width, -1)


def _max_pool2x2(x: np.ndarray) -> np.ndarray:
  count, height, width, channels = x.shape
  return x.reshape(count, height // 2, 2, width // 2, 2, channels).max(axis=(2, 4))


class MnistClassifier:
  """The shipped MNIST classifier: penultimate features and logits of images in [-1, 1]."""

  def __init__(self, weights: dict | None = None, batch_size: int = 500):
    self.weights = load_weights() if weights is None else weights
    self.batch_size = batch_size

  def features_and_logits(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run the network on images in [-1, 1].

    Args:
      images: (N, 28, 28) or (N, 28, 28, 1) float array; values outside
        [-1, 1] are clipped into it.

    Returns:
      features: (N, 128) float32, the ReLU outputs of dense1.
      logits: (N, 10) float32.
    """
    images = np.asarray(images, np.float32)
    if images.ndim == 3:
      images = images[..., None]
    if images.shape[1:] != (28, 28, 1):
      raise ValueError(f'expected images of shape (N, 28, 28) or (N, 28, 28, 1), got '
                       f'{images.shape}')
    images = np.clip(images, -1.0, 1.0)
    features, logits = [], []
    for start in range(0, len(images), self.batch_size):
      batch_features, batch_logits = self._forward(images[start:start + self.batch_size])
      features.append(batch_features)
      logits.append(batch_logits)
    if not features:
      return (np.zeros((0, FEATURE_DIM), np.float32), np.zeros((0, NUM_CLASSES), np.float32))
    return np.concatenate(features), np.concatenate(logits)

  def _forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    weights = self.weights
    x = _conv3x3_relu(x, weights['conv1_kernel'], weights['conv1_bias'])  # (B, 28, 28, 32)
    x = _max_pool2x2(x)                                                    # (B, 14, 14, 32)
    x = _conv3x3_relu(x, weights['conv2_kernel'], weights['conv2_bias'])  # (B, 14, 14, 64)
    x = _max_pool2x2(x)                                                    # (B, 7, 7, 64)
    x = x.reshape(len(x), -1)                                              # (B, 3136)
    features = np.maximum(x @ weights['dense1_kernel'] + weights['dense1_bias'], 0.0)  # (B, 128)
    logits = features @ weights['dense2_kernel'] + weights['dense2_bias']              # (B, 10)
    return features, logits

  def predict(self, images: np.ndarray) -> np.ndarray:
    """Return the predicted digit of each image, (N,) int64."""
    return np.argmax(self.features_and_logits(images)[1], axis=1)


def softmax(logits: np.ndarray) -> np.ndarray:
  """Return the class probabilities of (N, K) logits, in float64."""
  logits = np.asarray(logits, np.float64)
  shifted = logits - logits.max(axis=1, keepdims=True)
  exponentials = np.exp(shifted)
  return exponentials / exponentials.sum(axis=1, keepdims=True)
