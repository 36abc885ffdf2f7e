r"""RL-for-DARTS search throughput: meta-steps/s of each mode and reward on
CIFAR-shaped 32x32x3 inputs (generated, no download) and on the embedded
digits, and where a meta-step's time goes.

  python bench/nas_rl_throughput.py                    # every case
  python bench/nas_rl_throughput.py --cases=disc_acc --data=cifar_shaped
  python bench/nas_rl_throughput.py --gin_bindings="DartsSupernet.channels = 8"

Each case is the real search (`rl_darts.agents.ppo.train.train` on the row's gin
config, the paper's supernet: C = 16, 8 cells, its lockstep envs unless
`--num_envs`) for `--iterations` PPO iterations of `--rollout_length`
meta-steps per env after one warm-up iteration (tracing). The PPO update
keeps the paper's minibatch (64) and epochs (10), so its cost per meta-step
is the paper's whatever the rollout length. Columns:
meta-steps/s over the measured iterations, and seconds per 1,000 meta-steps
in the reward forward (`score`), the observation (softmax(alpha), plus the
alpha gradients with --grad), the weights' SGD steps (continuous), the policy
and env bookkeeping (the rest of collection) and the PPO update. Target
(issue 14): a 1M-step discrete search in an hour, 280 meta-steps/s.
"""

from __future__ import annotations

import collections
import functools
import os
import pickle
import sys
import tempfile
import time
from typing import Callable

from absl import app
from absl import flags
import gin
import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# pylint: disable=g-import-not-at-top,wrong-import-position
import harness
from launchers import common
from rl_darts.agents.ppo import rollouts
from rl_darts.agents.ppo import train
from rl_darts.envs import image_data
from rl_darts.nas_rl import environment
from rl_darts.nas_rl import masked
from rl_darts.nas_rl import reward
from rl_darts.runtime import logs
from rl_darts.space import darts_networks

CASES = {  # Table 1 rows' gin configs (gin_configs/nas_rl/).
    'disc_acc': 'disc_acc.gin', 'disc_loss': 'disc_loss.gin',
    'disc_nwot': 'disc_nwot.gin', 'cont_acc': 'cont_acc_step.gin',
    'cont_acc_grad': 'cont_acc_grad_step.gin'}
DATA = ('cifar_shaped', 'digits')
flags.DEFINE_list('cases', list(CASES), f'Of: {", ".join(CASES)}.')
flags.DEFINE_list('data', list(DATA), f'Of: {", ".join(DATA)}.')
flags.DEFINE_integer('rollout_length', 512, 'Meta-steps per env and PPO '
                     'iteration.',
                     lower_bound=28)
flags.DEFINE_integer('iterations', 1, 'Measured iterations after warm-up.',
                     lower_bound=1)
flags.DEFINE_integer('num_envs', None, 'Lockstep search envs (default: the '
                     "config's); each iteration collects num_envs x "
                     'rollout_length meta-steps.', lower_bound=1)
flags.DEFINE_bool('floor', True, "Also time the reward forward's floor: a "
                  'graph compiled for one fixed one-hot cell.')
FLAGS = flags.FLAGS
PARTS = ('score', 'observation', 'weight_sgd', 'collect', 'ppo_update')


def _timed(owner, name: str, part: str, timers: dict,
           after: Callable[[], None] = lambda: None) -> Callable[[], None]:
  """Adds the time of every call of owner.name to timers[part] (then calls
  `after`); returns what undoes it."""
  original = getattr(owner, name)

  @functools.wraps(original)
  def wrapper(*args, **kwargs):
    began = time.perf_counter()
    try:
      return original(*args, **kwargs)
    finally:
      timers[part] += time.perf_counter() - began
      after()
  setattr(owner, name, wrapper)
  return lambda: setattr(owner, name, original)


def _skipped(owner, name: str) -> Callable[[], None]:
  """Makes owner.name a no-op; returns what undoes it."""
  original = getattr(owner, name)
  setattr(owner, name, lambda *args, **kwargs: None)
  return lambda: setattr(owner, name, original)


def _write_cifar_shaped(directory: str, per_file: int = 2000) -> None:
  """Random 32x32x3 images in CIFAR-10's python format."""
  rng = np.random.default_rng(0)
  for name in image_data.CIFAR_FILES:
    with open(os.path.join(directory, name), 'wb') as f:
      pickle.dump({b'data': rng.integers(0, 256, (per_file, 3072), np.uint8),
                   b'labels': list(rng.integers(0, 10, per_file))}, f)


