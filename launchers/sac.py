r"""SAC on DeepMind Control from 64x64 pixels (TF-Agents, Reverb; RL-DARTS
paper App. A.3): supernet search, discrete cell or the 4-layer conv baseline,
chosen by the gin config.

  python -m launchers.sac --gin_configs=gin_configs/sac/micro_search.gin \
      --root_dir=runs/sac_micro_search
  python -m launchers.sac --gin_configs=gin_configs/sac/discrete_32x3.gin \
      --gin_bindings="DiscreteNetwork.genotype = 'runs/sac_micro_search/genotype.json'" \
      --root_dir=runs/sac_micro_eval
  python -m launchers.sac --gin_configs=gin_configs/sac/conv_baseline.gin \
      --gin_bindings="ControlTask.domain = 'walker'" \
      --gin_bindings="ControlTask.task = 'walk'" --root_dir=runs/sac_conv

Writes under --root_dir: metrics.csv and tb/ (critic and actor losses, SAC's
temperature, train and greedy returns, env steps/s), checkpoints/ (a rerun
resumes; the replay is refilled), and for a supernet alpha.csv, alpha.png,
genotypes/, genotype.json and cell diagrams.
"""

from absl import app
from absl import flags
import gin

from launchers import common
from rl_darts.agents.sac import train

flags.DEFINE_string('root_dir', None, 'Where the run writes; reruns resume.')
FLAGS = flags.FLAGS


def main(argv):
  del argv
  common.parse_gin()
  seed = common.seed_run(FLAGS.root_dir)
  gin.bind_parameter('SACSettings.seed', seed)
  with common.user_errors():
    train.train(FLAGS.root_dir)


if __name__ == '__main__':
  app.run(main)
