"""The GANs in JAX, Flax and Optax.

Importing this package sets one XLA:CPU default in XLA_FLAGS, which XLA reads
once, when JAX starts its first backend. See `cpu_flags`. It also raises the
level of JAX's backend logger to WARNING (see the end of this file).
"""

import logging
import os
from importlib import metadata

# In jaxlib 0.10.2 XLA:CPU hands convolutions and matrix products to the
# YNNPACK library. With this flag it runs its own kernels (Eigen) instead.
# On the 2-core x86-64 development machine the DCGAN train step then took
# 81 ms instead of 88 ms at batch 64 and 406 ms instead of 494 ms at batch 256
# (PERFORMANCE.md). XLA stops the process at an unknown flag, so it is set
# only for the jaxlib releases where it was measured.
CPU_KERNEL_FLAG = '--xla_cpu_experimental_ynn_fusion_type='
MEASURED_JAXLIB_VERSIONS = ('0.10.2',)


def cpu_flags(xla_flags: str, jaxlib_version: str | None) -> str:
  """Return XLA_FLAGS with CPU_KERNEL_FLAG added, unless the flags already set it or this jaxlib was not measured."""
  if jaxlib_version not in MEASURED_JAXLIB_VERSIONS:
    return xla_flags
  if CPU_KERNEL_FLAG.split('=')[0] in xla_flags:
    return xla_flags  # the user's own choice
  return f'{xla_flags} {CPU_KERNEL_FLAG}'.strip()


def _installed_jaxlib_version() -> str | None:
  try:
    return metadata.version('jaxlib')
  except metadata.PackageNotFoundError:
    return None


os.environ['XLA_FLAGS'] = cpu_flags(os.environ.get('XLA_FLAGS', ''), _installed_jaxlib_version())

# On a machine without a TPU, JAX logs at INFO level that it cannot load
# libtpu.so, and absl prints that line before every command's own output.
logging.getLogger('jax._src.xla_bridge').setLevel(logging.WARNING)
