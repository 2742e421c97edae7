"""Tests of the throughput benchmark: its outputs and fields at the smallest setting, never its times."""

import json
import os
import subprocess
import sys

import pytest

from configs import default
from parity_tests import bench


def test_step_flops_by_hand():
  # Generator forward, multiply-adds per image: 100 x 12544 (project)
  # + 7 x 7 x 256 x 128 x 16 (conv_transpose1) + 14 x 14 x 128 x 1 x 16 (conv_transpose2).
  # Discriminator: 14 x 14 x 64 x 1 x 16 + 7 x 7 x 128 x 64 x 16 + 6272 (dense).
  generator = 1_254_400 + 25_690_112 + 401_408
  discriminator = 200_704 + 6_422_528 + 6_272
  assert bench.forward_macs(default.get_config()) == (generator, discriminator)
  assert bench.step_flops(default.get_config(), 64) == 64 * (6 * generator + 18 * discriminator)


def test_benchmark_writes_table_json_and_chart(data_dir, tmp_path, capsys, monkeypatch):
  monkeypatch.setenv('MNIST_DATA_DIR', data_dir)
  bench.main(['--batch_sizes=8', '--windows=2', '--window_seconds=0.001',
              '--max_steps_per_window=1', f'--output_dir={tmp_path}'])
  output = capsys.readouterr()
  # This process has one JAX device and no GPU, so jax_mesh and torch_ddp are
  # skipped with a message.
  measured_variants = [variant for variant in bench.VARIANTS
                       if variant not in ('jax_mesh', 'torch_ddp')]
  for variant in measured_variants:
    assert variant in output.out
  assert 'jax_mesh skipped at batch 8: one device' in output.err
  assert 'torch_ddp skipped: one device; pass --torch_processes=N' in output.err

  with open(tmp_path / 'bench.json') as f:
    report = json.load(f)
  assert set(report) == {'environment', 'config', 'flops_per_step', 'peak_flops', 'measurements'}
  for library in ('jax', 'flax', 'optax', 'torch', 'torchvision'):
    assert report['environment'][library]
  assert report['environment']['device'].startswith('CPU')
  # The XLA flags the JAX variants ran with, the project's CPU default among them.
  assert report['environment']['xla_flags'] == os.environ.get('XLA_FLAGS', '')
  assert report['peak_flops'] is None  # No peak is listed for CPUs, so no MFU either.
  assert report['config']['batch_size'] == 64  # The config's own field; the benchmark sets its own.
  assert report['flops_per_step'] == {'8': bench.step_flops(default.get_config(), 8)}
  measurements = report['measurements']
  assert [m['variant'] for m in measurements] == measured_variants
  for m in measurements:
    assert m['batch_size'] == 8
    assert m['devices'] == 1
    assert m['scaling_efficiency'] is None
    assert m['steps_per_window'] == 1
    assert len(m['window_ms_per_step']) == 2
    assert m['ms_per_step'] > 0
    assert m['img_per_s'] == pytest.approx(8 / (m['ms_per_step'] / 1000))
    assert m['memory_kind'] == 'process_rss'
    assert m['peak_memory_bytes'] > 0
    assert m['mfu'] is None
  assert (tmp_path / 'bench.png').stat().st_size > 0


def test_mesh_variant_runs_on_four_devices(data_dir, tmp_path):
  # A subprocess, because JAX splits the CPU into 4 devices only at start-up.
  environment = dict(os.environ, MNIST_DATA_DIR=data_dir)
  environment['XLA_FLAGS'] = (environment.get('XLA_FLAGS', '') +
                              ' --xla_force_host_platform_device_count=4')
  subprocess.run([sys.executable, '-m', 'parity_tests.bench', '--batch_sizes=8,6',
                  '--variants=jax_step,jax_mesh', '--windows=2', '--window_seconds=0.001',
                  '--max_steps_per_window=1', f'--output_dir={tmp_path}'], env=environment,
                 check=True, timeout=600)
  with open(tmp_path / 'bench.json') as f:
    measurements = json.load(f)['measurements']
  # Batch 6 does not split over 4 devices, so jax_mesh runs at batch 8 only.
  assert [(m['variant'], m['batch_size']) for m in measurements] == [
      ('jax_step', 6), ('jax_step', 8), ('jax_mesh', 8)]
  single, mesh = measurements[1], measurements[2]
  assert (single['devices'], mesh['devices']) == (1, 4)
  assert single['scaling_efficiency'] is None
  assert mesh['scaling_efficiency'] == pytest.approx(
      mesh['img_per_s'] / (4 * single['img_per_s']))


def test_ddp_variant_runs_in_two_processes(data_dir, tmp_path):
  # A subprocess, because the launcher sets variables of the process that starts it.
  environment = dict(os.environ, MNIST_DATA_DIR=data_dir)
  subprocess.run([sys.executable, '-m', 'parity_tests.bench', '--batch_sizes=8,5',
                  '--variants=torch_eager,torch_ddp', '--torch_processes=2', '--windows=2',
                  '--window_seconds=0.001', '--max_steps_per_window=1',
                  f'--output_dir={tmp_path}'], env=environment, check=True, timeout=600)
  with open(tmp_path / 'bench.json') as f:
    measurements = json.load(f)['measurements']
  # Batch 5 does not split over 2 processes, so torch_ddp runs at batch 8 only.
  assert [(m['variant'], m['batch_size']) for m in measurements] == [
      ('torch_eager', 5), ('torch_eager', 8), ('torch_ddp', 8)]
  single, ddp = measurements[1], measurements[2]
  assert (single['devices'], ddp['devices']) == (1, 2)
  assert ddp['steps_per_window'] == 1
  assert len(ddp['window_ms_per_step']) == 2
  assert ddp['memory_kind'] == 'process_rss'
  assert ddp['peak_memory_bytes'] > 0
  assert ddp['scaling_efficiency'] == pytest.approx(ddp['img_per_s'] / (2 * single['img_per_s']))


@pytest.mark.parametrize('flag,message', [
    ('--batch_sizes=64,x', '--batch_sizes must be positive integers'),
    ('--batch_sizes=0', '--batch_sizes must be positive integers'),
    ('--variants=jax_pmap', "unknown variant 'jax_pmap'"),
    ('--config=configs/dcgan_wgan_gp.py', 'the wgan_gp loss is not supported yet'),
    ('--config=configs/missing.py', 'config file configs/missing.py not found'),
    ('--windows=0', '--windows, --window_seconds and --max_steps_per_window must be positive'),
    ('--torch_processes=-1', '--torch_processes must be 0 or more, got -1'),
])
def test_bad_flags_exit_with_code_2(flag, message, tmp_path, capsys):
  with pytest.raises(SystemExit) as exit_info:
    bench.main([flag, f'--output_dir={tmp_path}'])
  assert exit_info.value.code == 2
  error = capsys.readouterr().err
  assert error.count('\n') == 1
  assert message in error


def test_bfloat16_variants_need_float32_parameters(tmp_path, capsys):
  config_file = tmp_path / 'float64_config.py'
  config_file.write_text('from configs import default\n\n\n'
                         'def get_config():\n'
                         '  config = default.get_config()\n'
                         "  config.param_dtype = 'float64'\n"
                         '  return config\n')
  with pytest.raises(SystemExit) as exit_info:
    bench.main([f'--config={config_file}', '--variants=jax_step,torch_eager_bf16',
                f'--output_dir={tmp_path}'])
  assert exit_info.value.code == 2
  assert 'the bfloat16 variants need param_dtype float32' in capsys.readouterr().err
