"""Sample grids and loss curves as PNG files."""

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np
from PIL import Image

from gan_common import run_directory

# The training value of each uint8 pixel value k, k / 127.5 - 1, computed in
# float64 so that each entry rounds once, correctly, to the training dtype.
# Both backends scale pixels by indexing this table: XLA rewrites x / 127.5 as
# x * (1 / 127.5), which maps 255 to 1.0000001 in float32 while PyTorch's
# division gives 1.0, and a table keeps the two backends' inputs identical.
PIXEL_VALUES = np.arange(256, dtype=np.float64) / 127.5 - 1.0


# Display names of the config's models, for plot titles.
MODEL_NAMES = {'dcgan': 'DCGAN', 'mlp': 'MLP GAN'}

def save_image_grid(images: np.ndarray, path: str, columns: int = 8, upscale: int = 2) -> None:
  """Save images in [-1, 1] as one PNG grid with 2-pixel gaps.

  Args:
    images: (N, H, W, 1) or (N, H, W) array in [-1, 1], any float dtype.
    path: where to write the PNG.
    columns: images per row.
    upscale: each pixel becomes an upscale x upscale block, for easier viewing.
  """
  images = np.asarray(images, dtype=np.float64)
  if images.ndim == 4:
    images = images[..., 0]
  count, height, width = images.shape
  rows = -(-count // columns)
  gap = 2
  grid = np.zeros((rows * (height + gap) + gap, columns * (width + gap) + gap), np.uint8)
  pixels = np.clip(np.rint((images + 1.0) * 127.5), 0, 255).astype(np.uint8)
  for index in range(count):
    top = gap + (index // columns) * (height + gap)
    left = gap + (index % columns) * (width + gap)
    grid[top:top + height, left:left + width] = pixels[index]
  grid = np.kron(grid, np.ones((upscale, upscale), np.uint8))
  Image.fromarray(grid, mode='L').save(path)


def save_loss_curve(metrics_file: str, path: str, title: str) -> None:
  """Plot d_loss and g_loss of every metrics record against the step, as a PNG."""
  # Score records (see gan_common/evaluation.py) carry no losses.
  records = [record for record in run_directory.read_metrics(metrics_file) if 'd_loss' in record]
  if not records:
    return
  steps = [record['step'] for record in records]
  figure, axes = plt.subplots(figsize=(7, 4), dpi=100)
  axes.plot(steps, [record['d_loss'] for record in records], label='discriminator loss')
  axes.plot(steps, [record['g_loss'] for record in records], label='generator loss')
  axes.set_xlabel('train step')
  axes.set_ylabel('loss (mean over log interval)')
  axes.set_title(title)
  axes.grid(alpha=0.3)
  axes.legend()
  figure.tight_layout()
  figure.savefig(path)
  plt.close(figure)
