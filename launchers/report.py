r"""A report over RL-DARTS runs: normalized-score tables in the form of the
paper's Tables 4 and 5, integrality gaps, learning curves, alpha plots, cell
diagrams and each run's settings, as Markdown (PNGs beside it) and one
self-contained HTML file. Reads only what runs write.

  python -m launchers.report --runs=runs/sweep,runs/random_search --out=REPORT
  python -m launchers.report --out=REPORT --runs runs/sweep runs/random_search
  python -m launchers.report --runs=runs --out=REPORT \
      --compare="classic_search:impala_cnn_16x3" --compare="classic_search:random search"
"""

from __future__ import annotations

from absl import app
from absl import flags

from rl_darts.experiments import report

flags.DEFINE_list('runs', [], 'Directories holding runs (searched below).')
flags.DEFINE_string('out', None, 'Where report.md, report.html and figures/ '
                    'go.')
flags.DEFINE_multi_string('compare', [], 'ARM:OTHER pairs to compare: gap, '
                          'interval, noise and seeds needed (repeatable).')
flags.DEFINE_float('target_gap', 0.1, 'The gap (in score units) whose '
                   'seeds per arm --compare reports beside the measured '
                   "gap's.")
flags.register_validator('target_gap', lambda v: v > 0,
                         message='--target_gap must be > 0')
FLAGS = flags.FLAGS


def _pairs(values: list[str]) -> list[tuple[str, str]]:
  pairs = [tuple(v.split(':')) for v in values]
  for value, pair in zip(values, pairs):
    if len(pair) != 2 or not all(pair):
      raise app.UsageError(f'--compare={value!r} is not ARM:OTHER')
  return pairs


def main(argv):
  roots = FLAGS.runs + argv[1:]  # `--runs A B` leaves B as an argument.
  if not roots or not FLAGS.out:
    raise app.UsageError('--runs and --out are required')
  try:
    report.write(roots, FLAGS.out, _pairs(FLAGS.compare), FLAGS.target_gap)
  except (FileNotFoundError, report.UnknownArmError) as e:
    raise app.UsageError(str(e)) from None
  print(f'Wrote {FLAGS.out}/report.md and report.html')


if __name__ == '__main__':
  app.run(main)
