r"""Trains a genotype's DARTS evaluation network from scratch and reports test
accuracy per epoch (standard DARTS protocol by default).

  python -m launchers.darts_eval --genotype=runs/disc_nwot/genotype.json \
      --data_dir=/data/cifar-10-batches-py --root_dir=runs/disc_nwot_eval
  python -m launchers.darts_eval --genotype=DISC_NWOT ...

--genotype is a paper cell's name (rl_darts/space/paper_cells.py: the nine Table 1
cells and DARTS_V1/V2), a JSON file, a file holding a DARTS string, or the
string.
Without --gin_configs the standard protocol applies
(gin_configs/darts_eval/darts.gin: CIFAR-10, 600 epochs); the dartsrl code's
is gin_configs/darts_eval/dartsrl_code.gin.
Writes metrics.csv (test_acc per epoch; best_test_acc is the best so far,
as the dartsrl code reports), tb/, checkpoints/ (a rerun resumes).
"""

import os

from absl import app
from absl import flags

from launchers import common
from launchers import darts_data
from rl_darts.nas_rl import darts_eval

flags.DEFINE_string('genotype', None, "Genotype: a paper cell's name "
                    '(DISC_NWOT, DARTS_V2, ...: rl_darts/space/paper_cells.py), a '
                    'JSON file, a DARTS-string file or a DARTS string.')
FLAGS = flags.FLAGS


DEFAULT_CONFIG = os.path.join(common.GIN_DIR, 'darts_eval', 'darts.gin')


def main(argv):
  del argv
  if not FLAGS.gin_configs:
    FLAGS.gin_configs = [DEFAULT_CONFIG]
  darts_data.setup()
  if not FLAGS.genotype:
    raise app.UsageError("--genotype is required: a paper cell's name "
                         '(DISC_NWOT, ...), a JSON file, a DARTS-string file '
                         'or a DARTS string')
  seed = common.seed_run(FLAGS.root_dir)
  with common.user_errors():
    rows = darts_eval.train(FLAGS.root_dir, FLAGS.genotype, seed)
  if rows:
    print(f'Final test accuracy {rows[-1]["test_acc"]:.4f} (best epoch '
          f'{rows[-1]["best_test_acc"]:.4f})')
  print(f'Wrote metrics to {os.path.abspath(FLAGS.root_dir)}')


if __name__ == '__main__':
  app.run(main)
