"""Data parallelism under `torchrun`: one process per device, DistributedDataParallel, BatchNorm over the global batch.

Every process builds the same networks from the same seed and draws the
same global batch and latent noise. Each process then keeps its own slice of
the batch (`split_batch`). DistributedDataParallel averages the gradients, and
`GlobalBatchNorm2d` computes the BatchNorm statistics over the global batch.
So N processes at global batch B train the model that one process trains at
batch B, up to the order of floating-point sums, as in `jax_gan.parallel`.
"""

import logging as stdlib_logging
import os
import sys

from absl import logging
import torch
import torch.distributed as dist
from torch import nn

from gan_common.errors import EXIT_CODE_INPUT_ERROR
from gan_common.errors import InputError

# Set by torchrun for every process it starts.
WORLD_SIZE_VARIABLE = 'WORLD_SIZE'
RANK_VARIABLE = 'RANK'
LOCAL_RANK_VARIABLE = 'LOCAL_RANK'
# CPU threads per process.
THREADS_VARIABLE = 'OMP_NUM_THREADS'


def distributed_settings() -> tuple | None:
  """Return (process count, rank, local rank) from torchrun's variables; None for one process.

  Raises:
    InputError: the variables are not integers or are inconsistent.
  """
  try:
    count = int(os.environ.get(WORLD_SIZE_VARIABLE, '1'))
    rank = int(os.environ.get(RANK_VARIABLE, '0'))
    local_rank = int(os.environ.get(LOCAL_RANK_VARIABLE, '0'))
  except ValueError as error:
    raise InputError(f'{WORLD_SIZE_VARIABLE}, {RANK_VARIABLE} and {LOCAL_RANK_VARIABLE} must be '
                     f'integers ({error}); launch the command with torchrun') from error
  if count < 1 or not 0 <= rank < count:
    raise InputError(f'{RANK_VARIABLE}={rank} is invalid for {WORLD_SIZE_VARIABLE}={count}: '
                     'the rank must be in [0, world size - 1]; launch the command with torchrun')
  return (count, rank, local_rank) if count > 1 else None


def initialize_distributed(settings: tuple | None) -> None:
  """Join the process group for several processes (NCCL on GPUs, gloo on the CPU); do nothing for one."""
  if settings is None:
    return
  count, process_rank, local_rank = settings
  if torch.cuda.is_available():
    torch.cuda.set_device(local_rank)
    dist.init_process_group('nccl', rank=process_rank, world_size=count)
  else:
    dist.init_process_group('gloo', rank=process_rank, world_size=count)
  logging.info('Process %d of %d on %s, %d CPU threads.', process_rank, count, local_device(),
               torch.get_num_threads())


def local_device() -> torch.device:
  """Return this process's device: its GPU (set by `initialize_distributed`) if there is one, else the CPU."""
  if torch.cuda.is_available():
    return torch.device('cuda', torch.cuda.current_device())
  return torch.device('cpu')


def world_size() -> int:
  return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
  return dist.get_rank() if dist.is_initialized() else 0


def is_writer() -> bool:
  """Return whether this process writes logs, samples and checkpoints: rank 0 alone."""
  return rank() == 0


def check_batch_size(batch_size: int, count: int) -> None:
  """Raise InputError unless the global batch splits evenly over `count` processes."""
  if batch_size % count:
    raise InputError(f'the global batch of {batch_size} does not split evenly over {count} '
                     f'processes; pick a --config.batch_size that is a multiple of {count}')


def split_batch(value: torch.Tensor, batch_axis: int = 0) -> torch.Tensor:
  """Return this process's slice of `value` along its batch axis; `value` itself for one process."""
  count = world_size()
  if count == 1:
    return value
  return value.chunk(count, dim=batch_axis)[rank()]


class _SumOverProcesses(torch.autograd.Function):
  """Sum of a tensor over every process. Its gradient is the sum of the gradients over every process."""

  @staticmethod
  def forward(ctx, value):  # pylint: disable=arguments-differ
    total = value.clone()
    dist.all_reduce(total)
    return total

  @staticmethod
  def backward(ctx, gradient):  # pylint: disable=arguments-differ
    total = gradient.clone()
    dist.all_reduce(total)
    return total


def sum_over_processes(value: torch.Tensor) -> torch.Tensor:
  """Return the sum of `value` over every process, differentiable."""
  return _SumOverProcesses.apply(value)


