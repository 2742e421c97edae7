"""Sample-quality metrics on classifier features: FID, KID, classifier score, precision and recall.

Each function takes NumPy arrays of features or class probabilities and
computes in float64. They are the standard definitions, computed on the
features of the MNIST classifier of gan_common/classifier.py in place of an
Inception network's.
"""

import numpy as np


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Return the mean (D,) and the unbiased covariance (D, D) of (N, D) features, in float64."""
  features = np.asarray(features, np.float64)
  return features.mean(axis=0), np.cov(features, rowvar=False)


def _psd_square_root(matrix: np.ndarray) -> np.ndarray:
  # The symmetric square root of a symmetric positive semi-definite matrix.
  # Rounding can leave eigenvalues slightly below zero; they are taken as zero.
  eigenvalues, eigenvectors = np.linalg.eigh(matrix)
  return (eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ eigenvectors.T


def frechet_distance(mean1: np.ndarray, covariance1: np.ndarray, mean2: np.ndarray,
                     covariance2: np.ndarray) -> float:
  """Return the Fréchet distance between two Gaussians, the FID of Heusel et al. (2017).

  d^2 = |mean1 - mean2|^2 + Tr(covariance1 + covariance2 - 2 (covariance1 covariance2)^(1/2))

  Tr((C1 C2)^(1/2)) is the sum of the square roots of the eigenvalues of
  C1^(1/2) C2 C1^(1/2), a symmetric matrix with the same eigenvalues as
  C1 C2, so no general matrix square root is needed.
  """
  mean1, mean2 = np.asarray(mean1, np.float64), np.asarray(mean2, np.float64)
  covariance1 = np.asarray(covariance1, np.float64)
  covariance2 = np.asarray(covariance2, np.float64)
  root1 = _psd_square_root(covariance1)
  product_eigenvalues = np.linalg.eigvalsh(root1 @ covariance2 @ root1)
  trace_of_root = np.sum(np.sqrt(np.clip(product_eigenvalues, 0.0, None)))
  difference = mean1 - mean2
  return float(difference @ difference + np.trace(covariance1) + np.trace(covariance2)
               - 2.0 * trace_of_root)


def fid(real_features: np.ndarray, fake_features: np.ndarray) -> float:
  """Return the FID between two (N, D) feature sets, each summarized by its mean and covariance."""
  return frechet_distance(*feature_statistics(real_features), *feature_statistics(fake_features))


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """Return the cubic kernel k(x, y) = (x . y / D + 1)^3 of KID between (N, D) and (M, D) features, (N, M)."""
  return (x @ y.T / x.shape[1] + 1.0) ** 3


def unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
  """Return the unbiased estimate of the squared MMD between (m, D) and (n, D) samples, cubic kernel.

  MMD^2 = sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (n (n - 1))
          - 2 sum_{i, j} k(x_i, y_j) / (m n)
  It can be slightly negative when the two distributions are the same.
  """
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  m, n = len(x), len(y)
  kernel_xx, kernel_yy = polynomial_kernel(x, x), polynomial_kernel(y, y)
  within_x = (kernel_xx.sum() - np.trace(kernel_xx)) / (m * (m - 1))
  within_y = (kernel_yy.sum() - np.trace(kernel_yy)) / (n * (n - 1))
  across = polynomial_kernel(x, y).sum() / (m * n)
  return float(within_x + within_y - 2.0 * across)


def kid(real_features: np.ndarray, fake_features: np.ndarray, num_subsets: int = 100,
        subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
  """Return the KID of Bińkowski et al. (2018): mean and standard deviation of `unbiased_mmd2` over subsets.

  Each of the num_subsets subsets draws min(subset_size, N_real, N_fake)
  samples from each set without replacement, from a generator seeded by `seed`.
  """
  size = min(subset_size, len(real_features), len(fake_features))
  if size < 2:
    raise ValueError(f'KID needs at least 2 samples in each set, got {len(real_features)} real '
                     f'and {len(fake_features)} generated')
  rng = np.random.default_rng(seed)
  values = []
  for _ in range(num_subsets):
    real_subset = real_features[rng.choice(len(real_features), size, replace=False)]
    fake_subset = fake_features[rng.choice(len(fake_features), size, replace=False)]
    values.append(unbiased_mmd2(real_subset, fake_subset))
  return float(np.mean(values)), float(np.std(values))


def classifier_score(probabilities: np.ndarray, num_splits: int = 10) -> tuple[float, float]:
  """Return the Inception Score formula on a classifier's class probabilities: mean and std over splits.

  score = exp(E_x KL(p(y | x) || p(y))), with p(y) the mean of p(y | x) over
  the split. It lies between 1 and the number of classes: 10 for MNIST is
  reached by confident predictions spread evenly over the digits.

  Args:
    probabilities: (N, K) rows of class probabilities.
    num_splits: the images are cut into this many equal consecutive parts
      (the last N mod num_splits are left out), as in Salimans et al. (2016).
  """
  probabilities = np.asarray(probabilities, np.float64)
  split_size = len(probabilities) // num_splits
  if split_size < 1:
    raise ValueError(f'the classifier score needs at least {num_splits} images, got '
                     f'{len(probabilities)}')
  scores = []
  for index in range(num_splits):
    part = probabilities[index * split_size:(index + 1) * split_size]
    marginal = part.mean(axis=0, keepdims=True)
    # p log(p / marginal), taken as 0 where p is 0.
    terms = np.where(part > 0, part * (np.log(np.where(part > 0, part, 1.0))
                                       - np.log(np.where(part > 0, marginal, 1.0))), 0.0)
    scores.append(np.exp(terms.sum(axis=1).mean()))
  return float(np.mean(scores)), float(np.std(scores))


def _squared_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  # (N, M) squared Euclidean distances, clipped at zero against rounding.
  squared = (x * x).sum(axis=1)[:, None] + (y * y).sum(axis=1)[None, :] - 2.0 * (x @ y.T)
  return np.maximum(squared, 0.0)


def nearest_neighbour_radii(features: np.ndarray, k: int = 3, block_size: int = 1000) -> np.ndarray:
  """Return each sample's squared distance to its k-th nearest other sample in the same set, (N,)."""
  features = np.asarray(features, np.float64)
  if len(features) <= k:
    raise ValueError(f'k-nearest-neighbour radii with k={k} need more than {k} samples, got '
                     f'{len(features)}')
  radii = np.empty(len(features))
  for start in range(0, len(features), block_size):
    distances = _squared_distances(features[start:start + block_size], features)
    # Position 0 of each sorted row is the sample itself (distance 0), so
    # position k is the k-th nearest other sample.
    radii[start:start + block_size] = np.partition(distances, k, axis=1)[:, k]
  return radii


def precision_recall(real_features: np.ndarray, fake_features: np.ndarray, k: int = 3,
                     block_size: int = 1000) -> tuple[float, float]:
  """Return the improved precision and recall of Kynkäänniemi et al. (2019).

  Each set's manifold is the union of balls around its samples, each ball's
  radius the distance to that sample's k-th nearest neighbour in its own set.
  Precision is the fraction of generated samples inside the real manifold,
  recall the fraction of real samples inside the generated manifold.
  """
  real = np.asarray(real_features, np.float64)
  fake = np.asarray(fake_features, np.float64)
  real_radii = nearest_neighbour_radii(real, k, block_size)
  fake_radii = nearest_neighbour_radii(fake, k, block_size)
  fake_inside = np.zeros(len(fake), bool)
  real_inside = np.zeros(len(real), bool)
  for start in range(0, len(fake), block_size):
    distances = _squared_distances(fake[start:start + block_size], real)  # (block, N_real)
    fake_inside[start:start + block_size] = (distances <= real_radii[None, :]).any(axis=1)
    block_radii = fake_radii[start:start + block_size, None]
    real_inside |= (distances <= block_radii).any(axis=0)
  return float(fake_inside.mean()), float(real_inside.mean())
