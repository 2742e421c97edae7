"""Score a PyTorch run's generator with the MNIST classifier metrics: `python -m torch_gan.evaluate --workdir=RUN`.

It restores the run's latest checkpoint, generates images from fixed noise,
scores them against the MNIST test split (gan_common/evaluation.py), appends
the scores to the run's metrics.jsonl and prints them beside the
real-vs-real floor. Training runs call the same functions at their end.
"""

from absl import logging
import numpy as np
import torch

from gan_common import cli
from gan_common import evaluation
from torch_gan import checkpoints
from torch_gan import input_pipeline
from torch_gan import train_step as train_step_lib

BACKEND = 'torch'
# The evaluation noise comes from the run's seed and this stream number, apart
# from the streams of the shuffle, the training noise and the sample grids.
EVALUATION_STREAM = 3
GENERATE_BATCH_SIZE = 1000
DEFAULT_NUM_SAMPLES = 10000


def load_evaluator(config, train_images: torch.Tensor | None = None) -> evaluation.Evaluator:
  """Return an Evaluator on the MNIST test split, read with torchvision, and the training split.

  Args:
    config: the run's config, for data_dir and download.
    train_images: the training split if already read, else None to read it.
  """
  test_images, _ = input_pipeline.load_images_and_labels(config.data_dir, config.download, 'test')
  if train_images is None:
    train_images = input_pipeline.load_train_images(config.data_dir, config.download)
  return evaluation.Evaluator(test_images.numpy(), train_images.cpu().numpy())


def evaluation_images(images: torch.Tensor) -> np.ndarray:
  """Return generated (N, 1, 28, 28) images as the Evaluator's (N, 28, 28) float32 NumPy array."""
  return images.detach().cpu().numpy().astype(np.float32)[:, 0]


def generate_images(generator: torch.nn.Module, config, num_images: int) -> np.ndarray:
  """Generate `num_images` images from the evaluation noise of config.seed.

  Returns:
    (num_images, 28, 28) float32 NumPy array in [-1, 1].
  """
  parameter = next(generator.parameters())
  rng = torch.Generator(device=parameter.device).manual_seed(
      input_pipeline.seed_for(config.seed, EVALUATION_STREAM))
  batches = []
  with torch.no_grad():
    for start in range(0, num_images, GENERATE_BATCH_SIZE):
      size = min(GENERATE_BATCH_SIZE, num_images - start)
      z = torch.randn(size, config.latent_dim, generator=rng, device=parameter.device,
                      dtype=parameter.dtype)
      batches.append(evaluation_images(train_step_lib.generate_samples(generator, z)))
  return np.concatenate(batches)


def score_generator(generator: torch.nn.Module, config, evaluator: evaluation.Evaluator,
                    num_images: int) -> tuple[dict, dict]:
  """Return the scores of `num_images` generated images and the real-vs-real floor for that count."""
  images = generate_images(generator, config, num_images)
  return evaluator.score(images), evaluator.floor(num_images)


def evaluate(workdir: str, num_samples: int = 0) -> dict:
  """Score the latest checkpoint of the PyTorch run in `workdir`, record and print the scores.

  Args:
    workdir: a training run's directory.
    num_samples: generated images to score; 0 takes config.eval_num_samples,
      or DEFAULT_NUM_SAMPLES when that is 0.

  Returns:
    The scores, as recorded in metrics.jsonl.

  Raises:
    InputError: no PyTorch run or checkpoint in `workdir`, missing MNIST data
      or classifier weights.
  """
  run_dir, config = evaluation.read_run_config(workdir, BACKEND)
  num_samples = num_samples or config.eval_num_samples or DEFAULT_NUM_SAMPLES
  dtype = getattr(torch, config.param_dtype)
  torch.set_float32_matmul_precision(config.matmul_precision)
  torch.backends.cudnn.allow_tf32 = config.matmul_precision != 'highest'
  device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')

  template = train_step_lib.create_train_state(config, device, dtype)
  state = checkpoints.restore(run_dir.checkpoints_dir, template)
  evaluator = load_evaluator(config)

  step = state.step
  steps_per_epoch = input_pipeline.NUM_TRAIN_IMAGES // (config.batch_size * config.critic_steps)
  epoch = -(-step // steps_per_epoch)
  logging.info('Scoring step %d of %s with %d generated images.', step, run_dir.workdir,
               num_samples)
  scores, floor = score_generator(state.generator, config, evaluator, num_samples)
  evaluation.record_scores(run_dir.metrics_file, step, epoch, scores, floor)
  evaluation.print_table(scores, floor, f'{run_dir.workdir}, step {step} (PyTorch):')
  return scores


if __name__ == '__main__':
  cli.run_evaluation(evaluate)
