"""Genotypes: discrete cells, their files, the discretizer and space sizes.

States of a cell are numbered inputs first, then intermediate nodes: a
single-input RL-DARTS cell has 0 = input, 1.. = nodes; a two-input DARTS cell has
0 = c_{k-2}, 1 = c_{k-1}, 2.. = nodes. Node i (0-based) has one edge from every
earlier state; the supernet's alpha rows follow `cell_edges` order.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import math
import os
from typing import Mapping, Optional, Sequence

import numpy as np

from rl_darts.runtime import io_utils
from rl_darts.space import ops as ops_lib
from rl_darts.space import paper_cells

Edge = tuple[str, int]  # (op name, input state index)
Node = tuple[Edge, ...]
JSON_FORMAT = 'rl-darts-genotype'
# A searched network's shape, as DiscreteNetwork's arguments name it.
SHAPE_KEYS = ('space', 'normal_cells', 'reduction_cells', 'edges_per_node',
              'cell_output')
# The original DARTS namedtuple's fields, in its order.
DARTS_FIELDS = ('normal', 'normal_concat', 'reduce', 'reduce_concat')


class GenotypeError(ValueError):
  """A malformed genotype, genotype file or DARTS genotype string."""


def cell_edges(num_inputs: int, num_nodes: int) -> list[tuple[int, int]]:
  """(source state, node index) of every supernet edge, in alpha row order."""
  return [(source, node) for node in range(num_nodes)
          for source in range(num_inputs + node)]


@dataclasses.dataclass(frozen=True)
class Genotype:
  """A discrete architecture: each node's (op, input) pairs per cell type.

  `reduce` is None where the reduction is not searched (Micro, or R = 0).
  `*_concat` lists the states the DARTS format concatenates (default: all
  nodes). `shape` is the searched network's (space, N, R, K, cell output;
  I is the node count), for a discrete network built from it; None where the
  source did not say (a DARTS string, an older file).
  """

  normal: tuple[Node, ...]
  reduce: Optional[tuple[Node, ...]] = None
  num_inputs: int = 1
  normal_concat: Optional[tuple[int, ...]] = None
  reduce_concat: Optional[tuple[int, ...]] = None
  shape: Optional[Mapping[str, object]] = None

  def __post_init__(self):
    if self.num_inputs not in (1, 2):
      raise GenotypeError(f'num_inputs must be 1 or 2, got {self.num_inputs!r}')
    for cell_type in ops_lib.CELL_TYPES:
      nodes = getattr(self, cell_type)
      if nodes is None:
        if cell_type == 'normal':
          raise GenotypeError('a genotype needs a normal cell')
        continue
      nodes = _check_nodes(cell_type, nodes, self.num_inputs)
      object.__setattr__(self, cell_type, nodes)
      concat_field = f'{cell_type}_concat'
      all_nodes = tuple(range(self.num_inputs, self.num_inputs + len(nodes)))
      concat = getattr(self, concat_field)
      concat = all_nodes if concat is None else tuple(int(c) for c in concat)
      if any(not 0 <= c < self.num_inputs + len(nodes) for c in concat):
        raise GenotypeError(f'{concat_field} {list(concat)} names a state '
                            f'outside 0..{self.num_inputs + len(nodes) - 1}')
      object.__setattr__(self, concat_field, concat)
    if self.shape is not None:
      unknown = set(self.shape) - set(SHAPE_KEYS)
      if unknown:
        raise GenotypeError(f'unknown shape keys {sorted(unknown)}; allowed: '
                            f'{", ".join(SHAPE_KEYS)}')
      object.__setattr__(self, 'shape', dict(self.shape))

  def __hash__(self) -> int:
    return hash((self.normal, self.reduce, self.num_inputs))

  @property
  def cell_types(self) -> tuple[str, ...]:
    return ops_lib.CELL_TYPES if self.reduce is not None else ('normal',)

  def nodes(self, cell_type: str) -> tuple[Node, ...]:
    if cell_type not in self.cell_types:
      raise GenotypeError(f'this genotype has no {cell_type!r} cell; it has: '
                          f'{", ".join(self.cell_types)}')
    return getattr(self, cell_type)

  def ops_used(self) -> set[str]:
    return {op for t in self.cell_types for node in self.nodes(t)
            for op, _ in node}

  # JSON ----------------------------------------------------------------------
  def to_json(self) -> str:
    doc = {'format': JSON_FORMAT, 'version': 1, 'num_inputs': self.num_inputs}
    if self.shape is not None:
      doc['shape'] = self.shape
    for cell_type in ops_lib.CELL_TYPES:
      nodes = getattr(self, cell_type)
      doc[cell_type] = (None if nodes is None else
                        [[[op, src] for op, src in node] for node in nodes])
      concat = getattr(self, f'{cell_type}_concat')
      doc[f'{cell_type}_concat'] = None if concat is None else list(concat)
    return json.dumps(doc, indent=1)

  @classmethod
  def from_json(cls, text: str, source: str = '<string>') -> 'Genotype':
    try:
      doc = json.loads(text)
    except json.JSONDecodeError as e:
      raise GenotypeError(f'{source}: not JSON ({e})') from None
    if not isinstance(doc, dict) or doc.get('format') != JSON_FORMAT:
      raise GenotypeError(
          f'{source}: not a genotype file (expected a JSON object with '
          f'"format": "{JSON_FORMAT}", "normal": [[[op, input], ...], ...], '
          f'"reduce": ... or null)')
    unknown = set(doc) - {'format', 'version', 'num_inputs', 'normal', 'reduce',
                          'normal_concat', 'reduce_concat', 'shape'}
    if unknown:
      raise GenotypeError(f'{source}: unknown keys {sorted(unknown)}')
    try:
      return cls(normal=doc.get('normal'), reduce=doc.get('reduce'),
                 num_inputs=doc.get('num_inputs', 1),
                 normal_concat=doc.get('normal_concat'),
                 reduce_concat=doc.get('reduce_concat'),
                 shape=doc.get('shape'))
    except GenotypeError as e:
      raise GenotypeError(f'{source}: {e}') from None

  def save(self, path: str) -> None:
    io_utils.atomic_write_text(path, self.to_json() + '\n')

  @classmethod
  def load(cls, path: str) -> 'Genotype':
    if not os.path.isfile(path):
      raise GenotypeError(f'genotype file {path!r} does not exist (expected a '
                          f'JSON file written by Genotype.save)')
    with open(path) as f:
      return cls.from_json(f.read(), source=path)

  @classmethod
  def load_any(cls, value: str) -> 'Genotype':
    """A genotype from a paper cell's name (`paper_cells.NAMED`), a JSON
    file, a file holding a DARTS string, or a DARTS string itself
    (`Genotype(normal=[...], ...)`)."""
    if value in paper_cells.NAMED:
      return cls.from_darts_string(paper_cells.NAMED[value])
    if os.path.isfile(value):
      with open(value) as f:
        text = f.read()
      if text.lstrip().startswith('{'):
        return cls.from_json(text, source=value)
      return cls.from_darts_string(text)
    if value.lstrip().startswith('Genotype('):
      return cls.from_darts_string(value)
    raise GenotypeError(f'genotype {value!r} is neither a paper cell\'s name '
                        f'({", ".join(paper_cells.NAMED)}), a file (JSON or a '
                        f'DARTS string) nor a DARTS string Genotype(...)')

  # The original DARTS format --------------------------------------------------
  def to_darts_string(self) -> str:
    """`Genotype(normal=[(op, input), ...], normal_concat=[...], reduce=...)`."""
    if self.num_inputs != 2 or self.reduce is None:
      raise GenotypeError('the DARTS format holds two-input cells with a '
                          'normal and a reduction cell')
    parts = []
    for cell_type in ops_lib.CELL_TYPES:
      nodes = getattr(self, cell_type)
      if any(len(node) != 2 for node in nodes):
        raise GenotypeError('the DARTS format needs exactly 2 edges per node')
      pairs = ', '.join(f'({op!r}, {src})' for node in nodes for op, src in node)
      concat = list(getattr(self, f'{cell_type}_concat'))
      parts.append(f'{cell_type}=[{pairs}], {cell_type}_concat={concat}')
    return f'Genotype({", ".join(parts)})'

  @classmethod
  def from_darts_string(cls, text: str) -> 'Genotype':
    """Parses the DARTS format (concat as a list or `range(a, b)`), no eval."""
    expected = ("expected Genotype(normal=[('op', input), ...], normal_concat="
                "[2, 3, 4, 5], reduce=[...], reduce_concat=[...])")
    try:
      call = ast.parse(text.strip(), mode='eval').body
    except SyntaxError as e:
      raise GenotypeError(f'not a DARTS genotype string ({e.msg}); '
                          f'{expected}') from None
    if not (isinstance(call, ast.Call) and getattr(call.func, 'id', '') ==
            'Genotype' and len(call.args) <= len(DARTS_FIELDS)):
      raise GenotypeError(f'not a DARTS genotype string; {expected}')
    # Positional arguments in the namedtuple's order, as some authors wrote.
    fields = {name: _literal(arg, name, expected)
              for name, arg in zip(DARTS_FIELDS, call.args)}
    for keyword in call.keywords:
      if keyword.arg in fields:
        raise GenotypeError(f'{keyword.arg} given twice; {expected}')
      fields[keyword.arg] = _literal(keyword.value, keyword.arg, expected)
    if set(fields) != set(DARTS_FIELDS):
      raise GenotypeError(f'DARTS genotype fields are {sorted(fields)}; '
                          f'{expected}')
    cells = {}
    for cell_type in ops_lib.CELL_TYPES:
      pairs = fields[cell_type]
      if not isinstance(pairs, list) or len(pairs) % 2:
        raise GenotypeError(f'{cell_type}: expected an even-length list of '
                            f'(op, input) pairs, two per node')
      cells[cell_type] = [pairs[i:i + 2] for i in range(0, len(pairs), 2)]
    return cls(normal=cells['normal'], reduce=cells['reduce'], num_inputs=2,
               normal_concat=fields['normal_concat'],
               reduce_concat=fields['reduce_concat'])


def _literal(node: ast.AST, field: str, expected: str):
  """A Python literal, or `range(a, b)` as a list."""
  if (isinstance(node, ast.Call) and getattr(node.func, 'id', '') == 'range'
      and not node.keywords):
    try:
      return list(range(*(ast.literal_eval(a) for a in node.args)))
    except (ValueError, TypeError):
      pass
  try:
    return ast.literal_eval(node)
  except ValueError:
    raise GenotypeError(f'{field}: not a literal value; {expected}') from None


def _check_nodes(cell_type: str, nodes, num_inputs: int) -> tuple[Node, ...]:
  """Validates and freezes a cell's nodes: [[(op, input), ...], ...]."""
  if not isinstance(nodes, (list, tuple)) or not nodes:
    raise GenotypeError(f'{cell_type}: expected a non-empty list of nodes, '
                        f'each a list of [op, input] pairs')
  frozen = []
  for i, node in enumerate(nodes):
    where = f'{cell_type} node {i}'
    if not isinstance(node, (list, tuple)) or not node:
      raise GenotypeError(f'{where}: expected a non-empty list of [op, input] '
                          f'pairs, got {node!r}')
    edges = []
    for edge in node:
      if (not isinstance(edge, (list, tuple)) or len(edge) != 2 or
          not isinstance(edge[0], str) or isinstance(edge[1], bool) or
          not isinstance(edge[1], int)):
        raise GenotypeError(f'{where}: expected [op name, input index], got '
                            f'{edge!r}')
      op, source = edge
      if not 0 <= source < num_inputs + i:
        raise GenotypeError(
            f'{where}: input {source} is not an earlier state; allowed '
            f'0..{num_inputs + i - 1} ({num_inputs} cell input(s), then nodes)')
      edges.append((op, source))
    if len(set(edges)) != len(edges):
      raise GenotypeError(f'{where}: repeats an edge: {edges}')
    frozen.append(tuple(edges))
  return tuple(frozen)


