"""Measure GAN training throughput of the JAX and the PyTorch backend side by side.

    python -m parity_tests.bench [--batch_sizes=64,256,1024] [--output_dir=bench_results]

Every variant trains the same config on the same device from MNIST that is
already on the device, so the data path is not what is measured. The variants:
  jax_step       one jitted train step per call (what `jax_gan.train` runs)
  jax_scan       the steps of one timed window fused into one call with `lax.scan`,
                 unrolled on the CPU (see `jax_gan.train_step.default_scan_unroll`)
  jax_mesh       jax_step on a mesh of every device JAX finds, the batch split over
                 them (`jax_gan.parallel`); measured only when there are several, with
                 its scaling efficiency against jax_step at the same global batch
  torch_eager    one eager PyTorch train step per call (what `torch_gan.train` runs)
  torch_compile  the PyTorch step compiled by `torch.compile` (with CUDA graphs on a GPU)
  torch_ddp      torch_eager in --torch_processes processes, the batch split over them
                 (`torch_gan.parallel`: DistributedDataParallel, NCCL on GPUs, gloo on
                 the CPU); by default one process per GPU where there are several, else
                 skipped. Its scaling efficiency is against torch_eager at the same
                 global batch.
  jax_step_bf16, torch_eager_bf16
                 jax_step and torch_eager with compute_dtype 'bfloat16': bfloat16
                 layers, float32 parameters (mixed precision)
Each variant is compiled and warmed up, then timed over several windows. A
window ends with `block_until_ready` or `torch.cuda.synchronize`, and the
table shows the median window. Compile time is reported apart. Memory is the
peak device memory on a GPU and the peak resident set size of the process on
a CPU. MFU divides the analytic FLOPs of one step (`step_flops`) by the
measured step time and the device's peak float32 rate, where it is known.

Writes bench.json (device, library versions, config, every measurement) and
bench.png (img/s per variant and batch size) to --output_dir.
"""

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time

# torchvision before TensorFlow: the other order crashes with the pinned versions.
import torchvision  # pylint: disable=unused-import  # noqa: F401

VARIANTS = ('jax_step', 'jax_scan', 'jax_mesh', 'torch_eager', 'torch_compile', 'torch_ddp',
            'jax_step_bf16', 'torch_eager_bf16')
# Variants that run in processes of their own, once for every batch size.
PROCESS_VARIANTS = ('torch_ddp',)
# Mixed-precision variants: the variant they run, with compute_dtype 'bfloat16'.
BFLOAT16_VARIANTS = {'jax_step_bf16': 'jax_step', 'torch_eager_bf16': 'torch_eager'}
DEFAULT_BATCH_SIZES = (64, 256, 1024)
# Dense float32 peak FLOP/s of known devices (non-tensor-core float32 for GPUs,
# the precision the benchmark runs in). NOTE: these are the vendor's published
# figures as remembered, not measured or checked here. CPUs vary too much to list.
PEAK_FLOPS = {
    'NVIDIA H200': 67e12,
    'NVIDIA H100 80GB HBM3': 67e12,
    'NVIDIA A100-SXM4-80GB': 19.5e12,
    'NVIDIA A100-SXM4-40GB': 19.5e12,
}


@dataclasses.dataclass
class Measurement:
  """One variant at one batch size."""

  variant: str
  batch_size: int
  compile_s: float
  steps_per_window: int
  window_ms_per_step: list
  ms_per_step: float  # median over windows
  img_per_s: float
  peak_memory_bytes: int
  memory_kind: str  # 'device' or 'process_rss'
  mfu: float | None
  devices: int = 1
  # img/s over (devices x the one-device img/s) at the same global batch:
  # jax_mesh against jax_step, torch_ddp against torch_eager.
  scaling_efficiency: float | None = None


def conv_macs(height, width, in_features, out_features, kernel=4):
  """Return the multiply-adds of a convolution whose output is height x width x out_features."""
  return height * width * out_features * in_features * kernel * kernel


