r"""Prints an encoder's parameter counts per component and, for a supernet, the
size of its search space (paper App. G.1), from a network config or any
launcher's (the encoder of the run it would start; for an RL-for-DARTS
search, the DARTS supernet it searches).

  python -m launchers.describe --gin_configs=gin_configs/networks/classic_supernet.gin
  python -m launchers.describe --gin_configs=gin_configs/rainbow/micro_search.gin
  python -m launchers.describe --gin_configs=gin_configs/networks/discrete_64x3.gin \
      --gin_bindings="DiscreteNetwork.genotype = 'runs/demo/genotype.json'"
  python -m launchers.describe --darts_genotype=runs/disc_nwot/genotype.json

With --darts_genotype (JSON file, DARTS-string file or string): the
parameters of that genotype's CIFAR evaluation network (`DartsNetwork`, gin-
configurable: 20 cells, C = 36 by default), without and with the auxiliary
head (DARTS reports the count without it).
"""

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from launchers import common
from rl_darts.agents.ppo import train as ppo_train  # pylint: disable=unused-import
from rl_darts.agents.rainbow import train as rainbow_train  # pylint: disable=unused-import
from rl_darts.nas_rl import darts_eval  # pylint: disable=unused-import
from rl_darts.nas_rl import environment  # pylint: disable=unused-import
from rl_darts.space import darts_networks
from rl_darts.space import networks

flags.DEFINE_string('darts_genotype', None,
                    'Describe the DARTS evaluation network of this genotype '
                    "(a paper cell's name such as DISC_NWOT, a file or a "
                    'DARTS string).')
FLAGS = flags.FLAGS


def describe(encoder: networks.Encoder) -> str:
  """A table of parameters per component, then search-space facts."""
  encoder(tf.zeros([1, 64, 64, 3], tf.uint8))
  lines = [f'{encoder.name}: {type(encoder).__name__}',
           f'{"component":<28}{"parameters":>12}']
  total = 0
  for name, weights in encoder.components():
    count = sum(int(np.prod(w.shape)) for w in weights)
    total += count
    lines.append(f'{name:<28}{count:>12,}')
  lines.append(f'{"total":<28}{total:>12,}')
  if isinstance(encoder, networks.Supernet):
    lines.append(f'search space {encoder.space.name!r}: '
                 f'{encoder.num_nodes} nodes, keep {encoder.edges_per_node} '
                 f'inputs per node')
    for cell_type, size in encoder.space_size().items():
      lines.append(f'  {cell_type + " cells":<26}{size:>14,} ({size:.3g})')
  return '\n'.join(lines)


def describe_darts(genotype: str) -> str:
  """Parameter counts of a genotype's DARTS evaluation network."""
  network = darts_networks.DartsNetwork(genotype)
  network(tf.zeros([2, 32, 32, 3]), training=True, drop_prob=tf.zeros(()))
  return (f'{network.genotype.to_darts_string()}\n'
          f'DartsNetwork ({len(network.cells)} cells): '
          f'{network.count_params():,} parameters without the auxiliary head, '
          f'{network.count_params(auxiliary=True):,} with it')


def describe_darts_supernet() -> str:
  """Parameter count of the DARTS supernet an RL-for-DARTS search edits."""
  supernet = darts_networks.DartsSupernet()
  probs = {t: tf.fill(shape, 1.0 / shape[1])
           for t, shape in supernet.alpha_shapes().items()}
  supernet(tf.zeros([1, 32, 32, 3]), probs)
  return (f'DartsSupernet ({supernet.space.name!r} space, alpha '
          f'{dict(supernet.alpha_shapes())}): '
          f'{supernet.count_params():,} parameters')


def main(argv):
  del argv
  common.parse_gin()
  with common.user_errors():
    if FLAGS.darts_genotype:
      print(describe_darts(FLAGS.darts_genotype))
    elif common.binding('Environment.kind') == 'darts_search':
      print(describe_darts_supernet())
    else:
      print(describe(networks.make_encoder()))


if __name__ == '__main__':
  app.run(main)
