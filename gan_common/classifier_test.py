"""Tests of the shipped MNIST classifier: its file, its NumPy network and its accuracy on real MNIST."""

import shutil

import numpy as np
import pytest
import torch

from gan_common import classifier
from gan_common import images as image_files
from gan_common import train_classifier
from gan_common.errors import InputError
from torch_gan import input_pipeline


def test_shipped_weights_load_with_hash_check():
  assert classifier.file_sha256(classifier.WEIGHTS_FILE) == classifier.WEIGHTS_SHA256
  weights = classifier.load_weights()
  assert {name: array.shape for name, array in weights.items()} == classifier.WEIGHT_SHAPES
  assert all(array.dtype == np.float32 for array in weights.values())


def test_changed_weights_file_is_rejected(tmp_path):
  changed = tmp_path / 'weights.npz'
  shutil.copy(classifier.WEIGHTS_FILE, changed)
  data = bytearray(changed.read_bytes())
  data[len(data) // 2] ^= 0xFF
  changed.write_bytes(bytes(data))
  with pytest.raises(InputError, match='have SHA-256 .* expected e1dc008b'):
    classifier.load_weights(str(changed))


def test_missing_weights_file_is_rejected(tmp_path):
  with pytest.raises(InputError, match='not found'):
    classifier.load_weights(str(tmp_path / 'none.npz'))


def test_weights_of_wrong_shape_are_rejected(tmp_path):
  weights = classifier.load_weights()
  weights['dense2_kernel'] = weights['dense2_kernel'][:, :9]
  path = tmp_path / 'nine_classes.npz'
  np.savez(path, **weights)
  with pytest.raises(InputError, match=r'dense2_kernel has shape \(128, 9\), expected \(128, 10\)'):
    classifier.load_weights(str(path), expected_sha256=None)


def test_conv3x3_matches_direct_sum():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 5, 4, 3)).astype(np.float32)
  kernel = rng.normal(size=(3, 3, 3, 2)).astype(np.float32)
  bias = rng.normal(size=(2,)).astype(np.float32)
  padded = np.pad(x.astype(np.float64), ((0, 0), (1, 1), (1, 1), (0, 0)))
  expected = np.zeros((2, 5, 4, 2))
  for row in range(5):
    for column in range(4):
      window = padded[:, row:row + 3, column:column + 3, :]  # (2, 3, 3, 3)
      expected[:, row, column] = np.einsum('nhwc,hwco->no', window, kernel) + bias
  np.testing.assert_allclose(classifier._conv3x3_relu(x, kernel, bias),
                             np.maximum(expected, 0.0), rtol=1e-5, atol=1e-5)


def test_numpy_network_matches_training_network():
  """The exported layouts (HWIO kernels, (in, out) dense kernels) give PyTorch's outputs."""
  weights = classifier.load_weights()
  model = train_classifier.Classifier().eval()
  with torch.no_grad():
    for name in ('conv1', 'conv2'):
      getattr(model, name).weight.copy_(torch.from_numpy(weights[f'{name}_kernel']).permute(3, 2, 0, 1))
      getattr(model, name).bias.copy_(torch.from_numpy(weights[f'{name}_bias']))
    for name in ('dense1', 'dense2'):
      getattr(model, name).weight.copy_(torch.from_numpy(weights[f'{name}_kernel']).T)
      getattr(model, name).bias.copy_(torch.from_numpy(weights[f'{name}_bias']))
  images = np.random.default_rng(1).uniform(-1, 1, size=(8, 28, 28)).astype(np.float32)
  with torch.no_grad():
    torch_logits = model(torch.from_numpy(images)[:, None]).numpy()
  _, numpy_logits = classifier.MnistClassifier(weights).features_and_logits(images)
  # float32 sums in different orders over up to 3,136 terms.
  np.testing.assert_allclose(numpy_logits, torch_logits, rtol=1e-4, atol=1e-4)


def test_accepts_both_image_layouts():
  network = classifier.MnistClassifier(batch_size=3)
  images = np.random.default_rng(2).uniform(-1, 1, size=(7, 28, 28)).astype(np.float32)
  features, logits = network.features_and_logits(images)
  assert features.shape == (7, classifier.FEATURE_DIM)
  assert logits.shape == (7, classifier.NUM_CLASSES)
  np.testing.assert_array_equal(network.features_and_logits(images[..., None])[1], logits)
  with pytest.raises(ValueError, match=r'got \(7, 1, 28, 28\)'):
    network.features_and_logits(images[:, None])


def test_accuracy_on_mnist_test_split(data_dir):
  images, labels = input_pipeline.load_images_and_labels(data_dir, False, 'test')
  pixels = image_files.PIXEL_VALUES.astype(np.float32)[images.numpy()[:, 0]]
  accuracy = np.mean(classifier.MnistClassifier().predict(pixels) == labels.numpy())
  # 0.9929 when the shipped file was written.
  assert accuracy >= 0.99


def test_softmax_rows_sum_to_one():
  probabilities = classifier.softmax(np.array([[1000.0, 0.0], [0.0, np.log(3.0)]]))
  np.testing.assert_allclose(probabilities, [[1.0, 0.0], [0.25, 0.75]], atol=1e-15)