def forward_macs(config):
  """Return (generator, discriminator) multiply-adds of one image's forward pass.

  Only convolutions and dense layers count; normalizations and activations
  add under 1%. A stride-2 transposed convolution from (H, W, C) to
  (2H, 2W, F) with a 4x4 kernel does H W C F 16 multiply-adds.
  """
  if config.model == 'mlp':
    hidden = config.hidden_features
    return (config.latent_dim * hidden + hidden * 784, 784 * hidden + hidden)
  g, d = config.generator_features, config.discriminator_features
  generator = (config.latent_dim * 7 * 7 * 4 * g  # project
               + conv_macs(7, 7, 4 * g, 2 * g)  # conv_transpose1, counted on its input
               + conv_macs(14, 14, 2 * g, 1))  # conv_transpose2, counted on its input
  discriminator = (conv_macs(14, 14, 1, d) + conv_macs(7, 7, d, 2 * d) + 7 * 7 * 2 * d)
  return generator, discriminator


def step_flops(config, batch_size: int) -> float:
  """Return the analytic FLOPs of one train step (one D update and one G update).

  F_G and F_D are the forward FLOPs per image (2 per multiply-add), and a
  backward pass costs twice its forward pass. The generator runs forward once
  (F_G). The discriminator update runs D forward and backward on the real and
  the generated batch (2 x 3 F_D). The generator update runs D forward and
  backward on the generated batch (3 F_D) and the generator backward (2 F_G).
  In all, 3 F_G + 9 F_D per image.
  """
  generator, discriminator = forward_macs(config)
  return batch_size * (3 * 2 * generator + 9 * 2 * discriminator)


def _reset_peak_rss():
  # Writing 5 to clear_refs resets the peak RSS (VmHWM) on Linux.
  try:
    with open('/proc/self/clear_refs', 'w') as f:
      f.write('5')
  except OSError:
    pass


def _peak_rss_bytes() -> int:
  try:
    with open('/proc/self/status') as f:
      for line in f:
        if line.startswith('VmHWM:'):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  import resource  # pylint: disable=g-import-not-at-top
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _time_windows(run_window, steps_per_window: int, windows: int) -> list:
  """Call `run_window(steps)` `windows` times and return the ms per step of each call."""
  results = []
  for _ in range(windows):
    start = time.perf_counter()
    run_window(steps_per_window)
    results.append(1000 * (time.perf_counter() - start) / steps_per_window)
  return results


def _steps_for(seconds_per_step: float, window_seconds: float, max_steps: int) -> int:
  return int(min(max_steps, max(1, round(window_seconds / max(seconds_per_step, 1e-9)))))


def bench_jax(config, images_nhwc, batch_size, variants, windows, window_seconds, max_steps):
  """Measure the JAX variants at one batch size; return a list of Measurement."""
  import jax  # pylint: disable=g-import-not-at-top
  from jax_gan import input_pipeline  # pylint: disable=g-import-not-at-top
  from jax_gan import train_step as train_step_lib  # pylint: disable=g-import-not-at-top

  device = jax.devices()[0]
  gan = train_step_lib.create_gan(config)
  images = jax.device_put(images_nhwc, device)
  num_images = images.shape[0]
  steps_per_epoch = num_images // batch_size
  permutation = input_pipeline.epoch_permutation(jax.random.PRNGKey(1), 0, num_images)
  fresh_state = lambda: train_step_lib.create_train_state(gan, jax.random.PRNGKey(config.seed))
  results = []

  # jax_step: also sets the window length for jax_scan.
  _reset_peak_rss()
  state = fresh_state()
  start = time.perf_counter()
  step = train_step_lib.make_train_step_on_dataset(gan, steps_per_epoch, batch_size).lower(
      state, images, permutation).compile()
  compile_s = time.perf_counter() - start
  for _ in range(2):  # warm-up; the second call estimates the step time
    start = time.perf_counter()
    state, _ = step(state, images, permutation)
    jax.block_until_ready(state)
  steps = _steps_for(time.perf_counter() - start, window_seconds, max_steps)

  def run_single(count):
    nonlocal state
    for _ in range(count):
      state, _ = step(state, images, permutation)
    jax.block_until_ready(state)

  if 'jax_step' in variants:
    times = _time_windows(run_single, steps, windows)
    results.append(_measurement(config, 'jax_step', batch_size, compile_s, steps, times,
                                _jax_peak_memory(device)))

  if 'jax_scan' in variants:
    _reset_peak_rss()
    state = fresh_state()
    start = time.perf_counter()
    fused = train_step_lib.make_train_steps_on_dataset(
        gan, steps_per_epoch, batch_size, steps).lower(state, images, permutation).compile()
    compile_s = time.perf_counter() - start
    state, _ = fused(state, images, permutation)  # warm-up
    jax.block_until_ready(state)

    def run_fused(count):
      nonlocal state
      del count  # one call runs the whole window
      state, _ = fused(state, images, permutation)
      jax.block_until_ready(state)

    times = _time_windows(run_fused, steps, windows)
    results.append(_measurement(config, 'jax_scan', batch_size, compile_s, steps, times,
                                _jax_peak_memory(device)))

  if 'jax_mesh' in variants:
    results += _bench_jax_mesh(config, images_nhwc, batch_size, steps, windows, results)
  return results


