"""Sanity tests of the Evaluator on real MNIST: real digits score near the floor, damaged ones worse."""

import json

import numpy as np
import pytest
from scipy import ndimage

from configs import default
from gan_common import evaluation
from gan_common import images as image_files
from gan_common.errors import InputError
from torch_gan import input_pipeline

# Images per score in these tests: fewer than the default 10,000 to keep them
# quick, enough for every metric to separate the cases below.
NUM_IMAGES = 2000


@pytest.fixture(scope='module')
def mnist(data_dir):
  test_images, _ = input_pipeline.load_images_and_labels(data_dir, False, 'test')
  train_images, train_labels = input_pipeline.load_images_and_labels(data_dir, False, 'train')
  return test_images.numpy()[:, 0], train_images.numpy()[:, 0], train_labels.numpy()


@pytest.fixture(scope='module')
def evaluator(mnist):
  test_images, train_images, _ = mnist
  return evaluation.Evaluator(test_images, train_images)


@pytest.fixture(scope='module')
def floor(evaluator):
  return evaluator.floor(NUM_IMAGES)


def pixels(images: np.ndarray) -> np.ndarray:
  return image_files.PIXEL_VALUES.astype(np.float32)[images]


def other_training_digits(mnist, keep=None) -> np.ndarray:
  """NUM_IMAGES training digits in [-1, 1], from a draw other than the floor's."""
  _, train_images, train_labels = mnist
  rng = np.random.default_rng(123)
  candidates = np.arange(len(train_images)) if keep is None else np.flatnonzero(keep(train_labels))
  return pixels(train_images[rng.choice(candidates, NUM_IMAGES, replace=False)])


def test_floor_is_near_perfect(floor):
  assert floor['num_generated'] == NUM_IMAGES
  assert floor['num_real'] == 10000
  assert floor['classifier_score'] > 9.0
  assert floor['fid'] < 10.0
  assert floor['precision'] > 0.8
  assert floor['recall'] > 0.8


def test_other_real_digits_score_near_floor(mnist, evaluator, floor):
  scores = evaluator.score(other_training_digits(mnist))
  assert scores['classifier_score'] == pytest.approx(floor['classifier_score'], abs=0.3)
  assert scores['fid'] < 2 * floor['fid']
  assert scores['precision'] == pytest.approx(floor['precision'], abs=0.05)
  assert scores['recall'] == pytest.approx(floor['recall'], abs=0.05)


def test_gaussian_noise_scores_far_worse(evaluator, floor):
  noise = np.clip(np.random.default_rng(0).normal(size=(NUM_IMAGES, 28, 28)), -1, 1)
  scores = evaluator.score(noise)
  assert scores['classifier_score'] < 2.0
  assert scores['fid'] > 100 * floor['fid']
  assert scores['kid'] > 100 * floor['kid']
  assert scores['precision'] < 0.05
  assert scores['recall'] < 0.05


def test_blur_makes_every_metric_worse(mnist, evaluator, floor):
  digits = other_training_digits(mnist)
  rows = [evaluator.score(ndimage.gaussian_filter(digits, sigma=(0, sigma, sigma)))
          for sigma in (0.5, 1.0, 2.0)]
  for name in ('classifier_score', 'precision', 'recall'):
    values = [floor[name]] + [row[name] for row in rows]
    assert values == sorted(values, reverse=True), f'{name} should fall with blur: {values}'
  for name in ('fid', 'kid'):
    values = [floor[name]] + [row[name] for row in rows]
    assert values == sorted(values), f'{name} should rise with blur: {values}'


def test_dropping_a_digit_lowers_recall_not_precision(mnist, evaluator, floor):
  all_digits = evaluator.score(other_training_digits(mnist))
  without_zeros = evaluator.score(other_training_digits(mnist, keep=lambda labels: labels != 0))
  # About a tenth of the test digits are zeros, and they lose their neighbours.
  assert without_zeros['recall'] < all_digits['recall'] - 0.05
  assert without_zeros['precision'] == pytest.approx(all_digits['precision'], abs=0.03)
  assert without_zeros['fid'] > 5 * floor['fid']


def test_scores_do_not_depend_on_real_image_order(mnist, evaluator, floor):
  test_images, train_images, _ = mnist
  rng = np.random.default_rng(7)
  shuffled = evaluation.Evaluator(test_images[rng.permutation(len(test_images))][:, :, :, None],
                                  train_images[rng.permutation(len(train_images))][:, None])
  np.testing.assert_array_equal(shuffled.test_features, evaluator.test_features)
  assert shuffled.floor(NUM_IMAGES) == floor


def test_as_digits_takes_three_layouts():
  images = np.arange(2 * 28 * 28).reshape(2, 28, 28)
  for layout in (images, images[..., None], images[:, None]):
    np.testing.assert_array_equal(evaluation.as_digits(layout), images)
  with pytest.raises(ValueError, match=r'got \(2, 3, 28, 28\)'):
    evaluation.as_digits(np.zeros((2, 3, 28, 28)))


def test_format_table_lists_every_metric(floor):
  table = evaluation.format_table(floor, floor)
  for label in evaluation.METRIC_LABELS.values():
    assert label in table
  assert f'{floor["fid"]:.4f}' in table
  assert '2000 generated and 2000 training images, each against 10000 test images' in table


def test_record_scores_appends_a_line(tmp_path):
  metrics_file = tmp_path / 'metrics.jsonl'
  metrics_file.write_text('{"step": 5, "d_loss": 1.0, "g_loss": 2.0}\n')
  evaluation.record_scores(str(metrics_file), 10, 2, {'fid': 1.5}, {'fid': 0.5})
  lines = metrics_file.read_text().splitlines()
  assert json.loads(lines[1]) == {'step': 10, 'epoch': 2, 'evaluation': {'fid': 1.5},
                                  'real_vs_real': {'fid': 0.5}}


def test_read_run_config_errors(tmp_path):
  with pytest.raises(InputError, match='no training run in .*run.json not found'):
    evaluation.read_run_config(str(tmp_path), 'jax')
  (tmp_path / 'run.json').write_text('{"backend": "torch", "config": {}}')
  with pytest.raises(InputError, match="contains a 'torch' run, not a 'jax' one"):
    evaluation.read_run_config(str(tmp_path), 'jax')
  (tmp_path / 'run.json').write_text('not json')
  with pytest.raises(InputError, match='cannot read the config'):
    evaluation.read_run_config(str(tmp_path), 'jax')


def test_read_run_config_fills_fields_of_older_runs(tmp_path):
  config = default.get_config().to_dict()
  del config['eval_num_samples'], config['eval_every_epochs'], config['compute_dtype']
  (tmp_path / 'run.json').write_text(json.dumps({'backend': 'jax', 'config': config}))
  _, read = evaluation.read_run_config(str(tmp_path), 'jax')
  assert read.eval_num_samples == 10000
  assert read.eval_every_epochs == 0
  assert read.compute_dtype == 'float32'
  assert read.learning_rate == config['learning_rate']
