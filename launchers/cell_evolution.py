r"""Cell evolution (RL-DARTS paper Figs. 5/6, 14-16): every (or every k-th)
distinct cell a supernet search wrote to its genotypes/, trained from scratch
in the order they appeared, and their returns against the step each appeared.

  python -m launchers.cell_evolution \
      --gin_configs=gin_configs/cell_evolution/ppo_classic.gin \
      --search_dir=runs/classic_search --every=2 \
      --run_bindings="Environment.game = 'starpilot'" --root_dir=DIR

--gin_configs/--gin_bindings set `CellTraining`; --run_bindings go to every
run (the search's game and levels, the budget...). Each run is a
launchers.ppo/rainbow process under DIR/step_<step> with its log beside it; a
rerun skips finished runs and resumes the others. Writes
DIR/cell_evolution.csv, summary.json and cell_evolution.png.
"""

from __future__ import annotations

from absl import app
from absl import flags

from launchers import common
from rl_darts.experiments import cell_studies

flags.DEFINE_string('root_dir', None, 'Where the study writes; reruns resume.')
flags.DEFINE_string('search_dir', None, 'A supernet search run (its '
                    'genotypes/step_*.json).')
flags.DEFINE_integer('every', 1, 'Train every k-th distinct cell (and the '
                     'last).', lower_bound=1)
flags.DEFINE_multi_string('run_bindings', [], 'Gin bindings of every run.')
flags.DEFINE_integer('parallel', 1, 'Cells trained at once.', lower_bound=1)
FLAGS = flags.FLAGS


def main(argv):
  del argv
  if not FLAGS.root_dir or not FLAGS.search_dir:
    raise app.UsageError('--root_dir and --search_dir are required')
  common.parse_gin()
  with common.user_errors():
    summary = cell_studies.cell_evolution(
        FLAGS.search_dir, FLAGS.root_dir, FLAGS.seed, FLAGS.every,
        FLAGS.run_bindings, FLAGS.parallel)
  for cell in summary['cells']:
    print(f"cell of step {cell['step']}: final return {cell['final_return']}")


if __name__ == '__main__':
  app.run(main)