def _bench_jax_mesh(config, images_nhwc, batch_size, steps, windows, single_device_results):
  """Return the jax_mesh measurement at one global batch size, or [] when there is one device or the batch does not split."""
  import jax  # pylint: disable=g-import-not-at-top
  from jax_gan import input_pipeline  # pylint: disable=g-import-not-at-top
  from jax_gan import parallel  # pylint: disable=g-import-not-at-top
  from jax_gan import train_step as train_step_lib  # pylint: disable=g-import-not-at-top

  count = jax.device_count()
  if count == 1 or batch_size % count:
    reason = 'one device' if count == 1 else f'batch {batch_size} does not split over {count}'
    print(f'jax_mesh skipped at batch {batch_size}: {reason}', file=sys.stderr, flush=True)
    return []
  _reset_peak_rss()
  mesh = parallel.create_mesh()
  gan = train_step_lib.create_gan(config, mesh=mesh)
  num_images = images_nhwc.shape[0]
  state, images, permutation = parallel.put_replicated(
      (train_step_lib.create_train_state(gan, jax.random.PRNGKey(config.seed)), images_nhwc,
       input_pipeline.epoch_permutation(jax.random.PRNGKey(1), 0, num_images)), mesh)
  start = time.perf_counter()
  step = train_step_lib.make_train_step_on_dataset(gan, num_images // batch_size, batch_size).lower(
      state, images, permutation).compile()
  compile_s = time.perf_counter() - start
  state, _ = step(state, images, permutation)  # warm-up
  jax.block_until_ready(state)

  def run_mesh(number):
    nonlocal state
    for _ in range(number):
      state, _ = step(state, images, permutation)
    jax.block_until_ready(state)

  times = _time_windows(run_mesh, steps, windows)
  measurement = _measurement(config, 'jax_mesh', batch_size, compile_s, steps, times,
                             _jax_peak_memory(jax.devices()[0]))
  measurement.devices = count
  single = [m for m in single_device_results if m.variant == 'jax_step']
  if single:
    measurement.scaling_efficiency = measurement.img_per_s / (count * single[0].img_per_s)
  return [measurement]


def _jax_peak_memory(device):
  stats = device.memory_stats() if device.platform != 'cpu' else None
  if stats and 'peak_bytes_in_use' in stats:
    return stats['peak_bytes_in_use'], 'device'
  return _peak_rss_bytes(), 'process_rss'


def bench_torch(config, images_nchw, batch_size, variants, windows, window_seconds, max_steps):
  """Measure the PyTorch variants at one batch size; return a list of Measurement."""
  import torch  # pylint: disable=g-import-not-at-top
  from torch_gan import input_pipeline  # pylint: disable=g-import-not-at-top
  from torch_gan import train_step as train_step_lib  # pylint: disable=g-import-not-at-top

  device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
  torch.backends.cudnn.allow_tf32 = False
  torch.set_float32_matmul_precision(config.matmul_precision)
  gan = train_step_lib.create_gan(config)
  images = images_nchw.to(device)
  num_images = images.shape[0]
  permutation = input_pipeline.epoch_permutation(config.seed, 0, num_images, device)
  dtype = getattr(torch, config.param_dtype)

  def synchronize():
    if device.type == 'cuda':
      torch.cuda.synchronize()

  def peak_memory():
    if device.type == 'cuda':
      return torch.cuda.max_memory_allocated(), 'device'
    return _peak_rss_bytes(), 'process_rss'

  results = []
  for variant in ('torch_eager', 'torch_compile'):
    if variant not in variants:
      continue
    _reset_peak_rss()
    if device.type == 'cuda':
      torch.cuda.reset_peak_memory_stats()
    state = train_step_lib.create_train_state(config, device, dtype)
    step_fn = lambda state, batch, z: train_step_lib.train_step_with_noise(state, batch, z, gan=gan)
    if variant == 'torch_compile':
      mode = 'reduce-overhead' if device.type == 'cuda' else None  # CUDA graphs on a GPU
      step_fn = torch.compile(step_fn, mode=mode)
    run = _torch_steps(config, state, step_fn, images, permutation, batch_size, synchronize)

    start = time.perf_counter()
    run(1)  # eager: the first call allocates; compiled: it compiles
    compile_s = time.perf_counter() - start if variant == 'torch_compile' else 0.0
    start = time.perf_counter()
    run(1)
    steps = _steps_for(time.perf_counter() - start, window_seconds, max_steps)
    times = _time_windows(run, steps, windows)
    results.append(_measurement(config, variant, batch_size, compile_s, steps, times,
                                peak_memory()))
  return results


