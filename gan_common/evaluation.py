"""Score generated digits against the MNIST test split, with the real-vs-real floor beside each score.

One Evaluator serves both backends: each backend turns its generated images
into a NumPy array in [-1, 1] and hands it here, so the same images give the
same numbers whichever backend made them.

Sample counts: the generated images (config.eval_num_samples, 10,000 by
default) are compared with all 10,000 test images. The floor compares the
same number of training images, drawn without replacement from a fixed seed,
with the same 10,000 test images, so that it is what real digits would score
with that sample count. KID uses 100 subsets of up to 1,000 images of each
set; the classifier score splits the generated images into 10 parts;
precision and recall use k = 3 nearest neighbours.

Precision and recall take the features scaled to unit length. The
classifier's feature length falls as images lose contrast. On raw features,
blurred digits therefore land near the origin, where the real samples are
sparse and their k-nearest-neighbour balls are the largest. Precision of
2,000 training digits blurred with a Gaussian of sigma 2 pixels rose to
0.999 on raw features, and fell to 0.22 on unit-length ones (recall fell on
both).
FID and KID take the raw features, as their definitions do.
"""

import hashlib
import json
import os
import sys

import ml_collections
import numpy as np

from gan_common import classifier as classifier_lib
from gan_common import configuration
from gan_common import images as image_files
from gan_common import metrics as metrics_lib
from gan_common import run_directory
from gan_common.errors import InputError

K_NEAREST = 3
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
SCORE_SPLITS = 10
# Seed of the draw of training images for the floor and of the KID subsets.
SEED = 0

# Metric names in the order of the printed table, with their labels.
METRIC_LABELS = {
    'classifier_score': 'classifier score (max 10)',
    'fid': 'FID',
    'kid': 'KID',
    'precision': 'precision (k=3)',
    'recall': 'recall (k=3)',
}


def as_digits(images: np.ndarray) -> np.ndarray:
  """Return images as (N, 28, 28), from (N, 28, 28), (N, 28, 28, 1) or (N, 1, 28, 28), keeping the dtype."""
  images = np.asarray(images)
  if images.ndim == 4 and images.shape[3] == 1:
    images = images[..., 0]
  elif images.ndim == 4 and images.shape[1] == 1:
    images = images[:, 0]
  if images.ndim != 3 or images.shape[1:] != (28, 28):
    raise ValueError(f'expected 28x28 images of shape (N, 28, 28), (N, 28, 28, 1) or '
                     f'(N, 1, 28, 28), got {images.shape}')
  return images


def canonical_order(images: np.ndarray) -> np.ndarray:
  """Return the indices that sort uint8 images by the SHA-256 of their pixels.

  torchvision and TFDS return MNIST in different orders. Sorting both by
  content makes the floor's draw of training images and the KID subsets the
  same whichever loader read the data.
  """
  digests = [hashlib.sha256(image.tobytes()).digest() for image in images]
  return np.array(sorted(range(len(images)), key=digests.__getitem__), np.int64)


