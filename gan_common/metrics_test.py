"""Tests of the metric functions against hand-computed values on small inputs."""

import numpy as np
import pytest
import scipy.linalg

from gan_common import metrics


def test_frechet_distance_of_diagonal_gaussians():
  # |(0, 0) - (1, 2)|^2 = 5; traces 5 and 13; Tr((C1 C2)^(1/2)) = sqrt(1 * 4) + sqrt(4 * 9) = 8.
  distance = metrics.frechet_distance(np.zeros(2), np.diag([1.0, 4.0]),
                                      np.array([1.0, 2.0]), np.diag([4.0, 9.0]))
  assert distance == pytest.approx(5.0 + 5.0 + 13.0 - 2.0 * 8.0, abs=1e-12)


def test_frechet_distance_with_correlated_covariance():
  # [[2, 1], [1, 2]] has eigenvalues 3 and 1, so against the identity the
  # trace term is sqrt(3) + 1 and the distance 4 + 2 - 2 (sqrt(3) + 1).
  distance = metrics.frechet_distance(np.zeros(2), np.array([[2.0, 1.0], [1.0, 2.0]]),
                                      np.zeros(2), np.eye(2))
  assert distance == pytest.approx(6.0 - 2.0 * (np.sqrt(3.0) + 1.0), abs=1e-12)


def test_frechet_distance_matches_general_matrix_root():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(2, 6, 6))
  covariance1, covariance2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
  mean1, mean2 = rng.normal(size=(2, 6))
  root = scipy.linalg.sqrtm(covariance1 @ covariance2).real
  expected = (np.sum((mean1 - mean2) ** 2) + np.trace(covariance1) + np.trace(covariance2)
              - 2.0 * np.trace(root))
  assert metrics.frechet_distance(mean1, covariance1, mean2, covariance2) == pytest.approx(
      expected, rel=1e-9)


def test_fid_of_identical_features_is_zero():
  features = np.random.default_rng(1).normal(size=(500, 8))
  assert abs(metrics.fid(features, features)) < 1e-9


def test_fid_of_shifted_gaussian_samples():
  # Same covariance, means 3 apart along one axis: FID -> 9 as samples grow.
  rng = np.random.default_rng(2)
  real = rng.normal(size=(20000, 4))
  fake = rng.normal(size=(20000, 4)) + np.array([3.0, 0.0, 0.0, 0.0])
  assert metrics.fid(real, fake) == pytest.approx(9.0, abs=0.1)


def test_unbiased_mmd2_by_hand():
  # k(a, b) = (a b + 1)^3 in one dimension. Off the diagonal:
  # x = (0, 1): k(0, 1) = 1 twice, mean 1. y = (1, 2): k(1, 2) = 27 twice, mean 27.
  # Across: k(0, 1) + k(0, 2) + k(1, 1) + k(1, 2) = 1 + 1 + 8 + 27 = 37, mean 9.25.
  mmd2 = metrics.unbiased_mmd2(np.array([[0.0], [1.0]]), np.array([[1.0], [2.0]]))
  assert mmd2 == pytest.approx(1.0 + 27.0 - 2.0 * 9.25, abs=1e-12)


def test_polynomial_kernel_divides_by_dimension():
  x = np.array([[1.0, 2.0]])
  y = np.array([[3.0, 1.0]])
  assert metrics.polynomial_kernel(x, y)[0, 0] == pytest.approx((5.0 / 2.0 + 1.0) ** 3)


def test_kid_of_identical_sets_is_near_zero():
  rng = np.random.default_rng(3)
  features = np.abs(rng.normal(size=(2000, 16)))
  same_mean, same_std = metrics.kid(features, features, num_subsets=50, subset_size=500)
  shifted_mean, _ = metrics.kid(features, features + 0.5, num_subsets=50, subset_size=500)
  # Subsets drawn from one set share about a quarter of their samples here,
  # and a shared sample adds k(x, x) to the cross term, so the estimate comes
  # out slightly below zero (-0.004): a thousandth of the shifted set's 6.9.
  assert same_mean <= 0.0
  assert abs(same_mean) < 1e-3 * shifted_mean
  assert same_std < 1e-3 * shifted_mean