# ----------------------------------------------------------------------------
# Discretization (RL-DARTS paper, Algorithm 4).


def discretize_cell(probs: np.ndarray, op_names: Sequence[str],
                    num_inputs: int, k: int,
                    zero_op: Optional[str]) -> tuple[Node, ...]:
  """Per edge: strength = max non-Zero probability, op = its argmax; per node:
  keep the k strongest input edges. Ties go to the lowest op index and the
  earliest input. Edges are listed by input index."""
  probs = np.asarray(probs, dtype=np.float64)
  num_nodes = num_nodes_of(len(probs), num_inputs)
  if probs.shape != (len(probs), len(op_names)):
    raise ValueError(f'alpha table of shape {probs.shape} does not match '
                     f'{len(op_names)} ops')
  candidates = probs.copy()
  if zero_op in op_names:
    candidates[:, list(op_names).index(zero_op)] = -np.inf
  best_op = candidates.argmax(axis=1)  # First maximum: lowest op index.
  strength = candidates.max(axis=1)
  edges = cell_edges(num_inputs, num_nodes)
  nodes = []
  for node in range(num_nodes):
    rows = [r for r, (_, dst) in enumerate(edges) if dst == node]
    # Stable sort: equal strengths keep input order (earliest input first).
    kept = sorted(sorted(rows, key=lambda r: -strength[r])[:k])
    nodes.append(tuple((op_names[best_op[r]], edges[r][0]) for r in kept))
  return tuple(nodes)