def measure(case: str, data: str, cifar_dir: str, root: str) -> dict:
  """One case's rate and time split (seconds per 1,000 meta-steps)."""
  gin.clear_config()
  gin.parse_config_file(os.path.join(common.GIN_DIR, 'nas_rl', CASES[case]))
  n = FLAGS.rollout_length
  gin.parse_config([
      'SearchSettings.checkpoint = None',  # Rates do not need trained weights.
      f'PPOSettings.rollout_length = {n}',
      'PPOSettings.record_every = 1000', 'PPOSettings.checkpoint_every = 1000',
      *FLAGS.gin_bindings])
  if FLAGS.num_envs:
    gin.bind_parameter('Environment.num_envs', FLAGS.num_envs)
  num_envs = gin.query_parameter('Environment.num_envs')
  gin.bind_parameter('PPOSettings.total_env_steps',
                     num_envs * n * (FLAGS.iterations + 1))
  _bind_data(data, cifar_dir)
  timers = collections.defaultdict(float)
  snapshots = []
  search_env = environment.DartsSearchEnvironment
  undo = [
      _timed(reward.SupernetReward, 'score', 'score', timers),
      _timed(search_env, '_frame', 'observation', timers),
      _timed(reward.SupernetReward, 'train_weights', 'weight_sgd', timers),
      _skipped(search_env, 'finish'),  # The final greedy episode: no rate.
      _timed(rollouts.RolloutCollector, 'collect', 'collect', timers),
      _timed(train.Learner, 'learn', 'ppo_update', timers, after=lambda:
             snapshots.append((time.perf_counter(), dict(timers))))]
  try:
    train.train(os.path.join(root, f'{case}_{data}'))
  finally:
    for restore in undo:
      restore()
  (t0, first), (t1, last) = snapshots[0], snapshots[-1]
  steps = num_envs * n * (len(snapshots) - 1)
  split = {p: 1000 * (last.get(p, 0) - first.get(p, 0)) / steps
           for p in PARTS}
  split['policy_and_env'] = split['collect'] - (
      split['score'] + split['observation'] + split['weight_sgd'])
  return {'rate': steps / (t1 - t0), **split}


def forward_floor(data: str, cifar_dir: str, trials: int = 5
                  ) -> tuple[float, float, int]:
  """(seconds, GFLOP) per reward forward and meta-steps per reward of the
  search's forward compiled for one fixed one-hot cell (its op indices
  constants, so grappler prunes the other branches): the bound of the
  forward that serves every alpha."""
  gin.clear_config()
  gin.parse_config_file(os.path.join(common.GIN_DIR, 'nas_rl', 'base.gin'))
  gin.parse_config(FLAGS.gin_bindings)
  _bind_data(data, cifar_dir)
  dataset = image_data.load_dataset()
  images, _ = next(image_data.Batches(
      dataset, dataset.train_images, dataset.train_labels,
      environment.SearchSettings().reward_batch, 0, augment=False))
  supernet = darts_networks.DartsSupernet()
  rng = np.random.default_rng(0)
  probs = {t: np.eye(n, dtype=np.float32)[rng.integers(0, n, e)]
           for t, (e, n) in supernet.alpha_shapes().items()}
  indices = {t: tf.constant(p.argmax(-1).astype(np.int32))
             for t, p in probs.items()}
  forward = tf.function(lambda x: masked.logits(supernet, x, probs, indices),
                        autograph=False)
  images = tf.constant(images)
  forward(images)
  times = []
  for _ in range(trials):
    began = time.perf_counter()
    forward(images).numpy()
    times.append(time.perf_counter() - began)
  # Counted on the graph of the cell's ops alone (boolean masks build only
  # those), since TF's profiler does not look inside the switches.
  masks = {t: p > 0 for t, p in probs.items()}
  flops = harness.forward_flops(
      lambda x: masked.logits(supernet, x, probs, masks),
      images.shape, 'float32')
  return min(times), flops / 1e9, 2 * supernet.num_edges


def _bind_data(data: str, cifar_dir: str) -> None:
  if data == 'digits':
    gin.bind_parameter('load_dataset.dataset', 'digits')
  else:
    gin.bind_parameter('load_dataset.dataset', 'cifar10')
    gin.bind_parameter('load_dataset.data_dir', cifar_dir)


def main(argv):
  del argv
  logs.set_verbose(False)
  unknown = [c for c in FLAGS.cases if c not in CASES] + [
      d for d in FLAGS.data if d not in DATA]
  if unknown:
    raise app.UsageError(f'unknown cases or data {unknown}; cases: '
                         f'{", ".join(CASES)}; data: {", ".join(DATA)}')
  with tempfile.TemporaryDirectory() as tmp:
    cifar_dir = os.path.join(tmp, 'cifar')
    os.makedirs(cifar_dir)
    _write_cifar_shaped(cifar_dir)
    print('| case | data | meta-steps/s | reward forward | observation | '
          'weight SGD | policy + env | PPO update | 1M steps |')
    print('|---|---|---:|---:|---:|---:|---:|---:|---:|')
    for data in FLAGS.data:
      for case in FLAGS.cases:
        r = measure(case, data, cifar_dir, os.path.join(tmp, 'runs'))
        print(f'| {case} | {data} | {r["rate"]:.1f} | {r["score"]:.2f} | '
              f'{r["observation"]:.2f} | {r["weight_sgd"]:.2f} | '
              f'{r["policy_and_env"]:.2f} | {r["ppo_update"]:.2f} | '
              f'{1e6 / r["rate"] / 3600:.1f} h |', flush=True)
    print('Split columns: seconds per 1,000 meta-steps. Target: 280 '
          'meta-steps/s (1M steps in an hour).')
    if FLAGS.floor:
      gemm = harness.gemm_gflops()
      for data in FLAGS.data:
        seconds, gflop, steps = forward_floor(data, cifar_dir)
        print(f'Reward forward floor on {data}: {seconds:.3f} s per batch '
              f'compiled for one fixed cell; a discrete search bound of '
              f'{steps / seconds:.0f} meta-steps/s from the reward alone. '
              f'Its {gflop:.3g} GFLOP run at {gflop / seconds:.0f} GFLOP/s, '
              f'{100 * gflop / seconds / gemm:.0f}% of this machine\'s fp32 '
              f'matmul rate ({gemm:.0f} GFLOP/s), which would bound the '
              f'search at {steps * gemm / gflop:.0f} meta-steps/s.',
              flush=True)


if __name__ == '__main__':
  app.run(main)
