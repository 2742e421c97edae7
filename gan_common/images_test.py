"""Tests of the sample grid and loss curve files."""

import numpy as np
from PIL import Image

from gan_common import images
from gan_common import run_directory


def test_image_grid_layout_and_pixel_values(tmp_path):
  # Ten 3x3 images: image i is filled with -1 + 0.25 i (exact in binary), so
  # its pixel value is 127.5 * 0.25 i = 31.875 i, rounded, at most 255.
  samples = np.stack([np.full((3, 3, 1), -1.0 + 0.25 * i) for i in range(10)])
  path = tmp_path / 'grid.png'
  images.save_image_grid(samples, str(path), columns=4, upscale=1)
  grid = np.asarray(Image.open(path))
  # 3 rows of 4 columns, 3-pixel images with 2-pixel gaps around each.
  assert grid.shape == (3 * 5 + 2, 4 * 5 + 2)
  assert grid.dtype == np.uint8
  assert grid[2, 2] == 0  # image 0: -1 -> 0
  assert grid[2, 7] == 32  # image 1: 31.875
  assert grid[7, 2] == 128  # image 4: 127.5, rounded to even
  assert grid[12, 2] == 255  # image 8: 255
  assert grid[12, 7] == 255  # image 9: 286.875, clipped
  assert grid[0, 0] == 0  # gap
  assert grid[12, 12] == 0  # the empty 11th cell


def test_image_grid_upscales_and_clips(tmp_path):
  samples = np.array([[[[2.0]]]])  # out of range: clipped to white
  path = tmp_path / 'grid.png'
  images.save_image_grid(samples, str(path), columns=1, upscale=3)
  grid = np.asarray(Image.open(path))
  # One 1-pixel image with 2-pixel gaps is 5 x 5, then 15 x 15 after upscaling.
  assert grid.shape == (15, 15)
  assert grid[6:9, 6:9].tolist() == [[255] * 3] * 3
  assert grid[:6].max() == 0


def test_loss_curve_is_written(tmp_path):
  writer = run_directory.MetricsWriter(str(tmp_path / 'metrics.jsonl'))
  for step in (10, 20, 30):
    writer.write({'step': step, 'd_loss': 1.0 / step, 'g_loss': 2.0})
  path = tmp_path / 'loss.png'
  images.save_loss_curve(str(tmp_path / 'metrics.jsonl'), str(path), 'title')
  assert Image.open(path).size == (700, 400)
