"""Cell diagrams (Graphviz) as PNG and SVG, in the style of DARTS's visualize.py.

Discrete edges are labelled with their op; supernet edges with their most
probable ops and p, drawn darker and thicker the stronger the edge.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import graphviz
import numpy as np

from rl_darts.runtime import io_utils
from rl_darts.space import genotypes
from rl_darts.space import ops as ops_lib

FORMATS = ('png', 'svg')
_LABELLED_OPS = 3  # Ops named on a supernet edge; the rest are summed up.


def _state_names(num_inputs: int, num_nodes: int) -> list[str]:
  """Inputs by name, nodes by state index (as genotypes number them)."""
  inputs = ['input 0'] if num_inputs == 1 else ['c_{k-2} 0', 'c_{k-1} 1']
  return inputs + [str(num_inputs + i) for i in range(num_nodes)]


def _graph(title: str, num_inputs: int, num_nodes: int,
           concat: Sequence[int]) -> graphviz.Digraph:
  graph = graphviz.Digraph(
      graph_attr={'rankdir': 'LR', 'label': title, 'labelloc': 't',
                  'fontname': 'helvetica'},
      node_attr={'style': 'filled', 'shape': 'rect', 'fontname': 'helvetica',
                 'penwidth': '2', 'height': '0.5'},
      edge_attr={'fontname': 'helvetica', 'fontsize': '10'})
  names = _state_names(num_inputs, num_nodes)
  for i, name in enumerate(names):
    graph.node(str(i), name, fillcolor=('darkseagreen2' if i < num_inputs else
                                        'lightblue'))
  graph.node('out', 'output', fillcolor='palegoldenrod')
  for state in concat:
    graph.edge(str(state), 'out', color='gray')
  return graph


def genotype_graph(genotype: genotypes.Genotype, cell_type: str
                   ) -> graphviz.Digraph:
  """A discrete cell: one edge per (op, input) pair, labelled with the op."""
  nodes = genotype.nodes(cell_type)
  graph = _graph(f'{cell_type} cell', genotype.num_inputs, len(nodes),
                 getattr(genotype, f'{cell_type}_concat'))
  for node, pairs in enumerate(nodes):
    for op, source in pairs:
      graph.edge(str(source), str(genotype.num_inputs + node), label=op)
  return graph


def supernet_graph(probs: np.ndarray, op_names: Sequence[str],
                   num_inputs: int, zero_op: Optional[str], title: str
                   ) -> graphviz.Digraph:
  """A supernet cell: every edge with its most probable ops and their p."""
  probs = np.asarray(probs)
  num_nodes = genotypes.num_nodes_of(len(probs), num_inputs)
  edges = genotypes.cell_edges(num_inputs, num_nodes)
  graph = _graph(title, num_inputs, num_nodes,
                 range(num_inputs, num_inputs + num_nodes))
  nonzero = [i for i, op in enumerate(op_names) if op != zero_op]
  for row, (source, node) in enumerate(edges):
    order = np.argsort(-probs[row], kind='stable')
    lines = [f'{op_names[i]} {probs[row, i]:.2f}' for i in order[:_LABELLED_OPS]]
    if len(order) > _LABELLED_OPS:
      lines.append(f'others {probs[row, order[_LABELLED_OPS:]].sum():.2f}')
    strength = float(probs[row, nonzero].max())
    grey = int(200 * (1.0 - strength))
    graph.edge(str(source), str(num_inputs + node), label='\n'.join(lines),
               color=f'#{grey:02x}{grey:02x}{grey:02x}',
               penwidth=f'{0.5 + 3.0 * strength:.2f}')
  return graph


def render(graph: graphviz.Digraph, path_stem: str) -> list[str]:
  """Writes `path_stem`.png and .svg atomically; returns their paths."""
  paths = []
  for fmt in FORMATS:
    try:
      data = graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
      raise RuntimeError(
          "Graphviz's `dot` program is missing, so cell diagrams cannot be "
          'drawn: run `make setup` (it installs Debian\'s graphviz) or '
          '`apt-get install graphviz`') from None
    path = f'{path_stem}.{fmt}'
    io_utils.atomic_write_bytes(path, data)
    paths.append(path)
  return paths


def draw_genotype(genotype: genotypes.Genotype, directory: str,
                  prefix: str = 'genotype') -> list[str]:
  """Diagrams of each cell type of a genotype, under `directory`."""
  return [path for t in genotype.cell_types for path in render(
      genotype_graph(genotype, t), os.path.join(directory, f'{prefix}_{t}'))]


def draw_supernet(probs: dict[str, np.ndarray], space: ops_lib.SearchSpace,
                  directory: str, prefix: str = 'supernet',
                  num_inputs: int = 1) -> list[str]:
  """Diagrams of each supernet cell type's mixing probabilities."""
  return [path for t, p in probs.items() for path in render(
      supernet_graph(p, space.ops(t), num_inputs, space.zero_op,
                     f'supernet {t} cell'),
      os.path.join(directory, f'{prefix}_{t}'))]