def discretize(probs: Mapping[str, np.ndarray], space: ops_lib.SearchSpace,
               num_inputs: int = 1, k: int = 2) -> Genotype:
  """The genotype of a supernet's mixing probabilities {cell type: [E, |O|]}."""
  cells = {t: discretize_cell(probs[t], space.ops(t), num_inputs, k,
                              space.zero_op) for t in probs}
  return Genotype(normal=cells['normal'], reduce=cells.get('reduce'),
                  num_inputs=num_inputs)


def one_hot_alpha(nodes: Sequence[Node], op_names: Sequence[str],
                  num_inputs: int, zero_op: Optional[str],
                  sentinel: float = 1e4) -> np.ndarray:
  """An alpha table whose softmax is one-hot on a discrete cell's ops.

  Edges the cell does not use get Zero (which must be in `op_names`).
  """
  edges = cell_edges(num_inputs, len(nodes))
  alpha = np.zeros([len(edges), len(op_names)], np.float32)
  chosen = {(src, dst): op for dst, node in enumerate(nodes)
            for op, src in node}
  for row, edge in enumerate(edges):
    op = chosen.get(edge, zero_op)
    if op not in op_names:
      raise GenotypeError(f'op {op!r} of edge {edge} is not among {op_names}')
    alpha[row, list(op_names).index(op)] = sentinel
  return alpha


