"""The DARTS cell: supernet MixedOps or a genotype's discrete edges, one class.

A supernet cell has every op on every edge and sums them weighted by the
mixing probabilities p = softmax(T * alpha) it is called with; a discrete cell
has only its genotype's (input, op) pairs and sums them plainly. Both store an
op's weights under the same key ('{source}_{node}_{op}'), so weights copy from
a supernet to the discrete network of its genotype (see `networks.copy_weights`).

Two forwards compute the same cell from the same weights, chosen by
`cell_forward.path` (gin): 'reference' is the paper's math as written
(`MixedOp`, `Cell._reference`: a loop over nodes and their incoming edges),
the oracle of the tests; 'fast' (the default) fuses convs, scales kernels by
p, folds skips and mixes elementwise ops in one compiled pass
(`rl_darts.fast.cells`), tested equal to the reference.
"""

from __future__ import annotations

import collections
from typing import Callable, NamedTuple, Optional, Sequence

import gin
import tensorflow as tf

from rl_darts.fast import cells as fast_cells
from rl_darts.space import genotypes
from rl_darts.space import ops as ops_lib

OUTPUTS = ('concat_conv', 'concat', 'last_node')
PREPROCESSING = ('match_width', 'relu_conv_bn')
FORWARD_PATHS = ('fast', 'reference')


@gin.configurable
def cell_forward(path: str = 'fast') -> str:
  """Which forward cells run: 'fast' (launchers' default) or 'reference'."""
  if path not in FORWARD_PATHS:
    raise ValueError(f'unknown cell_forward.path {path!r}; allowed: '
                     f'{", ".join(FORWARD_PATHS)}')
  return path


class Recompute(NamedTuple):
  blocks: bool
  inside_cells: bool


@gin.configurable
def recompute(blocks: bool = False, inside_cells: bool = False) -> Recompute:
  """Which activations training calls recompute in the backward pass instead
  of keeping them (exact, less memory, one more forward): each block layer's
  (`recompute.blocks`: a cell, a residual block, a conv) and, inside a cell,
  each step's (`recompute.inside_cells`: a node's sum on the reference path,
  the edges leaving one state on the fast path), so a cell keeps only its
  states and their partial sums."""
  return Recompute(blocks, inside_cells)


def run_step(step: Callable, recomputed: bool, *tensors: tf.Tensor):
  """`step(*tensors)`, under `tf.recompute_grad` if `recomputed`. Gradients
  reach the `tensors` and the variables `step` reads, so anything that
  needs one (probabilities, states) is passed, not captured."""
  return (tf.recompute_grad(step) if recomputed else step)(*tensors)


class MixedOp:
  """DARTS's mixed op on one edge: sum over the space's ops o of p_o o(x).

  Holds the cell's op layers (it owns no weights of its own)."""

  def __init__(self, ops: Sequence[tf.keras.layers.Layer]):
    self.ops = tuple(ops)

  def __call__(self, x: tf.Tensor, probs: tf.Tensor,
               training: Optional[bool] = None) -> tf.Tensor:
    return tf.add_n([p * op(x, training=training)
                     for p, op in zip(tf.unstack(probs), self.ops)])


