r"""Jacobian covariance against trained returns (RL-DARTS paper App. A.2): the
score of every cell of a finished random search, untrained, on a batch of
Procgen frames, and its Spearman rank correlation with the cells' returns.

  python -m launchers.jacob_cov --random_search_dir=DIR --game=starpilot \
      --depths=16,16,16 --frames=16 --seed=0

Frames: each of --frames envs after --random_steps uniformly random steps.
Writes DIR/jacob_cov.csv (cell, score, final return) and jacob_cov.png.
"""

from __future__ import annotations

import os

from absl import app
from absl import flags
import numpy as np

from launchers import common
from rl_darts import jacob_cov
from rl_darts import procgen_env
from rl_darts import runs

flags.DEFINE_string('random_search_dir', None,
                    'A finished launchers.random_search run.')
flags.DEFINE_enum('game', 'starpilot', procgen_env.GAMES,
                  'The Procgen game the frames come from.')
flags.DEFINE_list('depths', ['16', '16', '16'], 'Cell network depths.')
flags.DEFINE_integer('frames', 16, 'Frames per batch (paper: 16).',
                     lower_bound=2)
flags.DEFINE_integer('random_steps', 20, 'Random steps before the frames.',
                     lower_bound=0)
FLAGS = flags.FLAGS


def frames(game: str, count: int, steps: int, seed: int) -> np.ndarray:
  """One frame from each of `count` envs after `steps` random actions."""
  env = runs.Environment(kind='procgen', game=game, num_envs=count,
                         num_levels=0, seed=seed).make()
  rng = np.random.default_rng(seed)
  step = env.reset()
  for _ in range(steps):
    step = env.step(rng.integers(0, env.action_spec().maximum + 1, count,
                                 dtype=np.int32))
  return np.asarray(step.observation)


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
    result = jacob_cov.study(
        directory, frames(FLAGS.game, FLAGS.frames, FLAGS.random_steps,
                          FLAGS.seed), depths)
  for row in result['rows']:
    print(f"cell {row['cell']}: score {row['score']:.1f}, final return "
          f"{row['final_return']}")
  print(f"Spearman rank correlation {result['spearman_rho']:.3f} "
        f"(p = {result['p_value']:.3f}) over {result['ranked']} of "
        f"{len(result['rows'])} cells (a cell without a return or with a NaN "
        f"score, its features dead on a frame, is left out)")


if __name__ == '__main__':
  app.run(main)
