r"""Pretrains the DARTS search supernet's weights (alpha fixed near uniform)
for the "ckpt" search variants; keeps the best epoch on the reward split.

  python -m launchers.pretrain_supernet \
      --gin_configs=gin_configs/nas_rl/pretrain.gin \
      --data_dir=/data/cifar-10-batches-py --root_dir=runs/pretrain_supernet

Then search with `SearchSettings.checkpoint = 'runs/pretrain_supernet'`, on the
same data and supernet bindings (the search checks them against provenance.json).
Writes metrics.csv, tb/, checkpoints/ (a rerun resumes), best/, split.json,
provenance.json.
"""

import os

from absl import app
from absl import flags

from launchers import common
from launchers import darts_data
from rl_darts.nas_rl import pretrain

FLAGS = flags.FLAGS


def main(argv):
  del argv
  darts_data.setup()
  seed = common.seed_run(FLAGS.root_dir)
  with common.user_errors():
    rows = pretrain.pretrain(FLAGS.root_dir, seed)
  if rows:
    print(f'Best reward-split accuracy {rows[-1]["best_valid_acc"]:.4f}')
  print(f'Wrote the best weights to {os.path.abspath(FLAGS.root_dir)}/best')


if __name__ == '__main__':
  app.run(main)
