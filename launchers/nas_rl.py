r"""Architecture search by a PPO meta-agent (RL for DARTS): the agent edits a
DARTS supernet's alpha and is rewarded by its accuracy, loss or NASWOT.

  python -m launchers.nas_rl --gin_configs=gin_configs/nas_rl/disc_nwot.gin \
      --data_dir=/data/cifar-10-batches-py --root_dir=runs/disc_nwot

One config per row of the paper's Table 1 (gin_configs/nas_rl/), plus S2-S4.
The PPO loop is the one of launchers.ppo (TF-Agents, Reverb); the env is
`Environment.kind = 'darts_search'`. Writes under --root_dir: metrics.csv and
tb/ (episode rewards), alpha_snapshots/, checkpoints/ (a rerun resumes),
split.json, and at the end final_alpha.npz, genotype.json, genotype.txt (the
DARTS format), cell diagrams and reward.png.
"""

import os

from absl import app
from absl import flags

from launchers import common
from launchers import darts_data
from rl_darts.agents.ppo import train
from rl_darts.nas_rl import environment  # pylint: disable=unused-import

FLAGS = flags.FLAGS


def main(argv):
  del argv
  darts_data.setup()
  common.seed_run(FLAGS.root_dir)
  with common.user_errors():
    train.train(FLAGS.root_dir)
  print(f'Wrote the genotype (genotype.json, genotype.txt), cell diagrams, '
        f'reward curve and metrics to {os.path.abspath(FLAGS.root_dir)}')


if __name__ == '__main__':
  app.run(main)