def test_kid_needs_two_samples():
  with pytest.raises(ValueError, match='at least 2 samples'):
    metrics.kid(np.zeros((1, 3)), np.zeros((5, 3)))


def test_classifier_score_by_hand():
  # Marginal (0.75, 0.25). KL of row 1: log(1 / 0.75). KL of row 2:
  # 0.5 log(0.5 / 0.75) + 0.5 log(0.5 / 0.25). The score is exp of their mean.
  probabilities = np.array([[1.0, 0.0], [0.5, 0.5]])
  expected = np.exp(0.5 * (np.log(1 / 0.75) + 0.5 * np.log(0.5 / 0.75) + 0.5 * np.log(2.0)))
  score, std = metrics.classifier_score(probabilities, num_splits=1)
  assert score == pytest.approx(expected, rel=1e-12)
  assert std == 0.0


@pytest.mark.parametrize('labels, expected', [
    (np.arange(100) % 10, 10.0),  # confident and spread evenly: the maximum
    (np.zeros(100, np.int64), 1.0),  # confident but always the same digit
])
def test_classifier_score_limits(labels, expected):
  probabilities = np.eye(10)[labels]
  score, _ = metrics.classifier_score(probabilities, num_splits=10)
  assert score == pytest.approx(expected, rel=1e-12)


def test_classifier_score_of_uniform_guesses_is_one():
  score, _ = metrics.classifier_score(np.full((50, 10), 0.1), num_splits=5)
  assert score == pytest.approx(1.0, rel=1e-12)


def test_classifier_score_splits_into_parts():
  # Split 1 is all digit 0 (score 1); split 2 spreads over two digits (score 2).
  probabilities = np.eye(10)[[0, 0, 0, 0, 1, 2, 1, 2]]
  score, std = metrics.classifier_score(probabilities, num_splits=2)
  assert score == pytest.approx(1.5)
  assert std == pytest.approx(0.5)


def test_nearest_neighbour_radii_by_hand():
  points = np.array([[0.0], [1.0], [3.0], [7.0]])
  # Squared distances to the 1st and 2nd nearest other point.
  np.testing.assert_allclose(metrics.nearest_neighbour_radii(points, k=1), [1, 1, 4, 16])
  np.testing.assert_allclose(metrics.nearest_neighbour_radii(points, k=2), [9, 4, 9, 36])


def test_nearest_neighbour_radii_blocks_agree():
  points = np.random.default_rng(4).normal(size=(37, 5))
  np.testing.assert_allclose(metrics.nearest_neighbour_radii(points, k=3, block_size=4),
                             metrics.nearest_neighbour_radii(points, k=3), rtol=1e-12)


def test_precision_recall_by_hand():
  # Real points 0, 1, 2, 3: each ball has squared radius 1 (k = 1).
  # Generated 0.5 and 2.9 lie in a real ball, 10 and 11 do not: precision 0.5.
  # Generated balls: 0.5 and 2.9 reach each other (squared radius 5.76), and
  # 10 and 11 reach each other (squared radius 1). Every real point lies
  # within the ball of 0.5 or of 2.9, so recall is 1.
  real = np.array([[0.0], [1.0], [2.0], [3.0]])
  fake = np.array([[0.5], [10.0], [11.0], [2.9]])
  precision, recall = metrics.precision_recall(real, fake, k=1, block_size=3)
  assert precision == 0.5
  assert recall == 1.0


def test_precision_recall_of_a_missing_mode():
  # Generated samples cover one of two real clusters: they are realistic but
  # half of the real data is missed (recall 0.5). Precision stays below 1
  # because k = 3 balls leave out a few samples in a Gaussian's tails (0.95 here).
  rng = np.random.default_rng(5)
  real = np.concatenate([rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 20.0])
  fake = rng.normal(size=(200, 2))
  precision, recall = metrics.precision_recall(real, fake, k=3)
  assert precision > 0.9
  assert recall == pytest.approx(0.5, abs=0.03)


def test_precision_recall_needs_more_than_k_samples():
  with pytest.raises(ValueError, match='more than 3 samples'):
    metrics.precision_recall(np.zeros((3, 2)), np.zeros((10, 2)), k=3)