class GlobalBatchNorm2d(nn.BatchNorm2d):
  """BatchNorm2d whose training statistics cover the batches of every process.

  The same function as `torch.nn.SyncBatchNorm`, written with differentiable
  all-reduces, because SyncBatchNorm in torch 2.14 raises an error for CPU
  tensors in training. Like `jax_gan`'s
  BatchNorm it computes the variance in two passes, mean((x - mean)^2), and
  updates the running variance with the unbiased estimate. Outside a process
  group, or in eval mode, it is BatchNorm2d.
  """

  def forward(self, x: torch.Tensor) -> torch.Tensor:
    if not (self.training and dist.is_initialized()):
      return super().forward(x)
    channels = x.shape[1]
    count = x.numel() // channels * dist.get_world_size()
    total = sum_over_processes(x.sum(dim=(0, 2, 3)))
    mean = total / count
    centered = x - mean.view(1, channels, 1, 1)
    squares = sum_over_processes(centered.square().sum(dim=(0, 2, 3)))
    var = squares / count
    with torch.no_grad():
      self.running_mean.lerp_(mean.detach(), self.momentum)
      self.running_var.lerp_(var.detach() * (count / (count - 1)), self.momentum)
      self.num_batches_tracked.add_(1)
    scale = self.weight * torch.rsqrt(var + self.eps)
    return centered * scale.view(1, channels, 1, 1) + self.bias.view(1, channels, 1, 1)


def use_global_batch_norm(module: nn.Module) -> nn.Module:
  """Turn every BatchNorm2d in `module` into a GlobalBatchNorm2d, in place, keeping its parameters and statistics."""
  for child in module.modules():
    if type(child) is nn.BatchNorm2d:  # pylint: disable=unidiomatic-typecheck
      child.__class__ = GlobalBatchNorm2d
  return module


def wrap(module: nn.Module, device: torch.device) -> nn.Module:
  """Return `module` in DistributedDataParallel inside a process group; `module` itself outside one.

  The BatchNorm buffers are equal on every process (their statistics are
  global), so DDP does not copy them from process 0 before each forward pass.
  """
  if not dist.is_initialized():
    return module
  device_ids = [device] if device.type == 'cuda' else None
  return nn.parallel.DistributedDataParallel(module, device_ids=device_ids,
                                             forward_sync_buffers=False)


def unwrap(module: nn.Module) -> nn.Module:
  """Return the network inside a DistributedDataParallel wrapper, or `module` itself."""
  return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


def mean_over_processes(values: torch.Tensor) -> torch.Tensor:
  """Return the mean of `values` over every process; `values` itself for one process."""
  if not dist.is_initialized():
    return values
  total = values.clone()
  dist.all_reduce(total)
  return total / dist.get_world_size()


def wait_for_all_processes() -> None:
  """Return when every process has reached this point; at once for one process."""
  if dist.is_initialized():
    dist.barrier()


def check_process_count(count: int) -> None:
  """Raise InputError unless `count` processes can start here: at least 1, at most one per GPU."""
  if count < 1:
    raise InputError(f'--nproc_per_node must be at least 1, got {count}')
  gpus = torch.cuda.device_count()
  if gpus and count > gpus:
    raise InputError(f'--nproc_per_node={count} asks for more processes than the {gpus} GPUs '
                     'here; each process takes one GPU')


def launch_processes(count: int, module: str, args: list) -> int:
  """Run `python -m module *args` in `count` processes on this machine and return their exit code.

  The processes start as `torchrun --standalone --nproc_per_node=count`
  starts them, through torchrun's own entry point. Three things differ.
  Each process gets an equal share of this process's CPU cores as its
  OMP_NUM_THREADS, unless that is set (torchrun sets 1). The exit code is the
  first failing process's code (2 for bad input) instead of torchrun's 1.
  And torchrun's failure report is left out, because each process has
  already printed its error. A code other than 2 adds one line that names
  the process.
  """
  # Imported here: the launcher is not needed inside the processes it starts.
  from torch.distributed import run as torchrun  # pylint: disable=g-import-not-at-top
  from torch.distributed.elastic.multiprocessing import errors  # pylint: disable=g-import-not-at-top
  if THREADS_VARIABLE not in os.environ:
    os.environ[THREADS_VARIABLE] = str(max(1, len(os.sched_getaffinity(0)) // count))
  launch_args = torchrun.parse_args(['--standalone', f'--nproc_per_node={count}',
                                     '--module', module, *args])
  # torchrun's agent logs each process it stops and each failure, which the
  # processes' own error lines already cover.
  agent_logger = stdlib_logging.getLogger('torch.distributed.elastic')
  level = agent_logger.level
  agent_logger.setLevel(stdlib_logging.CRITICAL)
  try:
    torchrun.run(launch_args)
  except errors.ChildFailedError as error:
    failed_rank, failure = error.get_first_failure()
    if failure.exitcode == EXIT_CODE_INPUT_ERROR:
      return EXIT_CODE_INPUT_ERROR
    if failure.exitcode < 0:
      reason = f'was stopped by signal {failure.signal_name()}'
    else:
      reason = f'exited with code {failure.exitcode}'
    sys.stderr.write(f'error: process {failed_rank} of {count} {reason}\n')
    return 1
  finally:
    agent_logger.setLevel(level)
  return 0
