r"""A grid of runs (configs x games x seeds) as a queue that survives a restart.

  python -m launchers.sweep --launcher=ppo \
      --configs=gin_configs/ppo/impala_cnn_16x3.gin,gin_configs/ppo/classic_search.gin \
      --games=starpilot,dodgeball --seeds=0,1,2 --parallel=2 --root_dir=DIR

Each run is `python -m launchers.<launcher>` with one config, game
(Environment.game) and seed, under DIR/<config name>/<game>/seed_<s> (no game
level without --games) with its log beside it; --gin_bindings go to every
run. Runs go one after another, or --parallel at a time; a rerun skips
finished runs and resumes the others.
"""

from __future__ import annotations

import os

from absl import app
from absl import flags

from launchers import common
from rl_darts import procgen_env
from rl_darts import run_queue

LAUNCHERS = ('ppo', 'rainbow', 'nas_rl', 'darts_eval', 'pretrain_supernet')
flags.DEFINE_enum('launcher', 'ppo', LAUNCHERS, 'The launcher of every run.')
flags.DEFINE_list('configs', [], 'Gin configs, one run group each.')
flags.DEFINE_list('games', [], 'Procgen games (none: the configs\' own).')
flags.DEFINE_list('seeds', ['0'], 'Seeds; every config and game runs each.')
flags.DEFINE_integer('parallel', 1, 'Runs at once.', lower_bound=1)
flags.DEFINE_string('root_dir', None, 'Where the sweep writes; reruns resume.')
FLAGS = flags.FLAGS


def _parse() -> tuple[list[str], list[str], list[int]]:
  missing = [c for c in FLAGS.configs if not os.path.isfile(c)]
  if missing or not FLAGS.configs:
    raise app.UsageError(f'--configs must name gin files; missing: {missing}'
                         if missing else '--configs is required')
  unknown = [g for g in FLAGS.games if g not in procgen_env.GAMES]
  if unknown:
    raise app.UsageError(f'unknown Procgen games {unknown}; allowed: '
                         f'{", ".join(procgen_env.GAMES)}')
  seeds = common.int_list('seeds', FLAGS.seeds)
  if not FLAGS.root_dir:
    raise app.UsageError('--root_dir is required: where the sweep writes')
  return FLAGS.configs, FLAGS.games, seeds


def main(argv):
  del argv
  configs, games, seeds = _parse()
  runs = run_queue.grid(FLAGS.root_dir, FLAGS.launcher, configs, games,
                        seeds, FLAGS.gin_bindings)
  run_queue.run_all(runs, FLAGS.parallel)
  print(f'{len(runs)} runs finished under {os.path.abspath(FLAGS.root_dir)}')


if __name__ == '__main__':
  app.run(main)
