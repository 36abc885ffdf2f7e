r"""Jacobian covariance against trained returns (RL-DARTS paper App. A.2): the
score of every cell of a finished random search, untrained, on mini-batches
of Procgen frames from a trained policy's play, and its Spearman rank
correlation with the cells' returns.

  python -m launchers.jacob_cov --random_search_dir=DIR --policy_dir=RUN \
      --depths=64,64,64 --frames=16 --batches=8 --seed=0

Frames (App. A.2): a finished Rainbow run's policy (`--policy_dir`, its
game) plays `--frames` envs epsilon-greedily for `--policy_steps` steps;
`--batches` mini-batches of `--frames` frames are drawn from those
trajectories and each cell's score is their mean. Without --policy_dir the
frames come from uniformly random play on `--game` (not the paper's).
Writes jacob_cov.csv (cell, score, final return) and jacob_cov.png to
--root_dir (default: DIR).
"""

from __future__ import annotations

import os

from absl import app
from absl import flags
import gin
import numpy as np

from launchers import common
from rl_darts.envs import procgen_env
from rl_darts.experiments import jacob_cov
from rl_darts.runtime import runs

flags.DEFINE_string('random_search_dir', None,
                    'A finished launchers.random_search run.')
flags.DEFINE_string('root_dir', None, 'Where jacob_cov.csv and jacob_cov.png '
                    'go (default: --random_search_dir).')
flags.DEFINE_string('policy_dir', None, 'A finished Rainbow run whose policy '
                    'plays the frames (App. A.2); unset: random play.')
flags.DEFINE_enum('game', None, procgen_env.GAMES, 'The Procgen game the '
                  "frames come from (default: the policy's, else dodgeball).")
flags.DEFINE_list('depths', ['64', '64', '64'], 'Cell network depths '
                  '(App. A.2: 64x3).')
flags.DEFINE_integer('frames', 16, 'Frames per mini-batch (paper: 16).',
                     lower_bound=2)
flags.DEFINE_integer('batches', 8, 'Mini-batches a score averages over.',
                     lower_bound=1)
flags.DEFINE_integer('policy_steps', 200, 'Steps each env plays; frames are '
                     'drawn from all of them.', lower_bound=1)
flags.DEFINE_float('policy_epsilon', 0.05, "The policy's exploration rate "
                   '(a greedy Procgen policy can stall).', lower_bound=0.0,
                   upper_bound=1.0)
FLAGS = flags.FLAGS


def _policy(policy_dir: str, env):
  """The policy run's greedy-action function under its own gin config."""
  from rl_darts.agents.rainbow import actors  # pylint: disable=g-import-not-at-top
  from rl_darts.agents.rainbow import train  # pylint: disable=g-import-not-at-top
  network = train.load_network(policy_dir, env)
  return actors.EpsilonGreedy(network, FLAGS.seed)


def trajectory_batches(game: str, policy_dir: str | None, seed: int
                       ) -> np.ndarray:
  """[batches, frames, H, W, C] frames drawn without replacement from
  `--frames` envs playing `--policy_steps` steps (the policy's, or random)."""
  env = runs.Environment(kind='procgen', game=game, num_envs=FLAGS.frames,
                         num_levels=0, seed=seed).make()
  act = _policy(policy_dir, env) if policy_dir else None
  rng = np.random.default_rng(seed)
  observations, seen = env.reset().observation, []
  for _ in range(FLAGS.policy_steps):
    seen.append(observations)
    actions = (act(observations, FLAGS.policy_epsilon).numpy() if act else
               rng.integers(0, env.action_spec().maximum + 1, FLAGS.frames,
                            dtype=np.int32))
    observations = env.step(actions).observation
  pool = np.concatenate(seen)
  needed = FLAGS.batches * FLAGS.frames
  if needed > len(pool):
    raise app.UsageError(f'--batches x --frames = {needed} frames, but the '
                         f'play gives {len(pool)}: raise --policy_steps')
  chosen = rng.choice(len(pool), needed, replace=False)
  return pool[chosen].reshape(FLAGS.batches, FLAGS.frames, *pool.shape[1:])


def policy_game(policy_dir: str) -> str:
  """Parses the policy run's operative config (gin left bound to it for
  building its network) and returns its game."""
  config = os.path.join(policy_dir, 'operative_config.gin')
  if not os.path.isfile(config):
    raise app.UsageError(f'--policy_dir={policy_dir!r} is not a finished run '
                         f'(no operative_config.gin)')
  with open(config) as f:
    text = f.read()
  if 'RainbowSettings.' not in text:
    raise app.UsageError(f'--policy_dir={policy_dir!r} is not a Rainbow run; '
                         f'the frames need a Rainbow policy')
  from rl_darts.agents.rainbow import train  # pylint: disable=g-import-not-at-top,unused-import
  gin.parse_config(text)  # Its configurables registered by the import.
  game = runs.Environment().game
  if FLAGS.game and FLAGS.game != game:
    raise app.UsageError(f'--game={FLAGS.game} but the policy of '
                         f'--policy_dir played {game!r}: the frames come '
                         f'from its game; drop --game or pick another policy')
  return game


def main(argv):
  del argv
  directory = FLAGS.random_search_dir
  if not directory or not os.path.isfile(os.path.join(directory,
                                                      'summary.json')):
    raise app.UsageError(f'--random_search_dir={directory!r} is not a '
                         f'finished random search (no summary.json)')
  depths = common.int_list('depths', FLAGS.depths)
  runs.seed_everything(FLAGS.seed)
  with common.user_errors():
    game = (policy_game(FLAGS.policy_dir) if FLAGS.policy_dir
            else FLAGS.game or 'dodgeball')
    batches = trajectory_batches(game, FLAGS.policy_dir, FLAGS.seed)
    gin.clear_config()  # The cells are built from their genotypes alone.
    result = jacob_cov.study(directory, batches, depths, FLAGS.root_dir)
  print(f'frames: {FLAGS.batches} mini-batches of {FLAGS.frames} from '
        + (f'{FLAGS.policy_dir!r}' if FLAGS.policy_dir else 'random play')
        + f' on {game}')
  for row in result['rows']:
    print(f"cell {row['cell']}: score {row['score']:.1f}, final return "
          f"{row['final_return']}")
  print(f"Spearman rank correlation {result['spearman_rho']:.3f} "
        f"(p = {result['p_value']:.3f}) over {result['ranked']} of "
        f"{len(result['rows'])} cells (a cell without a return or with a NaN "
        f"score, its features dead on every frame batch, is left out)")


if __name__ == '__main__':
  app.run(main)
