"""Data parallelism with `jax.sharding`: one mesh over every device, the batch split, the state replicated.

One jitted train step runs on all devices of all processes. The training
state, the MNIST images and the epoch order are replicated on every device.
Inside the step the batch and its latent noise are split along the batch
axis over the mesh's 'data' axis, and XLA's partitioner adds the
communication: gradients and BatchNorm statistics are means over the global
batch, so N devices at global batch B train the same model as one device at
batch B (up to the order of floating-point sums).
"""

import os

from absl import logging
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from gan_common.errors import InputError

DATA_AXIS = 'data'
# Environment variables read when the command line does not set the
# distributed flags. JAX itself reads JAX_COORDINATOR_ADDRESS.
COORDINATOR_VARIABLE = 'JAX_COORDINATOR_ADDRESS'
NUM_PROCESSES_VARIABLE = 'JAX_NUM_PROCESSES'
PROCESS_ID_VARIABLE = 'JAX_PROCESS_ID'


def distributed_settings(coordinator_address: str = '', num_processes: int = 0,
                         process_id: int = -1) -> tuple | None:
  """Return (coordinator address, process count, process id) from the flags, else the environment; None for one process.

  Raises:
    InputError: the settings are incomplete or inconsistent.
  """
  address = coordinator_address or os.environ.get(COORDINATOR_VARIABLE, '')
  try:
    count = num_processes or int(os.environ.get(NUM_PROCESSES_VARIABLE, '0'))
    index = process_id if process_id >= 0 else int(os.environ.get(PROCESS_ID_VARIABLE, '-1'))
  except ValueError as error:
    raise InputError(f'{NUM_PROCESSES_VARIABLE} and {PROCESS_ID_VARIABLE} must be integers '
                     f'({error})') from error
  if not address and count <= 1 and index <= 0:
    return None
  if not address:
    raise InputError(f'{count} processes need a coordinator address: pass '
                     f'--coordinator_address=HOST:PORT or set {COORDINATOR_VARIABLE}')
  if count < 1:
    raise InputError(f'the process count must be at least 1, got {count}: pass '
                     f'--num_processes or set {NUM_PROCESSES_VARIABLE}')
  if not 0 <= index < count:
    raise InputError(f'the process id must be in [0, {count - 1}] for {count} processes, got '
                     f'{index}: pass --process_id or set {PROCESS_ID_VARIABLE}')
  return address, count, index


def initialize_distributed(settings: tuple | None) -> None:
  """Start `jax.distributed` for several processes; do nothing for one.

  Must run before any JAX computation.
  """
  if settings is None:
    return
  address, count, index = settings
  jax.distributed.initialize(coordinator_address=address, num_processes=count, process_id=index)
  logging.info('Process %d of %d, coordinator %s, %d local and %d global devices.', index, count,
               address, jax.local_device_count(), jax.device_count())


def create_mesh(devices=None) -> Mesh:
  """Return a one-axis mesh ('data',) over `devices`, all devices of all processes by default."""
  devices = jax.devices() if devices is None else devices
  return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
  """Return the sharding that puts a whole copy on every device of `mesh`."""
  return NamedSharding(mesh, PartitionSpec())


def batch_sharding(mesh: Mesh, batch_axis: int = 0) -> NamedSharding:
  """Return the sharding that splits axis `batch_axis` over the devices of `mesh`."""
  return NamedSharding(mesh, PartitionSpec(*([None] * batch_axis), DATA_AXIS))


def check_batch_size(batch_size: int, mesh: Mesh) -> None:
  """Raise InputError unless the global batch splits evenly over the devices of `mesh`."""
  if batch_size % mesh.size:
    raise InputError(f'the global batch of {batch_size} does not split evenly over '
                     f'{mesh.size} devices; pick a --config.batch_size that is a multiple of '
                     f'{mesh.size}')


def put_replicated(tree, mesh: Mesh):
  """Return `tree` with every array replicated on every device of `mesh`, from this process's copy.

  Every process must pass the same values. It works across processes,
  where `jax.device_put` cannot address the other processes' devices.
  """
  sharding = replicated(mesh)

  def put(value):
    host_value = np.asarray(value)
    return jax.make_array_from_callback(host_value.shape, sharding,
                                        lambda index: host_value[index])

  return jax.tree.map(put, tree)


def to_host(value) -> np.ndarray:
  """Return this process's copy of a replicated array as a NumPy array."""
  if isinstance(value, jax.Array) and not value.is_fully_addressable:
    return np.asarray(value.addressable_data(0))
  return np.asarray(value)


def is_writer() -> bool:
  """Return whether this process writes logs, samples and checkpoints: process 0 alone."""
  return jax.process_index() == 0


def wait_for_all_processes(name: str) -> None:
  """Return when every process has reached the barrier `name`; at once for one process."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    multihost_utils.sync_global_devices(name)