class Evaluator:
  """Scores images in [-1, 1] against the MNIST test split on the shipped classifier's features."""

  def __init__(self, test_images: np.ndarray, train_images: np.ndarray,
               classifier: classifier_lib.MnistClassifier | None = None):
    """Compute the test split's features.

    Args:
      test_images: the 10,000 MNIST test images, uint8, in any of the layouts
        of `as_digits` and in any order.
      train_images: the 60,000 MNIST training images, likewise, for the floor.
      classifier: the feature network; the shipped one by default.
    """
    self.classifier = classifier or classifier_lib.MnistClassifier()
    test_images = as_digits(test_images)
    self._train_images = as_digits(train_images)
    self._train_images = self._train_images[canonical_order(self._train_images)]
    test_images = test_images[canonical_order(test_images)]
    self.test_features = self._features(_to_unit_range(test_images))[0]
    self._floors = {}

  def _features(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    features, logits = self.classifier.features_and_logits(images)
    return features, classifier_lib.softmax(logits)

  def score(self, images: np.ndarray) -> dict:
    """Return every metric of (N, 28, 28[, 1]) or (N, 1, 28, 28) float images in [-1, 1] against the test split.

    Returns:
      A dict with classifier_score, classifier_score_std, fid, kid, kid_std,
      precision, recall, num_generated and num_real.
    """
    images = as_digits(images).astype(np.float32)
    features, probabilities = self._features(images)
    return self._metrics(features, probabilities)

  def floor(self, num_images: int) -> dict:
    """Return the metrics of `num_images` real training images against the test split, cached per count."""
    if num_images not in self._floors:
      draw = np.random.default_rng(SEED).permutation(len(self._train_images))[:num_images]
      features, probabilities = self._features(_to_unit_range(self._train_images[draw]))
      self._floors[num_images] = self._metrics(features, probabilities)
    return self._floors[num_images]

  def _metrics(self, features: np.ndarray, probabilities: np.ndarray) -> dict:
    score, score_std = metrics_lib.classifier_score(probabilities, SCORE_SPLITS)
    kid, kid_std = metrics_lib.kid(self.test_features, features, KID_SUBSETS, KID_SUBSET_SIZE,
                                   SEED)
    precision, recall = metrics_lib.precision_recall(
        _unit_length(self.test_features), _unit_length(features), K_NEAREST)
    return {
        'classifier_score': score, 'classifier_score_std': score_std,
        'fid': metrics_lib.fid(self.test_features, features),
        'kid': kid, 'kid_std': kid_std,
        'precision': precision, 'recall': recall,
        'num_generated': len(features), 'num_real': len(self.test_features),
    }


def _unit_length(features: np.ndarray) -> np.ndarray:
  # Rows scaled to length 1; an all-zero row (every ReLU off) stays zero.
  features = np.asarray(features, np.float64)
  lengths = np.linalg.norm(features, axis=1, keepdims=True)
  return features / np.where(lengths > 0, lengths, 1.0)


def _to_unit_range(images: np.ndarray) -> np.ndarray:
  # uint8 pixels to the GANs' [-1, 1], through the same table as training.
  return image_files.PIXEL_VALUES.astype(np.float32)[images]


def format_table(scores: dict, floor: dict) -> str:
  """Return a text table of the run's metrics beside the real-vs-real floor."""
  lines = [f'{"metric":<26} {"generated":>17} {"real vs real":>17}']
  for name, label in METRIC_LABELS.items():
    cells = []
    for values in (scores, floor):
      cell = f'{values[name]:.4f}'
      if f'{name}_std' in values:
        cell += f' ± {values[name + "_std"]:.4f}'
      cells.append(cell)
    lines.append(f'{label:<26} {cells[0]:>17} {cells[1]:>17}')
  lines.append(f'{scores["num_generated"]} generated and {floor["num_generated"]} training images, '
               f'each against {scores["num_real"]} test images')
  return '\n'.join(lines)


def print_table(scores: dict, floor: dict, title: str) -> None:
  """Write `format_table` to stdout under a title."""
  sys.stdout.write(f'{title}\n{format_table(scores, floor)}\n')
  sys.stdout.flush()


def record_scores(metrics_file: str, step: int, epoch: int, scores: dict, floor: dict) -> None:
  """Append one score record to metrics.jsonl: {step, epoch, evaluation: scores, real_vs_real: floor}."""
  run_directory.MetricsWriter(metrics_file).write(
      {'step': step, 'epoch': epoch, 'evaluation': scores, 'real_vs_real': floor})


def read_run_config(workdir: str, backend: str) -> tuple[run_directory.RunDirectory,
                                                        ml_collections.ConfigDict]:
  """Return the run directory and the config of a finished or stopped training run.

  Raises:
    InputError: the workdir contains no run, a run of another backend, or a
      config that is not valid.
  """
  run_dir = run_directory.RunDirectory(workdir)
  if not os.path.isfile(run_dir.run_file):
    raise InputError(f'no training run in {run_dir.workdir}: {run_dir.run_file} not found')
  try:
    with open(run_dir.run_file) as f:
      run = json.load(f)
    saved = dict(run['config'])
  except (OSError, ValueError, KeyError, TypeError) as error:
    raise InputError(f'cannot read the config in {run_dir.run_file}: {error}') from error
  config = ml_collections.ConfigDict(configuration.with_added_fields(saved))
  if run.get('backend') != backend:
    raise InputError(f'{run_dir.workdir} contains a {run.get("backend")!r} run, not a '
                     f'{backend!r} one; score it with python -m {run.get("backend")}_gan.evaluate')
  configuration.validate(config)
  return run_dir, config