class Cell(tf.keras.layers.Layer):
  """A cell of `num_nodes` intermediate nodes over `num_inputs` input states.

  Args:
    width: channels of every state (inputs are mapped to it first).
    edge_ops: {(source state, node index): op names on that edge}.
    num_inputs: 1 (RL-DARTS) or 2 (DARTS: c_{k-2}, c_{k-1}).
    num_nodes: intermediate nodes.
    reduction: edges leaving the inputs have stride 2.
    mixed: a supernet cell (every edge of `genotypes.cell_edges`, all with the
      same op list), weighted by the `probs` passed to `call`.
    output: 'concat_conv' (concat + 1x1 conv to width, RL-DARTS), 'concat'
      (DARTS) or 'last_node'.
    concat: the states concatenated (default: all nodes).
    preprocess: 'match_width' (1x1 conv where an input's channels differ from
      width, RL-DARTS) or 'relu_conv_bn' (DARTS).
    reduction_prev: with 'relu_conv_bn', input 0 comes from a reduction cell
      and is reduced by FactorizedReduce.
    supernet_ops: build ops in their supernet form (DARTS: pools followed by
      BN); default: when mixed.
  """

  def __init__(self, width: int, edge_ops: dict[tuple[int, int], Sequence[str]],
               num_inputs: int, num_nodes: int, reduction: bool = False,
               mixed: bool = False, output: str = 'concat_conv',
               concat: Optional[Sequence[int]] = None,
               preprocess: str = 'match_width', reduction_prev: bool = False,
               supernet_ops: Optional[bool] = None, **kwargs):
    super().__init__(**kwargs)
    if output not in OUTPUTS:
      raise ValueError(f'unknown cell output {output!r}; allowed: {OUTPUTS}')
    if preprocess not in PREPROCESSING:
      raise ValueError(f'unknown cell preprocessing {preprocess!r}; allowed: '
                       f'{PREPROCESSING}')
    self.width, self.num_inputs, self.num_nodes = width, num_inputs, num_nodes
    self.reduction = reduction
    self.mixed, self.output_mode, self.preprocess = mixed, output, preprocess
    self.concat = tuple(concat if concat is not None else
                        range(num_inputs, num_inputs + num_nodes))
    self.edge_ops = {edge: tuple(names) for edge, names in edge_ops.items()}
    rows = {edge: r for r, edge in
            enumerate(genotypes.cell_edges(num_inputs, num_nodes))}
    self.op_layers = {}
    # Per source state: (node, op name, layer key, alpha row, alpha column).
    outgoing = collections.defaultdict(list)
    # Per node, what the reference forward sums: (source, alpha row, MixedOp)
    # in a supernet, (source, op key) in a discrete cell.
    incoming = [[] for _ in range(num_nodes)]
    for (source, node), names in self.edge_ops.items():
      stride = 2 if reduction and source < num_inputs else 1
      keys = [f'{source}_{node}_{name}' for name in names]
      for col, (name, key) in enumerate(zip(names, keys)):
        self.op_layers[key] = ops_lib.make_op(
            name, width, stride, mixed if supernet_ops is None else supernet_ops)
        outgoing[source].append((node, name, key, rows[(source, node)], col))
      incoming[node] += ([(source, rows[(source, node)], MixedOp(
          [self.op_layers[key] for key in keys]))] if mixed else
                         [(source, key) for key in keys])
    self.outgoing = {source: tuple(v) for source, v in outgoing.items()}
    self.incoming = tuple(tuple(terms) for terms in incoming)
    self.forward_path = cell_forward()
    self.recompute_steps = recompute().inside_cells
    if self.recompute_steps:
      self._check_recomputable()
    if preprocess == 'relu_conv_bn':
      self.input_layers = [
          ops_lib.FactorizedReduce(width) if reduction_prev and i == 0 else
          ops_lib.ReLUConvBN(width) for i in range(num_inputs)]
    if output == 'concat_conv':
      self.output_conv = tf.keras.layers.Conv2D(
          width, 1, kernel_initializer=ops_lib.conv_initializer())

  def build(self, input_shape) -> None:
    if self.preprocess == 'match_width':
      # A 1x1 conv maps an input to the cell's width only where they differ.
      self.input_layers = [
          tf.keras.layers.Conv2D(self.width, 1,
                                 kernel_initializer=ops_lib.conv_initializer())
          if int(shape[-1]) != self.width else None for shape in input_shape]
    state_shape = tf.TensorShape([None, None, None, self.width])
    if self.output_mode == 'concat_conv':  # The fast path reads its weights.
      self.output_conv.build(tf.TensorShape(
          [None, None, None, self.width * len(self.concat)]))
    for layer in self.op_layers.values():
      if isinstance(layer, ops_lib.Conv) and not layer.built:
        layer.build(state_shape)  # Fused convs read their weights directly.
    super().build(input_shape)

  def call(self, inputs: Sequence[tf.Tensor], probs: Optional[tf.Tensor] = None,
           training: Optional[bool] = None,
           drop_prob: Optional[tf.Tensor] = None,
           identity_dropout: float = 0.0) -> tf.Tensor:
    """The cell's output; a supernet cell mixes its ops by `probs`.
    `drop_prob`: DARTS's drop-path on every non-identity op output, per
    sample; `identity_dropout`: dropout on identity outputs (the dartsrl
    code's evaluation). Both only in training, in discrete cells."""
    if self.mixed and probs is None:
      raise ValueError('a supernet cell needs its mixing probabilities')
    if (self.recomputes(training) and
        (drop_prob is not None or identity_dropout > 0)):
      raise ValueError('recompute.inside_cells cannot recompute the random '
                       'masks of drop-path or identity dropout: turn one off')
    states = self.preprocessed(inputs, training)
    if self.forward_path == 'reference':
      return self.combine(self._reference(states, probs, training, drop_prob,
                                          identity_dropout))
    return fast_cells.forward(self, states, probs, training, drop_prob,
                              identity_dropout)

  def preprocessed(self, inputs: Sequence[tf.Tensor],
                   training: Optional[bool]) -> list[tf.Tensor]:
    """The input states mapped to the cell's width (`preprocess`)."""
    return [x if layer is None else layer(x, training=training)
            for x, layer in zip(inputs, self.input_layers)]

  def _check_recomputable(self) -> None:
    """Recomputed steps must repeat their forward exactly: no random draws
    and no batch statistics (a second forward would update them twice)."""
    unsafe = sorted({
        key.split('_', 2)[2] for key, layer in self.op_layers.items()
        if isinstance(layer, ops_lib.Noise) or
        not isinstance(layer, (ops_lib.Conv, ops_lib.Stateless))})
    if unsafe or self.preprocess == 'relu_conv_bn':
      raise ValueError(
          'recompute.inside_cells recomputes only convs and deterministic '
          'parameter-free ops (the RL search spaces); this cell has '
          f'{", ".join(unsafe) or "ReLU-conv-BN inputs"}')

  def recomputes(self, training: Optional[bool]) -> bool:
    """Whether this call recomputes its steps (`recompute.inside_cells`)."""
    return bool(self.recompute_steps and training)

  def _reference(self, states: list[tf.Tensor], probs: Optional[tf.Tensor],
                 training: Optional[bool], drop_prob: Optional[tf.Tensor],
                 identity_dropout: float) -> list[tf.Tensor]:
    """The cell as the paper writes it: node j is the sum over its incoming
    edges (i, j) of MixedOp_ij(state_i) in a supernet, of op(state_i) for
    the genotype's ops in a discrete cell."""
    for node, incoming in enumerate(self.incoming):

      def node_sum(*tensors, incoming=incoming, node=node):
        p, *inputs = tensors if self.mixed else (None, *tensors)
        if self.mixed:
          terms = [mixed_op(inputs[source], p[row], training)
                   for source, row, mixed_op in incoming]
        else:
          terms = [y for _, _, y in self.regularize(
              [(node, key, self.op_layers[key](inputs[source],
                                               training=training))
               for source, key in incoming], drop_prob, identity_dropout,
              training)]
        return tf.add_n(terms) if terms else self.zeros(inputs[0])

      states.append(run_step(node_sum, self.recomputes(training),
                             *([probs] if self.mixed else []), *states))
    return states

  def combine(self, states: list[tf.Tensor]) -> tf.Tensor:
    """The cell's output from all its states (`output` mode)."""
    if self.output_mode == 'last_node':
      return states[-1]
    chosen = [states[i] for i in self.concat]
    if self.output_mode == 'concat':
      return tf.concat(chosen, axis=-1)
    return self.output_conv(tf.concat(chosen, axis=-1))

  def named_layers(self) -> list[tuple[str, tf.keras.layers.Layer]]:
    """Sublayers by a name that supernet and discrete cells share."""
    named = [(f'input{i}', layer) for i, layer in enumerate(self.input_layers)
             if layer is not None]
    named += [(f'op:{key}', layer) for key, layer in self.op_layers.items()]
    if self.output_mode == 'concat_conv':
      named.append(('output', self.output_conv))
    return named

  def zeros(self, x: tf.Tensor, source: Optional[int] = None) -> tf.Tensor:
    """Zeros shaped like a node (strided in a reduction cell), or like the
    output of an edge leaving state `source`."""
    strided = self.reduction and (source is None or source < self.num_inputs)
    stride = 2 if strided else 1
    return tf.zeros_like(x[:, ::stride, ::stride, :])

  def regularize(self, outputs: list[tuple[int, str, tf.Tensor]],
                  drop_prob: Optional[tf.Tensor], identity_dropout: float,
                  training: Optional[bool]
                  ) -> list[tuple[int, str, tf.Tensor]]:
    """In training, drop-path (DARTS): zeroes each non-identity op output for
    a random `drop_prob` of the samples, scaling the rest by
    1 / (1 - drop_prob). Identity outputs get plain dropout at
    `identity_dropout`, if any."""
    if not training or (drop_prob is None and identity_dropout <= 0):
      return outputs
    regularized = []
    for node, key, y in outputs:
      if isinstance(self.op_layers[key], ops_lib.Identity):
        if identity_dropout > 0:
          y = tf.nn.dropout(y, identity_dropout)
      elif drop_prob is not None:
        keep = 1.0 - drop_prob
        mask = tf.floor(keep + tf.random.uniform([tf.shape(y)[0], 1, 1, 1]))
        y = y / keep * mask
      regularized.append((node, key, y))
    return regularized

def supernet_cell(width: int, op_names: Sequence[str], num_inputs: int,
                  num_nodes: int, **kwargs) -> Cell:
  """A cell with every op of `op_names` on every edge."""
  edges = genotypes.cell_edges(num_inputs, num_nodes)
  return Cell(width, {edge: op_names for edge in edges}, num_inputs, num_nodes,
              mixed=True, **kwargs)


def discrete_cell(width: int, nodes: Sequence[genotypes.Node], num_inputs: int,
                  **kwargs) -> Cell:
  """The cell of a genotype: node i sums op(input) over its (op, input) pairs."""
  edge_ops = collections.defaultdict(list)
  for node, pairs in enumerate(nodes):
    for op, source in pairs:
      edge_ops[(source, node)].append(op)
  return Cell(width, dict(edge_ops), num_inputs, len(nodes), mixed=False,
              **kwargs)


