"""Shared by the PPO and Rainbow tests: tiny encoders, launching, reading runs."""

import csv
import os
import signal
import subprocess
import sys
import time

import gin
import tensorflow as tf

from rl_darts.space import genotypes
from rl_darts.space import paper_cells

# The DARTS paper's second-order cell, in the original code's format.
DARTS_V2 = paper_cells.NAMED['DARTS_V2']

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENCODERS = {  # One of each kind, tiny, for the synthetic quadrant task.
    'impala_cnn': """
        make_encoder.network = @ImpalaCNN
        ImpalaCNN.depths = [8, 8]""",
    'supernet': """
        make_encoder.network = @Supernet
        Supernet.space = 'micro'
        Supernet.depths = [8, 8]
        Supernet.normal_cells = 1
        Supernet.num_nodes = 2
        Supernet.temperature = 5.0""",
    'discrete': """
        make_encoder.network = @DiscreteNetwork
        DiscreteNetwork.genotype = @genotype/Genotype()
        genotype/Genotype.normal = [[('Conv3x3', 0)], [('ReLU', 0), ('Conv3x3', 1)]]
        DiscreteNetwork.depths = [8, 8]""",
}


def parse_gin(config: str) -> None:
  """A fresh gin config (Genotype made configurable for the discrete one)."""
  gin.clear_config()
  try:
    gin.external_configurable(genotypes.Genotype, module='test')
  except ValueError:
    pass  # Registered by an earlier test.
  gin.parse_config(config)


def rows(path) -> list[dict]:
  with open(path, newline='') as f:
    return list(csv.DictReader(f))


def launch(module: str, root, args, *bindings, wait: bool = True):
  """Runs `python -m module` on `root`; asserts success and returns stdout
  (or, with wait=False, returns the running process)."""
  command = [sys.executable, '-m', module, f'--root_dir={root}', *args,
             *(f'--gin_bindings={b}' for b in bindings)]
  if not wait:
    return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
  result = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                          timeout=900, check=False)
  assert result.returncode == 0, result.stdout + result.stderr
  return result.stdout


def checkpoint_step(root) -> int:
  """The step of the newest checkpoint under `root`, 0 if none."""
  path = tf.train.latest_checkpoint(os.path.join(root, 'checkpoints'))
  return int(path.rsplit('-', 1)[1]) if path else 0


def kill_at_checkpoint(process, root, min_step: int = 1,
                       timeout: float = 600) -> int:
  """SIGKILLs `process` once it has checkpointed at least `min_step`; returns
  the newest checkpoint's step after the kill."""
  try:
    deadline = time.monotonic() + timeout
    while checkpoint_step(root) < min_step:
      assert process.poll() is None, process.stdout.read()
      assert time.monotonic() < deadline, f'no checkpoint >= {min_step}'
      time.sleep(0.5)
    os.kill(process.pid, signal.SIGKILL)
  finally:
    process.kill()
    process.wait()
  return checkpoint_step(root)


def fails(module: str, root, args) -> str:
  """Runs a launcher that must fail cleanly; returns its output."""
  result = subprocess.run(
      [sys.executable, '-m', module, f'--root_dir={root}', *args],
      cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode != 0
  assert 'Traceback' not in result.stderr, result.stderr
  return result.stdout + result.stderr


def checkpoint_alpha(root, owner: str = '') -> tuple[int, dict]:
  """(step, {cell type: alpha}) of the newest checkpoint; `owner` picks the
  network whose alpha it is when several hold one (checkpoint key prefix)."""
  path = tf.train.latest_checkpoint(os.path.join(root, 'checkpoints'))
  reader = tf.train.load_checkpoint(path)
  alpha = {}
  for key in reader.get_variable_to_shape_map():
    if ('/alpha/' in key and key.startswith(owner) and
        key.endswith('.ATTRIBUTES/VARIABLE_VALUE') and 'OPTIMIZER' not in key):
      alpha[key.split('/alpha/')[1].split('/')[0]] = reader.get_tensor(key)
  return int(path.rsplit('-', 1)[1]), alpha
