r"""Checks that this host trains on its GPU: `make gpu-check`.

Prints TF's build (CUDA and cuDNN versions, or none) and the GPUs it sees;
then, on the first GPU, a convolution and a tiny supernet's training step,
each compared with the same computation on the CPU. Exits 1 with the reason
where there is no usable GPU (a CPU build of TF, no driver, or
CUDA_VISIBLE_DEVICES empty), so a cluster job can stop before it trains on the
CPU for days.

  python -m launchers.gpu_check
"""

import os
import sys

from absl import app
import numpy as np
import tensorflow as tf

from rl_darts.runtime import runs
from rl_darts.space import networks


def _supernet_step(device: str, images: np.ndarray) -> np.ndarray:
  """One SGD step of a tiny Micro supernet on `device`; its new alpha."""
  with tf.device(device):
    tf.random.set_seed(0)
    encoder = networks.Supernet('micro', depths=(4,), normal_cells=1,
                                reduction_cells=0, num_nodes=2)
    encoder(images)
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(tf.square(encoder(images, training=True)))
    variables = encoder.trainable_variables
    for v, g in zip(variables, tape.gradient(loss, variables)):
      v.assign_sub(0.1 * g)
    return encoder.alpha['normal'].numpy()


def check() -> list[str]:
  """Problems found (none: the GPU trains as the CPU does)."""
  build = tf.sysconfig.get_build_info()
  print(f"TF {tf.__version__}: CUDA {build.get('cuda_version', 'none')}, "
        f"cuDNN {build.get('cudnn_version', 'none')}")
  devices = runs.configure_devices()
  print(f'devices: {", ".join(devices)}')
  if not tf.test.is_built_with_cuda():
    return ['this TF is a CPU build: make TF=gpu setup (on a host with an '
            'NVIDIA driver)']
  if not tf.config.get_visible_devices('GPU'):
    return ['TF sees no GPU (CUDA_VISIBLE_DEVICES='
            f'{os.environ.get("CUDA_VISIBLE_DEVICES", "unset")!r}; see '
            'nvidia-smi and the CUDA libraries TF logs with --verbose)']
  images = np.random.default_rng(0).integers(0, 256, (2, 16, 16, 3), np.uint8)
  x = tf.constant(images, tf.float32)
  kernel = tf.random.stateless_normal([3, 3, 3, 8], [0, 1])
  conv = {}
  for device in ('/CPU:0', '/GPU:0'):
    with tf.device(device):
      conv[device] = tf.nn.conv2d(x, kernel, 1, 'SAME').numpy()
  problems = []
  if not np.allclose(conv['/CPU:0'], conv['/GPU:0'], rtol=1e-3, atol=1e-2):
    problems.append('a convolution on the GPU differs from the CPU')
  cpu, gpu = (_supernet_step(d, images) for d in ('/CPU:0', '/GPU:0'))
  if not np.allclose(cpu, gpu, atol=1e-4):
    problems.append(f'a supernet step on the GPU moves alpha differently: '
                    f'{np.abs(cpu - gpu).max():.2g} apart')
  return problems


def main(argv):
  del argv
  problems = check()
  for problem in problems:
    print(f'error: {problem}', file=sys.stderr)
  if problems:
    sys.exit(1)
  print('GPU check passed: the GPU trains as the CPU does')


if __name__ == '__main__':
  app.run(main)
