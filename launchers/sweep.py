r"""A grid of runs (configs x binding axes x games x seeds) as a queue that
survives a restart.

  python -m launchers.sweep --launcher=ppo \
      --configs=gin_configs/ppo/impala_cnn_16x3.gin,gin_configs/ppo/classic_search.gin \
      --games=starpilot,dodgeball --seeds=0,1,2 --parallel=2 --root_dir=DIR
  # App. F.1's temperature sweep (Rainbow: 10,20,50 on rainbow/micro_search.gin):
  python -m launchers.sweep --configs=gin_configs/ppo/classic_search.gin \
      --grid=Supernet.temperature=5,10,15 --games=dodgeball --seeds=0,1,2 --root_dir=DIR
  # App. F.3's PPO sweep of the discrete cells (bind DiscreteNetwork.genotype):
  python -m launchers.sweep --configs=gin_configs/ppo/discrete_64x3.gin \
      --grid=make_agent.learning_rate=1e-4,2.5e-4,5e-4 --grid=PPOSettings.num_epochs=1,2,3 ...

Each run is `python -m launchers.<launcher>` with one config, one value of
each --grid parameter, game (Environment.game) and seed, under
DIR/<config name>/<param>=<value>,.../<game>/seed_<s> (no grid or game level
without them) with its log beside it; --gin_bindings go to every run.

Executors: --executor=local (default) runs them here, one after another or
--parallel at a time, packed into this host's CPUs and GPUs by --num_cpus and
--num_gpus (each run sees only its GPU); --executor=ray runs each as a Ray
task reserving them on the cluster at --ray_address (none: a local one),
retried up to --max_retries times, with a status line. A rerun skips finished
runs and resumes the others.

Any array scheduler: --list prints each run's index, state (done, running,
stale, pending), root dir and command; --run_index=I runs run I alone in the
foreground (a finished run does nothing; a run another live process holds
is an error). Slurm: docs/slurm_sweep.sbatch.
"""

from __future__ import annotations

import os

from absl import app
from absl import flags

from launchers import common
from launchers import executor_flags
from rl_darts.envs import procgen_env
from rl_darts.runtime import plans
from rl_darts.runtime import run_queue

LAUNCHERS = ('ppo', 'rainbow', 'nas_rl', 'darts_eval', 'pretrain_supernet')
flags.DEFINE_enum('launcher', 'ppo', LAUNCHERS, 'The launcher of every run.')
flags.DEFINE_list('configs', [], 'Gin configs, one run group each.')
flags.DEFINE_list('games', [], 'Procgen games (none: the configs\' own).')
flags.DEFINE_list('seeds', ['0'], 'Seeds; every config and game runs each.')
flags.DEFINE_multi_string('grid', [], 'A bindings axis, PARAM=V1,V2,...: '
                          'every value runs (several --grid: every '
                          'combination).')
flags.DEFINE_float('num_cpus', 1.0, "CPUs each run reserves (of this host's "
                   'or the Ray cluster\'s).', lower_bound=0.0)
flags.DEFINE_float('num_gpus', 0.0, 'GPUs each run reserves (a share of one, '
                   'or whole ones; runs see only theirs).', lower_bound=0.0)
flags.DEFINE_bool('list', False, "Print every run's index, state, root dir "
                  'and command, and run nothing.')
flags.DEFINE_integer('run_index', None, 'Run only this run (see --list), in '
                     'the foreground: an array scheduler\'s task.',
                     lower_bound=0)
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


def axes() -> list[tuple[str, list[str]]]:
  """--grid's axes; each a gin parameter and its values."""
  parsed = []
  for axis in FLAGS.grid:
    parameter, _, values = axis.partition('=')
    values = [v.strip() for v in values.split(',') if v.strip()]
    if '.' not in parameter or not values:
      raise app.UsageError(f'--grid={axis!r} must read PARAM=V1,V2,... with '
                           f'a gin parameter, e.g. Supernet.temperature=5,10')
    parsed.append((parameter.strip(), values))
  return parsed


def main(argv):
  del argv
  configs, games, seeds = _parse()
  runs = plans.grid(FLAGS.root_dir, FLAGS.launcher, configs, games, seeds,
                    FLAGS.gin_bindings, axes(), FLAGS.num_cpus, FLAGS.num_gpus)
  if FLAGS.list:
    print('\n'.join(run_queue.listing(runs)))
    return
  with common.user_errors():
    if FLAGS.run_index is not None:
      if FLAGS.run_index >= len(runs):
        raise app.UsageError(f'--run_index={FLAGS.run_index} is out of range: '
                             f'the sweep has runs 0-{len(runs) - 1}')
      run = runs[FLAGS.run_index]
      print(f'{run.name}: {run_queue.run_one(run)} ({run.root_dir})')
      return
    executor_flags.run(plans.one_stage(runs))
  print(f'{len(runs)} runs finished under {os.path.abspath(FLAGS.root_dir)}')


if __name__ == '__main__':
  app.run(main)