def bench_torch_ddp(config_path, batch_sizes, processes, args) -> list:
  """Measure torch_ddp at every batch size in `processes` new processes; return a list of Measurement.

  The processes run this module with --ddp_output (`ddp_worker`), and
  process 0 writes the measurements there. A batch that does not split
  over the processes is skipped with a message.
  """
  import tempfile  # pylint: disable=g-import-not-at-top
  from torch_gan import parallel  # pylint: disable=g-import-not-at-top

  if processes < 2:
    print('torch_ddp skipped: one device; pass --torch_processes=N for N processes',
          file=sys.stderr, flush=True)
    return []
  sizes = []
  for batch_size in batch_sizes:
    if batch_size % processes:
      print(f'torch_ddp skipped at batch {batch_size}: it does not split over {processes} '
            'processes', file=sys.stderr, flush=True)
    else:
      sizes.append(batch_size)
  if not sizes:
    return []
  with tempfile.TemporaryDirectory() as directory:
    output = os.path.join(directory, 'torch_ddp.json')
    code = parallel.launch_processes(processes, 'parity_tests.bench', [
        f'--config={config_path}', f'--batch_sizes={",".join(map(str, sizes))}',
        f'--windows={args.windows}', f'--window_seconds={args.window_seconds}',
        f'--max_steps_per_window={args.max_steps_per_window}', f'--ddp_output={output}'])
    if code:
      print(f'torch_ddp failed with exit code {code}, so its rows are left out', file=sys.stderr,
            flush=True)
      return []
    with open(output) as f:
      return [Measurement(**fields) for fields in json.load(f)]


def ddp_worker(config, batch_sizes, args) -> None:
  """Time torch_ddp as one of the processes that `bench_torch_ddp` started; process 0 writes the JSON."""
  import torch  # pylint: disable=g-import-not-at-top
  from torch_gan import input_pipeline  # pylint: disable=g-import-not-at-top
  from torch_gan import parallel  # pylint: disable=g-import-not-at-top
  from torch_gan import train_step as train_step_lib  # pylint: disable=g-import-not-at-top

  settings = parallel.distributed_settings()
  parallel.initialize_distributed(settings)
  device = parallel.local_device()
  torch.backends.cudnn.allow_tf32 = False
  torch.set_float32_matmul_precision(config.matmul_precision)
  gan = train_step_lib.create_gan(config)
  images = input_pipeline.load_train_images(config.data_dir, config.download).to(device)
  num_images = images.shape[0]
  dtype = getattr(torch, config.param_dtype)
  results = []
  for batch_size in batch_sizes:
    _reset_peak_rss()
    if device.type == 'cuda':
      torch.cuda.reset_peak_memory_stats()
    permutation = input_pipeline.epoch_permutation(config.seed, 0, num_images, device)
    state = train_step_lib.create_train_state(config, device, dtype)
    state.generator = parallel.wrap(parallel.use_global_batch_norm(state.generator), device)
    state.discriminator = parallel.wrap(parallel.use_global_batch_norm(state.discriminator),
                                        device)

    def step_fn(state, batch, z):
      # Each process keeps its slice of the global batch, as `train_step` does.
      train_step_lib.train_step_with_noise(state, parallel.split_batch(batch),
                                           parallel.split_batch(z), gan=gan)

    def synchronize():
      if device.type == 'cuda':
        torch.cuda.synchronize()
      parallel.wait_for_all_processes()

    run = _torch_steps(config, state, step_fn, images, permutation, batch_size, synchronize)

    run(1)  # the first call allocates
    start = time.perf_counter()
    run(1)
    # Every process must run the same number of steps, so all take process 0's estimate.
    seconds = torch.tensor([time.perf_counter() - start], dtype=torch.float64)
    if device.type == 'cuda':
      seconds = seconds.to(device)
    torch.distributed.broadcast(seconds, src=0)
    steps = _steps_for(float(seconds), args.window_seconds, args.max_steps_per_window)
    times = _time_windows(run, steps, args.windows)
    memory = ((torch.cuda.max_memory_allocated(), 'device') if device.type == 'cuda'
              else (_peak_rss_bytes(), 'process_rss'))
    measurement = _measurement(config, 'torch_ddp', batch_size, 0.0, steps, times, memory)
    measurement.devices = parallel.world_size()
    results.append(dataclasses.asdict(measurement))
  if parallel.is_writer():
    with open(args.ddp_output, 'w') as f:
      json.dump(results, f)
  torch.distributed.destroy_process_group()


