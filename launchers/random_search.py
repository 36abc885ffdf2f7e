r"""Random search: cells drawn uniformly from a supernet's space, each trained
as a discrete network, the best retrained (RL-DARTS paper Table 4; App. E's
random-cell study with --gin_configs=gin_configs/random_search/micro_study.gin).

  python -m launchers.random_search \
      --gin_configs=gin_configs/random_search/ppo_classic.gin \
      --run_bindings="Environment.game = 'starpilot'" --seed=0 --root_dir=DIR

--gin_configs/--gin_bindings set the space (the Supernet bindings),
`RandomSearch` and `CellTraining`; --run_bindings go to every training run
(game, budget...).
Each run is a launchers.ppo/rainbow process under DIR/cell_<i>/train and
DIR/best, with its log beside it; a rerun skips finished runs and resumes the
others. Writes DIR/random_search.csv, summary.json and returns.png.
"""

from __future__ import annotations

from absl import app
from absl import flags

from launchers import common
from rl_darts.experiments import cell_studies

flags.DEFINE_string('root_dir', None, 'Where the search writes; reruns resume.')
flags.DEFINE_multi_string('run_bindings', [], 'Gin bindings of every run.')
flags.DEFINE_integer('parallel', 1, 'Cells trained at once.', lower_bound=1)
FLAGS = flags.FLAGS


def main(argv):
  del argv
  if not FLAGS.root_dir:
    raise app.UsageError('--root_dir is required: where the search writes')
  common.parse_gin()
  with common.user_errors():
    summary = cell_studies.random_search(FLAGS.root_dir, FLAGS.seed,
                                         FLAGS.run_bindings, FLAGS.parallel)
  for cell in summary['cells']:
    print(f"cell {cell['cell']}: final return {cell['final_return']}")
  print(f"best: cell {summary['best_cell']}"
        + (f", retrained: {summary['best_final_return']}"
           if 'best_final_return' in summary else ''))


if __name__ == '__main__':
  app.run(main)