def num_nodes_of(num_edges: int, num_inputs: int) -> int:
  """The node count of a cell whose alpha table has `num_edges` rows."""
  for n in range(1, 64):
    if len(cell_edges(num_inputs, n)) == num_edges:
      return n
  raise ValueError(f'{num_edges} edges fit no cell with {num_inputs} input(s)')


def sample_cell(op_names: Sequence[str], zero_op: Optional[str],
                num_inputs: int, num_nodes: int, k: int,
                rng: np.random.Generator) -> tuple[Node, ...]:
  """A cell drawn uniformly from those `cell_space_size` counts: each node
  keeps a uniform min(k, inputs)-subset of its inputs, each with a uniform
  non-Zero op (independent choices whose counts multiply to the size)."""
  ops = [op for op in op_names if op != zero_op]
  nodes = []
  for node in range(num_nodes):
    inputs = num_inputs + node
    kept = sorted(rng.choice(inputs, size=min(k, inputs), replace=False))
    nodes.append(tuple((ops[rng.integers(len(ops))], int(source))
                       for source in kept))
  return tuple(nodes)


def sample(space: ops_lib.SearchSpace, num_inputs: int, num_nodes: int,
           k: int, rng: np.random.Generator,
           cell_types: Optional[Sequence[str]] = None) -> Genotype:
  """A uniformly random genotype of `space` (random search, paper Table 4)."""
  cells = {t: sample_cell(space.ops(t), space.zero_op, num_inputs, num_nodes,
                          k, rng) for t in cell_types or space.cell_types}
  return Genotype(normal=cells['normal'], reduce=cells.get('reduce'),
                  num_inputs=num_inputs)


# ----------------------------------------------------------------------------
# Search-space size (RL-DARTS paper, App. G.1).


def cell_space_size(num_nonzero_ops: int, num_inputs: int, num_nodes: int,
                    k: int) -> int:
  """Node i picks min(k, inputs) of its inputs and a non-Zero op for each."""
  size = 1
  for node in range(num_nodes):
    choices = min(k, num_inputs + node)
    size *= math.comb(num_inputs + node, choices) * num_nonzero_ops**choices
  return size


def space_size(space: ops_lib.SearchSpace, num_inputs: int, num_nodes: int,
               k: int, cell_types: Optional[Sequence[str]] = None
               ) -> dict[str, int]:
  """Discrete cells per searched cell type (default: all of the space's), and
  their product ('total')."""
  sizes = {}
  for cell_type in cell_types or space.cell_types:
    op_names = space.ops(cell_type)
    nonzero = len(op_names) - (space.zero_op in op_names)
    sizes[cell_type] = cell_space_size(nonzero, num_inputs, num_nodes, k)
  sizes['total'] = math.prod(sizes.values())
  return sizes