def _torch_steps(config, state, step_fn, images, permutation, batch_size, synchronize):
  """Return run(count): `count` calls of step_fn(state, batch, z) on the next batches, then synchronize()."""
  import torch  # pylint: disable=g-import-not-at-top
  from torch_gan import input_pipeline  # pylint: disable=g-import-not-at-top

  steps_per_epoch = images.shape[0] // batch_size
  dtype = getattr(torch, config.param_dtype)
  counter = [0]

  def run(count):
    for _ in range(count):
      index = counter[0] % steps_per_epoch
      counter[0] += 1
      batch = input_pipeline.get_batch(images, permutation, index, batch_size, dtype)
      z = torch.randn(batch_size, config.latent_dim, generator=state.rng, device=images.device,
                      dtype=dtype)
      step_fn(state, batch, z)
    synchronize()

  return run


def _measurement(config, variant, batch_size, compile_s, steps, times, memory):
  median_ms = statistics.median(times)
  peak = PEAK_FLOPS.get(_device_name())
  mfu = step_flops(config, batch_size) / (median_ms / 1000) / peak if peak else None
  return Measurement(variant=variant, batch_size=batch_size, compile_s=compile_s,
                     steps_per_window=steps, window_ms_per_step=times, ms_per_step=median_ms,
                     img_per_s=batch_size / (median_ms / 1000), peak_memory_bytes=int(memory[0]),
                     memory_kind=memory[1], mfu=mfu)


def _device_name() -> str:
  import torch  # pylint: disable=g-import-not-at-top
  if torch.cuda.is_available():
    return torch.cuda.get_device_name(0)
  return f'CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores'


def environment() -> dict:
  """Return the device and library versions, for the JSON."""
  import flax  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import optax  # pylint: disable=g-import-not-at-top
  import torch  # pylint: disable=g-import-not-at-top
  return {
      'device': _device_name(),
      'jax_devices': [str(device) for device in jax.devices()],
      'python': platform.python_version(),
      'jax': jax.__version__, 'flax': flax.__version__, 'optax': optax.__version__,
      'torch': torch.__version__, 'torchvision': torchvision.__version__,
      'torch_threads': torch.get_num_threads(),
      'xla_flags': os.environ.get('XLA_FLAGS', ''),
  }


def format_table(measurements) -> str:
  """Return the results as a text table, with img/s ratios against torch_eager at each batch size."""
  eager = {m.batch_size: m.img_per_s for m in measurements if m.variant == 'torch_eager'}
  header = (f'{"variant":<16} {"batch":>5} {"devices":>7} {"ms/step":>9} {"img/s":>9} '
            f'{"vs eager":>8} {"scaling":>7} {"compile s":>9} {"peak MB":>8} {"MFU":>6}')
  lines = [header, '-' * len(header)]
  for m in measurements:
    ratio = f'{m.img_per_s / eager[m.batch_size]:.2f}x' if m.batch_size in eager else '-'
    scaling = f'{m.scaling_efficiency:.2f}' if m.scaling_efficiency is not None else '-'
    mfu = f'{100 * m.mfu:.1f}%' if m.mfu is not None else '-'
    lines.append(f'{m.variant:<16} {m.batch_size:>5} {m.devices:>7} {m.ms_per_step:>9.1f} '
                 f'{m.img_per_s:>9.0f} {ratio:>8} {scaling:>7} {m.compile_s:>9.1f} '
                 f'{m.peak_memory_bytes / 2**20:>8.0f} {mfu:>6}')
  return '\n'.join(lines)


