r"""PPO on Procgen (TF-Agents, Reverb): supernet search, discrete evaluation or
the IMPALA-CNN baseline, chosen by the gin config.

  python -m launchers.ppo --gin_configs=gin_configs/ppo/classic_search.gin \
      --root_dir=runs/classic_search
  python -m launchers.ppo --gin_configs=gin_configs/ppo/discrete_64x3.gin \
      --gin_bindings="DiscreteNetwork.genotype = 'runs/classic_search/genotype.json'" \
      --root_dir=runs/classic_eval

Writes under --root_dir: metrics.csv and tb/ (train- and test-level returns, raw
and normalized), checkpoints/ (a rerun resumes), and for a supernet alpha.csv,
alpha.png, genotypes/, genotype.json and cell diagrams.
"""

import os

from absl import app
from absl import flags

from launchers import common
from rl_darts.ppo import train

flags.DEFINE_string('root_dir', None, 'Where the run writes; reruns resume.')
flags.DEFINE_integer('replay_port', None,
                     'Port of the Reverb server (default: any free port).')
FLAGS = flags.FLAGS


def main(argv):
  del argv
  common.parse_gin()
  if not FLAGS.root_dir:
    raise app.UsageError('--root_dir is required: where the run writes')
  with common.user_errors():
    train.train(FLAGS.root_dir, replay_port=FLAGS.replay_port)
  print(f'Wrote metrics, checkpoints and (for a search) the genotype, cell '
        f'diagrams and alpha plot to {os.path.abspath(FLAGS.root_dir)}')


if __name__ == '__main__':
  app.run(main)
