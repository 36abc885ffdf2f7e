r"""Checks that this host trains on its GPU: `make gpu-check`.

Prints TF's build (CUDA and cuDNN versions, or none) and the GPUs it sees;
then, on the first GPU, a convolution and a tiny supernet's training step,
each compared with the same computation on the CPU; then, for PPO's and
Rainbow's train steps with IMPALA-CNN 16x3 and the Micro supernet, how many
ops TF placed on each device and which compute ops (convolutions, matmuls,
pools, activations) it left on the CPU (TF's placement log); then the PPO and
Rainbow throughput tables of bench/ for those encoders. Ends in PASS, or FAIL
and exit 1 with the reasons: no usable GPU (a CPU build of TF, no driver,
CUDA_VISIBLE_DEVICES empty), results that differ from the CPU's, or compute
ops on the CPU; so a cluster job can stop before it trains on the CPU for
days.

  python -m launchers.gpu_check [--throughput=false]
"""

import os
import subprocess
import sys

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from rl_darts.runtime import runs
from rl_darts.space import networks

flags.DEFINE_bool('throughput', True, 'After the checks, print the PPO and '
                  'Rainbow throughput tables (a few minutes).')
FLAGS = flags.FLAGS
BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), 'bench')
AGENTS = {'PPO': 'ppo_throughput.py', 'Rainbow': 'rainbow_throughput.py'}
ENCODERS = ('impala_16x3', 'micro_16x3')


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


def audit_train_steps() -> list[str]:
  """Prints where each agent's train step puts its ops; the problems."""
  sys.path.insert(0, BENCH)
  import harness  # pylint: disable=g-import-not-at-top
  problems = []
  for agent, script in AGENTS.items():
    for encoder in ENCODERS:
      result = harness.run_child(os.path.join(BENCH, script),
                                 harness.PLACEMENT + encoder, [])
      if result is None:
        problems.append(f'{agent} {encoder}: the placement audit failed')
        continue
      on_cpu = ', '.join(result['compute_on_cpu']) or 'none'
      print(f'{agent} {encoder} train step: {result["ops_gpu"]} ops on the '
            f'GPU, {result["ops_cpu"]} on the CPU; compute ops on the CPU: '
            f'{on_cpu}', flush=True)
      if not result['ops_gpu']:
        problems.append(f'{agent} {encoder}: no op on the GPU')
      if result['compute_on_cpu']:
        problems.append(f'{agent} {encoder}: compute ops on the CPU '
                        f'({on_cpu})')
  return problems


def main(argv):
  del argv
  problems = check()
  if not problems:
    problems = audit_train_steps()
    if FLAGS.throughput:
      for script in AGENTS.values():
        subprocess.run([sys.executable, os.path.join(BENCH, script),
                        f'--encoders={",".join(ENCODERS)}',
                        '--paired_rounds=0'], check=False)
  for problem in problems:
    print(f'error: {problem}', file=sys.stderr)
  if problems:
    print('FAIL')
    sys.exit(1)
  print('PASS: the GPU trains as the CPU does and holds every compute op')


if __name__ == '__main__':
  app.run(main)
