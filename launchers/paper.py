r"""One command per paper result: its plan of runs, then its report.

  python -m launchers.paper --list
  python -m launchers.paper --result=table4 --dry_run          # the plan, its cost
  python -m launchers.paper --result=table4 --root_dir=DIR     # smoke scale
  python -m launchers.paper --result=table5b --scale=paper --executor=ray \
      --ray_address=HOST:PORT --root_dir=DIR

--scale=smoke (the default) keeps the result's whole structure (every arm
and stage, 2 games, 2 seeds) at sizes that finish in minutes; --scale=paper
runs the paper's games, seeds, depths and budgets. Runs go under
DIR/runs/<arm>/<game>/seed_<s>, the report (launchers.report) under
DIR/report. The RL-for-DARTS results (nas_rl_table1, nas_rl_robustness) are
one launchers.nas_rl_table run under DIR/table (--data_dir: CIFAR-10 at paper
scale; digits at smoke scale), whose table.md is the report. A rerun
resumes: finished runs are skipped, the others resume from their
checkpoints, and the report is written again. A root dir keeps one result at
one scale.
"""

from __future__ import annotations

import json
import os
import shlex

from absl import app
from absl import flags

from launchers import executor_flags
from rl_darts.experiments import paper_results
from rl_darts.experiments import report
from rl_darts.runtime import io_utils

flags.DEFINE_string('result', None, 'Which result (see --list).')
flags.DEFINE_enum('scale', 'smoke', paper_results.SCALES, 'Budgets: a smoke '
                  "run in minutes, or the paper's.")
flags.DEFINE_list('games', [], "A subset of the result's games (default: "
                  'its own; smoke: 2 of them).')
flags.DEFINE_bool('list', False, 'Print the known results and exit.')
flags.DEFINE_bool('dry_run', False, 'Print the plan and its estimated cost; '
                  'run nothing.')
flags.DEFINE_string('root_dir', None, 'Where the runs and the report go.')
flags.DEFINE_string('data_dir', None, 'RL-for-DARTS results at paper scale: '
                    'the CIFAR-10 python-version directory.')
FLAGS = flags.FLAGS


def _claim(root_dir: str, name: str, scale: str) -> None:
  """Marks root_dir as this result's; refuses one holding another's."""
  path = os.path.join(root_dir, 'result.json')
  mine = {'result': name, 'scale': scale}
  if os.path.exists(path):
    with open(path) as f:
      theirs = json.load(f)
    if theirs != mine:
      raise app.UsageError(
          f'--root_dir={root_dir} holds the runs of {theirs["result"]} at '
          f'scale {theirs["scale"]}, not {name} at {scale}: pick another '
          'root dir')
    return
  os.makedirs(root_dir, exist_ok=True)
  io_utils.atomic_write_text(path, json.dumps(mine))


def main(argv):
  del argv
  if FLAGS.list:
    for result in paper_results.RESULTS.values():
      print(f'{result.name}\t{result.title}')
    return
  if not FLAGS.result:
    raise app.UsageError('--result is required (see --list)')
  try:
    result = paper_results.get(FLAGS.result)
    table = isinstance(result, paper_results.TableResult)
    if table and FLAGS.games:
      raise ValueError(f'{result.name} runs on image data: it takes no '
                       f'--games (got {",".join(FLAGS.games)})')
    plan = (paper_results.table_plan(result, FLAGS.scale,
                                     FLAGS.root_dir or '.', FLAGS.data_dir)
            if table else paper_results.plan(
                result, FLAGS.scale, FLAGS.root_dir or '.', FLAGS.games))
  except ValueError as e:
    raise app.UsageError(str(e)) from None
  if FLAGS.dry_run:
    for stage in plan.stages:
      print(f'== stage {stage.name}: {len(stage.runs)} runs')
      for run in stage.runs:
        print(f'{run.root_dir}\t{shlex.join(run.command())}')
    print('\n'.join(
        paper_results.table_cost_lines(result, FLAGS.scale) if table else
        paper_results.cost_lines(result, FLAGS.scale, FLAGS.games)))
    return
  if not FLAGS.root_dir:
    raise app.UsageError('--root_dir is required: where the runs go')
  _claim(FLAGS.root_dir, result.name, FLAGS.scale)
  executor_flags.run(plan)
  if table:  # The table runner writes its own report.
    print(f'{result.title}: {plan.stages[0].runs[0].root_dir}/table.md')
    return
  out = os.path.join(FLAGS.root_dir, 'report')
  report.write([os.path.join(FLAGS.root_dir, 'runs')], out,
               paper=dict(result.paper_scores))
  print(f'{result.title}: {out}/report.md')


if __name__ == '__main__':
  app.run(main)
