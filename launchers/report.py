r"""A report over RL-DARTS runs: normalized-score tables in the form of the
paper's Tables 4 and 5, integrality gaps, learning curves, alpha plots, cell
diagrams and each run's settings, as Markdown (PNGs beside it) and one
self-contained HTML file. Reads only what runs write.

  python -m launchers.report --runs=runs/sweep,runs/random_search --out=REPORT
  python -m launchers.report --out=REPORT --runs runs/sweep runs/random_search
"""

from __future__ import annotations

from absl import app
from absl import flags

from rl_darts.experiments import report

flags.DEFINE_list('runs', [], 'Directories holding runs (searched below).')
flags.DEFINE_string('out', None, 'Where report.md, report.html and figures/ '
                    'go.')
FLAGS = flags.FLAGS


def main(argv):
  roots = FLAGS.runs + argv[1:]  # `--runs A B` leaves B as an argument.
  if not roots or not FLAGS.out:
    raise app.UsageError('--runs and --out are required')
  try:
    report.write(roots, FLAGS.out)
  except FileNotFoundError as e:
    raise app.UsageError(str(e)) from None
  print(f'Wrote {FLAGS.out}/report.md and report.html')


if __name__ == '__main__':
  app.run(main)