def draw_chart(measurements, path: str, title: str) -> None:
  """Draw img/s per variant, grouped by batch size, as a PNG bar chart."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  batch_sizes = sorted({m.batch_size for m in measurements})
  variants = [v for v in VARIANTS if any(m.variant == v for m in measurements)]
  width = 0.8 / max(len(variants), 1)
  figure, axes = plt.subplots(figsize=(9.5, 4), dpi=100)
  for index, variant in enumerate(variants):
    values = [next((m.img_per_s for m in measurements
                    if m.variant == variant and m.batch_size == b), 0.0) for b in batch_sizes]
    axes.bar([i + index * width for i in range(len(batch_sizes))], values, width, label=variant)
  axes.set_xticks([i + width * (len(variants) - 1) / 2 for i in range(len(batch_sizes))])
  axes.set_xticklabels([f'batch {b}' for b in batch_sizes])
  axes.set_ylabel('training images per second (median window)')
  axes.set_title(title)
  axes.grid(axis='y', alpha=0.3)
  # Beside the bars, which would hide behind a legend inside the axes.
  axes.legend(loc='upper left', bbox_to_anchor=(1.01, 1.0), frameon=False)
  figure.tight_layout()
  figure.savefig(path)
  plt.close(figure)


def _parse_sizes(text: str) -> list:
  sizes = [int(part) for part in text.split(',') if part.strip()]
  if not sizes or min(sizes) <= 0:
    raise ValueError
  return sizes


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(
      description='Measure training throughput of the JAX and PyTorch GANs side by side.')
  parser.add_argument('--batch_sizes', default=','.join(map(str, DEFAULT_BATCH_SIZES)),
                      help='comma-separated batch sizes (default: %(default)s)')
  parser.add_argument('--variants', default=','.join(VARIANTS),
                      help='comma-separated subset of ' + ', '.join(VARIANTS))
  parser.add_argument('--config', default='configs/dcgan_mnist.py',
                      help='config file with get_config() (default: %(default)s)')
  parser.add_argument('--windows', type=int, default=3, help='timed windows per variant')
  parser.add_argument('--window_seconds', type=float, default=1.0,
                      help='target length of one timed window')
  parser.add_argument('--max_steps_per_window', type=int, default=50)
  parser.add_argument('--output_dir', default='bench_results',
                      help='where bench.json and bench.png go (default: %(default)s)')
  parser.add_argument('--torch_processes', type=int, default=0,
                      help='processes for torch_ddp; 0 (default) starts one per GPU where there '
                      'are several and skips torch_ddp otherwise')
  # Set by bench_torch_ddp for the processes it starts.
  parser.add_argument('--ddp_output', default='', help=argparse.SUPPRESS)
  args = parser.parse_args(argv)

  from gan_common import cli  # pylint: disable=g-import-not-at-top
  from gan_common.errors import InputError  # pylint: disable=g-import-not-at-top
  try:
    config = _load_config(args.config)
    try:
      batch_sizes = _parse_sizes(args.batch_sizes)
    except ValueError:
      raise InputError(f'--batch_sizes must be positive integers separated by commas, '
                       f'got {args.batch_sizes!r}') from None
    variants = [v.strip() for v in args.variants.split(',') if v.strip()]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown or not variants:
      raise InputError(f'unknown variant {unknown[0] if unknown else "(none)"!r}: '
                       f'expected some of {", ".join(VARIANTS)}')
    if args.windows <= 0 or args.window_seconds <= 0 or args.max_steps_per_window <= 0:
      raise InputError('--windows, --window_seconds and --max_steps_per_window must be positive')
    if args.torch_processes < 0:
      raise InputError(f'--torch_processes must be 0 or more, got {args.torch_processes}')
    if args.ddp_output:
      ddp_worker(config, batch_sizes, args)
      return
    os.makedirs(args.output_dir, exist_ok=True)
    if not os.access(args.output_dir, os.W_OK):
      raise InputError(f'--output_dir {args.output_dir} is not writable')
    if config.param_dtype != 'float32' and set(variants) & set(BFLOAT16_VARIANTS):
      raise InputError(f'the bfloat16 variants need param_dtype float32, and the config has '
                       f'{config.param_dtype}; leave them out of --variants')
    run(config, batch_sizes, variants, args)
  except InputError as error:
    cli.exit_with_error(error)
  except OSError as error:
    cli.exit_with_error(InputError(f'cannot write to --output_dir {args.output_dir}: {error}'))


def _load_config(path: str):
  import importlib.util  # pylint: disable=g-import-not-at-top
  from gan_common import configuration  # pylint: disable=g-import-not-at-top
  from gan_common.errors import InputError  # pylint: disable=g-import-not-at-top

  if not os.path.isfile(path):
    raise InputError(f'config file {path} not found')
  spec = importlib.util.spec_from_file_location('bench_config', path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  config = module.get_config()
  configuration.validate(config)
  if config.loss == 'wgan_gp':
    raise InputError('the benchmark times one discriminator and one generator update per step; '
                     'the wgan_gp loss is not supported yet, choose another config')
  return config


def run(config, batch_sizes, variants, args) -> list:
  """Measure every variant at every batch size, print the table, write the JSON and the chart."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from gan_common import images as image_files  # pylint: disable=g-import-not-at-top
  from torch_gan import input_pipeline  # pylint: disable=g-import-not-at-top

  images = input_pipeline.load_train_images(config.data_dir, config.download)  # (60000, 1, 28, 28)
  images_nhwc = np.ascontiguousarray(images.numpy().transpose(0, 2, 3, 1))
  bfloat16_config = config.copy_and_resolve_references()
  bfloat16_config.compute_dtype = 'bfloat16'
  measurements = []
  for batch_size in batch_sizes:
    for run_config, names in ((config, {v: v for v in variants
                                        if v not in BFLOAT16_VARIANTS and
                                        v not in PROCESS_VARIANTS}),
                              (bfloat16_config, {BFLOAT16_VARIANTS[v]: v for v in variants
                                                 if v in BFLOAT16_VARIANTS})):
      options = (set(names), args.windows, args.window_seconds, args.max_steps_per_window)
      found = []
      if any(v.startswith('jax') for v in names):
        found += bench_jax(run_config, images_nhwc, batch_size, *options)
      if any(v.startswith('torch') for v in names):
        found += bench_torch(run_config, images, batch_size, *options)
      for measurement in found:
        measurement.variant = names[measurement.variant]
      measurements += found
    print(f'batch {batch_size} done', file=sys.stderr, flush=True)
  if 'torch_ddp' in variants:
    import torch  # pylint: disable=g-import-not-at-top
    processes = args.torch_processes or torch.cuda.device_count()
    found = bench_torch_ddp(args.config, batch_sizes, processes, args)
    for measurement in found:
      eager = [m for m in measurements
               if m.variant == 'torch_eager' and m.batch_size == measurement.batch_size]
      if eager:
        measurement.scaling_efficiency = measurement.img_per_s / (
            measurement.devices * eager[0].img_per_s)
    measurements += found
    print('torch_ddp done', file=sys.stderr, flush=True)

  measurements.sort(key=lambda m: (m.batch_size, VARIANTS.index(m.variant)))
  print(format_table(measurements))
  info = environment()
  report = {
      'environment': info,
      'config': config.to_dict(),
      'flops_per_step': {str(b): step_flops(config, b) for b in batch_sizes},
      'peak_flops': PEAK_FLOPS.get(info['device']),
      'measurements': [dataclasses.asdict(m) for m in measurements],
  }
  json_path = os.path.join(args.output_dir, 'bench.json')
  with open(json_path, 'w') as f:
    json.dump(report, f, indent=2)
  chart_path = os.path.join(args.output_dir, 'bench.png')
  draw_chart(measurements, chart_path, f'{image_files.MODEL_NAMES[config.model]} training, {info["device"]}')
  print(f'Wrote {json_path} and {chart_path}.')
  return measurements


if __name__ == '__main__':
  main(sys.argv[1:])
