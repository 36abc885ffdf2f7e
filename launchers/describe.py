r"""Prints an encoder's parameter counts per component and, for a supernet, the
size of its search space (paper App. G.1).

  python -m launchers.describe --gin_configs=gin_configs/networks/classic_supernet.gin
  python -m launchers.describe --gin_configs=gin_configs/networks/discrete_64x3.gin \
      --gin_bindings="DiscreteNetwork.genotype = 'runs/demo/genotype.json'"
"""

from absl import app
import numpy as np
import tensorflow as tf

from launchers import common
from rl_darts import networks


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


def main(argv):
  del argv
  common.parse_gin()
  with common.user_errors():
    print(describe(networks.make_encoder()))


if __name__ == '__main__':
  app.run(main)
