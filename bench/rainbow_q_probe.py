r"""What has a Rainbow run's Q-network learned? Its checkpoints played greedily.

  python bench/rainbow_q_probe.py --run_dir=runs/learning_check/rainbow_starpilot \
      --gin_bindings="Environment.game = 'starpilot'"

For each checkpoint under `--run_dir/checkpoints` (built from the Rainbow
IMPALA-CNN config, `--gin_configs` and `--gin_bindings` on top, as the run was),
plays `--steps` batched steps of its greedy policy on fresh infinite levels
and prints a row: the mean Q of the chosen action, the median gap between the
best and the second-best action's Q, the share of steps on the policy's most
frequent action, the reward per env step, and the mean return of the episodes
that ended. A gap far below the reward of one kill means the network values
states but does not yet tell its actions apart.
"""

from __future__ import annotations

import dataclasses
import os
import sys

from absl import app
from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

FLAGS = flags.FLAGS
CONFIG = 'gin_configs/rainbow/impala_cnn.gin'


def _define_flags() -> None:
  from launchers import common  # pylint: disable=g-import-not-at-top,unused-import
  flags.DEFINE_string('run_dir', None, 'A Rainbow run directory.',
                      required=True)
  flags.DEFINE_integer('steps', 256, 'Batched greedy steps per checkpoint.',
                       lower_bound=1)
  flags.DEFINE_integer('num_envs', 16, 'Envs played at once.', lower_bound=1)
  flags.DEFINE_list('epsilons', ['0'], "Exploration rates to play each "
                    "checkpoint at: numbers, or 'actors' for the run's own "
                    "per-env rates at that checkpoint's env steps (then "
                    "Environment.num_envs envs).")
  flags.DEFINE_integer('last', 0, 'Probe only the newest N checkpoints (0: '
                       'all).', lower_bound=0)


def probe(network, env, steps: int, epsilon, seed: int = 0) -> dict:
  """Epsilon-greedy play of `network` on `env` (`epsilon`: a rate or one per
  env): Q, action gap, action share, reward."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  observations = env.reset().observation
  chosen, gaps, actions, rewards = [], [], [], []
  for _ in range(steps):
    q = network.q_values(network(observations)).numpy()
    ranked = np.sort(q, axis=-1)
    action = np.where(rng.random(len(q)) < epsilon,
                      rng.integers(0, q.shape[1], len(q)),
                      q.argmax(-1)).astype(np.int32)
    chosen.append(ranked[:, -1])
    gaps.append(ranked[:, -1] - ranked[:, -2])
    actions.append(action)
    step = env.step(action)
    rewards.append(step.reward)
    observations = step.observation
  counts = np.bincount(np.concatenate(actions), minlength=q.shape[1])
  returns = [r for r, _ in env.stats.pop()]
  return {'q': float(np.mean(chosen)), 'gap': float(np.median(gaps)),
          'top_action_share': float(counts.max() / counts.sum()),
          'reward_per_step': float(np.mean(rewards)),
          'return': float(np.mean(returns)) if returns else float('nan')}


def main(argv):
  del argv
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from launchers import common  # pylint: disable=g-import-not-at-top
  from rl_darts.agents.rainbow import train  # pylint: disable=g-import-not-at-top
  from rl_darts.runtime import runs  # pylint: disable=g-import-not-at-top
  directory = os.path.join(FLAGS.run_dir, 'checkpoints')
  state = tf.train.get_checkpoint_state(directory)
  if state is None:
    sys.exit(f'error: --run_dir={FLAGS.run_dir!r} has no checkpoints/')
  FLAGS.gin_configs = [CONFIG] + FLAGS.gin_configs
  common.parse_gin()
  settings = train.RainbowSettings()
  environment = runs.Environment(
      kind='procgen', game=settings.environment.game,
      distribution_mode=settings.environment.distribution_mode,
      num_levels=0, num_envs=FLAGS.num_envs, seed=12345)
  print(f'{environment.game}: {FLAGS.steps} steps x {FLAGS.num_envs} envs '
        f'per checkpoint and epsilon; reward scale {settings.reward_scale} '
        f'(Q is in returns divided by it)')
  print('| env steps | epsilon | mean Q | median gap | top action share | '
        'reward/step | return |')
  print('|---:|---|---:|---:|---:|---:|---:|')
  for path in state.all_model_checkpoint_paths[-FLAGS.last:]:
    step = int(path.rsplit('-', 1)[1])
    for epsilon in FLAGS.epsilons:
      rates, label = _rates(epsilon, settings, step)
      env = dataclasses.replace(
          environment, num_envs=len(rates) if label == 'actors' else
          FLAGS.num_envs).make()
      network = train.load_network(FLAGS.run_dir, env, path)
      row = probe(network, env, FLAGS.steps, rates)
      print(f"| {step:,} | {label} | {row['q']:.4f} | {row['gap']:.5f} | "
            f"{row['top_action_share']:.2f} | {row['reward_per_step']:.4f} | "
            f"{row['return']:.2f} |", flush=True)


def _rates(epsilon: str, settings, env_steps: int):
  """(rates, label) of an --epsilons value."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from rl_darts.agents.rainbow import actors  # pylint: disable=g-import-not-at-top
  from rl_darts.agents.rainbow import train  # pylint: disable=g-import-not-at-top
  if epsilon == 'actors':
    rates = actors.decayed(train.all_epsilons(settings, 1, 0), env_steps,
                           settings.epsilon_decay_steps)
    return rates, 'actors'
  try:
    rate = float(epsilon)
  except ValueError:
    rate = -1.0
  if not 0 <= rate <= 1:
    sys.exit(f"error: --epsilons value {epsilon!r} is neither a rate in "
             f"[0, 1] nor 'actors'")
  return np.float32(rate), epsilon


if __name__ == '__main__':
  _define_flags()
  app.run(main)
