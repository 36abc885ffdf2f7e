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
(`Cell._edges_from` and below), tested equal to the reference.
"""

from __future__ import annotations

import collections
from typing import Optional, Sequence

import gin
import numpy as np
import tensorflow as tf

from rl_darts import fused
from rl_darts import genotypes
from rl_darts import naswot
from rl_darts import ops as ops_lib

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
    for (source, node), names in self.edge_ops.items():
      stride = 2 if reduction and source < num_inputs else 1
      for col, name in enumerate(names):
        key = f'{source}_{node}_{name}'
        self.op_layers[key] = ops_lib.make_op(
            name, width, stride, mixed if supernet_ops is None else supernet_ops)
        outgoing[source].append((node, name, key, rows[(source, node)], col))
    self._outgoing = {source: tuple(v) for source, v in outgoing.items()}
    # Per node: (source, alpha row, MixedOp) in a supernet, (source, op key)
    # pairs in a discrete cell: what the reference forward sums.
    self._incoming = tuple(
        tuple((source, rows[(source, n)], MixedOp(
            [self.op_layers[f'{source}_{n}_{name}'] for name in names]))
              for (source, n), names in self.edge_ops.items() if n == node)
        if mixed else
        tuple((source, f'{source}_{n}_{name}')
              for (source, n), names in self.edge_ops.items() if n == node
              for name in names)
        for node in range(num_nodes))
    self.forward_path = cell_forward()
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
    if self.output_mode == 'concat_conv':  # `_concat_conv` reads its weights.
      self.output_conv.build(tf.TensorShape(
          [None, None, None, self.width * len(self.concat)]))
    for layer in self.op_layers.values():
      if isinstance(layer, ops_lib.Conv) and not layer.built:
        layer.build(state_shape)  # Fused convs read their weights directly.
    super().build(input_shape)

  def call(self, inputs: Sequence[tf.Tensor], probs: Optional[tf.Tensor] = None,
           training: Optional[bool] = None,
           active: Optional[np.ndarray] = None,
           drop_prob: Optional[tf.Tensor] = None,
           identity_dropout: float = 0.0) -> tf.Tensor:
    """`active` (bool, shaped like `probs`): run only these mixed ops (the
    dartsrl code skips ops weighted <= 1e-3); a node left without inputs is 0.
    A NumPy `active` leaves the skipped ops out of the graph; a tensor
    guards each op with a `naswot.cond` (one compiled forward serves every
    pattern) and zeroes the skipped ops' weights; an int tensor [edges]
    names each edge's one active op (-1: none) and runs it alone by one
    `naswot.switch` per edge over all its ops, which also adds it to its
    node's running sum (the discrete searches' forward).
    `drop_prob`: DARTS's drop-path on every non-identity op output, per
    sample; `identity_dropout`: dropout on identity outputs (the dartsrl
    code's evaluation). Both only in training, in discrete cells."""
    if self.mixed and probs is None:
      raise ValueError('a supernet cell needs its mixing probabilities')
    if isinstance(active, tf.Tensor):
      mask = active if active.dtype == tf.bool else tf.cast(
          tf.one_hot(active, probs.shape[-1]), tf.bool)
      probs = tf.where(mask, probs, tf.zeros_like(probs))
    states = [x if layer is None else layer(x, training=training)
              for x, layer in zip(inputs, self.input_layers)]
    if self.forward_path == 'reference':
      if active is not None and not isinstance(active, tf.Tensor):
        probs = tf.where(active, probs, tf.zeros_like(probs))
      return self._output(self._reference(states, probs, training, drop_prob,
                                          identity_dropout), reference=True)
    pending = [[] for _ in range(self.num_nodes)]
    for source in range(self.num_inputs + self.num_nodes):
      if source >= self.num_inputs:
        terms = pending[source - self.num_inputs]
        states.append(_sum(terms) if terms else self._zeros(states[0]))
      edges = self._edges_from(source, states[source], probs, training, active,
                               pending)
      if not self.mixed:
        edges = self._regularize(edges, drop_prob, identity_dropout, training)
      for node, _, y in edges:
        pending[node].append(y)
    return self._output(states)

  def _reference(self, states: list[tf.Tensor], probs: Optional[tf.Tensor],
                 training: Optional[bool], drop_prob: Optional[tf.Tensor],
                 identity_dropout: float) -> list[tf.Tensor]:
    """The cell as the paper writes it: node j is the sum over its incoming
    edges (i, j) of MixedOp_ij(state_i) in a supernet, of op(state_i) for
    the genotype's ops in a discrete cell."""
    for node, incoming in enumerate(self._incoming):
      if self.mixed:
        terms = [mixed_op(states[source], probs[row], training)
                 for source, row, mixed_op in incoming]
      else:
        terms = [y for _, _, y in self._regularize(
            [(node, key, self.op_layers[key](states[source], training=training))
             for source, key in incoming], drop_prob, identity_dropout,
            training)]
      states.append(tf.add_n(terms) if terms else self._zeros(states[0]))
    return states

  def _output(self, states: list[tf.Tensor], reference: bool = False
              ) -> tf.Tensor:
    """The cell's output from all its states (`output` mode)."""
    if self.output_mode == 'last_node':
      return states[-1]
    chosen = [states[i] for i in self.concat]
    if self.output_mode == 'concat':
      return tf.concat(chosen, axis=-1)
    if reference:
      return self.output_conv(tf.concat(chosen, axis=-1))
    return _concat_conv(self.output_conv.kernel, self.output_conv.bias,
                        *chosen)

  def named_layers(self) -> list[tuple[str, tf.keras.layers.Layer]]:
    """Sublayers by a name that supernet and discrete cells share."""
    named = [(f'input{i}', layer) for i, layer in enumerate(self.input_layers)
             if layer is not None]
    named += [(f'op:{key}', layer) for key, layer in self.op_layers.items()]
    if self.output_mode == 'concat_conv':
      named.append(('output', self.output_conv))
    return named

  def _zeros(self, x: tf.Tensor, source: Optional[int] = None) -> tf.Tensor:
    """Zeros shaped like a node (strided in a reduction cell), or like the
    output of an edge leaving state `source`."""
    strided = self.reduction and (source is None or source < self.num_inputs)
    stride = 2 if strided else 1
    return tf.zeros_like(x[:, ::stride, ::stride, :])

  def _edges_from(self, source: int, x: tf.Tensor, probs: Optional[tf.Tensor],
                  training: Optional[bool], active: Optional[np.ndarray] = None,
                  pending: Optional[list[list[tf.Tensor]]] = None
                  ) -> list[tuple[int, Optional[str], tf.Tensor]]:
    """(node, op key, weighted op output) for every op run on every edge
    leaving `source`; in a supernet the key is None for a sum of fused convs.
    `pending`: each node's terms so far, which the fused kernel may take in
    (see `_mix_shared`), or an edge's switch adds to (its one term).

    Stateless ops run once per name; convs of one shape run as one conv (see
    `_fused_conv`). In a supernet, the fused convs covering the same nodes are
    summed before one split, a stride-1 skip folds into its edge's linear
    conv, if any (p_skip x is that conv's with p_skip at its kernel's centre),
    and the outputs several edges share are weighted per node at once
    (`_mix_shared`: the fused kernel or `_weighted_sums`).
    """
    outputs, weighted, skips, shared, stateless = {}, {}, {}, {}, {}
    shared_edges = collections.defaultdict(list)
    conv_groups = collections.defaultdict(list)
    guarded = isinstance(active, tf.Tensor)
    switching = guarded and active.dtype != tf.bool
    zeros = self._zeros(x, source) if guarded else None  # Skipped ops' output.
    switched = collections.defaultdict(dict)  # (node, row) -> {col: op}.
    for node, name, key, row, col in self._outgoing.get(source, ()):
      layer = self.op_layers[key]
      if self.mixed and (isinstance(layer, ops_lib.Zero) or (
          active is not None and not guarded and not active[row, col])):
        continue  # Adds p * 0, or is skipped.
      if switching:  # Every op in its edge's switch: only the chosen one runs.
        switched[(node, row)][col] = (
            lambda layer=layer, row=row, col=col: _scaled(
                probs[row, col], layer(x, training=training)))
      elif isinstance(layer, ops_lib.Conv):
        conv_groups[layer.fusion_key].append((node, key, row, col))
      elif self.mixed and getattr(layer, 'identity', False):
        skips[node] = (name, layer, row, col)
      elif self.mixed and getattr(layer, 'parameter_free', False):
        stateless[name] = layer
        shared_edges[name].append((node, row, col))
      elif getattr(layer, 'parameter_free', False):
        if name not in shared:
          shared[name] = layer(x)
        outputs[key] = shared[name]
      elif guarded:
        weighted[key] = naswot.cond(
            active[row, col],
            lambda layer=layer, p=probs[row, col]: p * layer(
                x, training=training), zeros)
      else:
        outputs[key] = layer(x, training=training)
    result, sums = [], collections.defaultdict(list)
    for (_, _, stride, relu), members in conv_groups.items():
      keys = [key for _, key, _, _ in members]
      if not self.mixed:
        result += [(node, key, y) for (node, key, _, _), y in
                   zip(members, self._fused_conv(x, keys))]
        continue
      weights = tf.gather_nd(probs, [[row, col] for _, _, row, col in members])
      folded = [skips.pop(node) if stride == 1 and not relu and node in skips
                else None for node, _, _, _ in members]
      skip_weights = tf.stack([probs[f[2], f[3]] if f else 0.0
                               for f in folded]) if any(folded) else None
      nodes = tuple(node for node, _, _, _ in members)
      sums[nodes].append(self._fused_conv(x, keys, weights, skip_weights,
                                          split=False))
    for node, (name, layer, row, col) in skips.items():
      stateless[name] = layer
      shared_edges[name].append((node, row, col))
    if shared_edges:
      result += self._mix_shared(x, stateless, shared_edges, probs, sums,
                                 pending)
    for nodes, ys in sums.items():
      y = _sum(ys)
      parts = tf.split(y, len(nodes), axis=-1) if len(nodes) > 1 else [y]
      result += [(node, None, part) for node, part in zip(nodes, parts)]
    for (node, row), ops in switched.items():
      if pending[node]:  # Its running sum: add to it in the taken branch.
        base = pending[node].pop()
        ops = {col: lambda op=op, base=base: base + op()
               for col, op in ops.items()}
      else:
        base = zeros
      result.append((node, None, naswot.switch(active[row], ops, base)))
    for node, _, key, row, col in self._outgoing.get(source, ()):
      if key in weighted:
        result.append((node, key, weighted[key]))
      elif key in outputs:
        y = outputs[key]
        result.append((node, key, y * probs[row, col] if self.mixed else y))
    return result

  def _mix_shared(self, x: tf.Tensor, layers: dict[str, tf.keras.layers.Layer],
                  edges: dict[str, list[tuple[int, int, int]]],
                  probs: tf.Tensor,
                  sums: dict[tuple[int, ...], list[tf.Tensor]],
                  pending: Optional[list[list[tf.Tensor]]] = None
                  ) -> list[tuple[int, None, tf.Tensor]]:
    """(node, None, sum of p * output) for the supernet's op outputs that
    several edges share (parameter-free ops, unfolded skips), per node.

    Where they are all elementwise and one group of fused convs covers the
    same nodes, `fused.mix` adds them to that group's sum in one pass (and
    takes the group out of `sums`). If every one of those nodes has `pending`
    terms, it adds their sum in the same pass and empties them, so its output
    becomes each node's sum so far (no separate add)."""
    names = list(edges)
    nodes = sorted({node for name in names for node, _, _ in edges[name]})
    entries = [(i, nodes.index(node), row, col) for i, name in enumerate(names)
               for node, row, col in edges[name]]
    weights = tf.gather_nd(probs, [[row, col] for _, _, row, col in entries])
    w = tf.scatter_nd([[i, j] for i, j, _, _ in entries], weights,
                      [len(names), len(nodes)])
    kernels = [getattr(layers[name], 'elementwise', None) for name in names]
    if tuple(nodes) in sums and None not in kernels and fused.available():
      ys = sums.pop(tuple(nodes))
      terms = [pending[node] for node in nodes] if pending else []
      partial = [_sum(t) for t in terms] if all(terms) else []
      if partial:
        for t in terms:
          t.clear()  # The kernel's outputs will be these nodes' sums so far.
      mixed = fused.mix(x, _sum(ys), w, kernels, partial)
    else:
      present = {(i, j) for i, j, _, _ in entries}
      mixed = _weighted_sums(w, present, *[layers[name](x) for name in names])
    return [(node, None, y) for node, y in zip(nodes, mixed)]

  def _regularize(self, outputs: list[tuple[int, str, tf.Tensor]],
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
      if getattr(self.op_layers[key], 'identity', False):
        if identity_dropout > 0:
          y = tf.nn.dropout(y, identity_dropout)
      elif drop_prob is not None:
        keep = 1.0 - drop_prob
        mask = tf.floor(keep + tf.random.uniform([tf.shape(y)[0], 1, 1, 1]))
        y = y / keep * mask
      regularized.append((node, key, y))
    return regularized

  def _fused_conv(self, x: tf.Tensor, keys: list[str],
                  weights: Optional[tf.Tensor] = None,
                  skip_weights: Optional[tf.Tensor] = None,
                  split: bool = True):
    """Runs Conv ops of one kernel size, dilation, stride and activation as
    one conv: a list of their outputs or, with split=False, their concat.

    Mixing `weights` ([len(keys)], positive) scale each op's kernel and bias
    instead of its output: p * act(conv(x, K) + b) equals
    act(conv(x, p K) + p b) for the identity and ReLU, and the weights are
    far smaller than the activations. `skip_weights` (linear, stride 1 only)
    add s * identity at each op's kernel centre: conv(x, s I) = s x.
    """
    layers = [self.op_layers[k] for k in keys]
    channels = [layer.channels for layer in layers]
    first = layers[0]
    kernel = tf.concat([layer.kernel for layer in layers], axis=-1)
    bias = tf.concat([layer.bias for layer in layers], axis=-1)
    if weights is not None:
      scale = tf.repeat(weights, channels)
      kernel, bias = kernel * scale, bias * scale
    if skip_weights is not None:
      eye = tf.eye(int(x.shape[-1]), num_columns=channels[0])
      centre = tf.concat([eye * w for w in tf.unstack(skip_weights)], axis=-1)
      c = first.kernel_size // 2
      kernel += tf.pad(centre[None, None], [[c, c], [c, c], [0, 0], [0, 0]])
    y = first.activate(tf.nn.bias_add(
        ops_lib.convolve(x, kernel, first.stride, first.dilation), bias))
    if not split:
      return y
    return tf.split(y, channels, axis=-1) if len(layers) > 1 else [y]


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


def _scaled(p: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
  """p * y, without the multiply where p is 1 (every edge of a one-hot
  alpha)."""
  return tf.cond(tf.equal(p, 1.0), lambda: y, lambda: p * y)


def _sum(tensors: Sequence[tf.Tensor]) -> tf.Tensor:
  """Their sum; a lone tensor as is."""
  return tf.add_n(tensors) if len(tensors) > 1 else tensors[0]


@tf.custom_gradient
def _concat_conv(kernel: tf.Tensor, bias: tf.Tensor, *states: tf.Tensor):
  """The 1x1 conv (`kernel`, `bias`) of the states' channel concat.

  Its gradient gives each state its own GEMM, dy W_i^T with W_i the kernel's
  rows for that state, where TF would compute the concat's gradient and slice
  it per state (a strided copy each, 5% of a Micro training step)."""
  x = tf.concat(states, axis=-1)

  def grad(dy: tf.Tensor):
    rows = tf.split(kernel[0, 0], [int(s.shape[-1]) for s in states], axis=0)
    flat = tf.reshape(dy, [-1, dy.shape[-1]])
    d_states = [tf.reshape(tf.matmul(flat, w, transpose_b=True), tf.shape(s))
                for w, s in zip(rows, states)]
    d_kernel = tf.compat.v1.nn.conv2d_backprop_filter(
        x, tf.shape(kernel), dy, [1, 1, 1, 1], 'VALID')
    return d_kernel, tf.raw_ops.BiasAddGrad(out_backprop=dy), *d_states

  return tf.nn.bias_add(tf.nn.conv2d(x, kernel, 1, 'VALID'), bias), grad


def _weighted_sums(w: tf.Tensor, present: set[tuple[int, int]],
                   *tensors: tf.Tensor) -> list[tf.Tensor]:
  """y_j = sum_i w[i, j] tensors[i] over the `present` (i, j), by multiplies.

  The gradient runs as two GEMMs over the channel-concatenated tensors and
  outputs instead of a multiply and a reduction per pair, with the kernel
  K = W (x) I: d tensors = dy K^T, and dW[i, j] is the trace of block (i, j)
  of tensors^T dy. Multiplies are fastest forward at acting batch sizes; the
  GEMMs are 1.9x faster backward at training batch sizes.
  """
  m, k = len(tensors), int(w.shape[1])

  @tf.custom_gradient
  def sums(w, *tensors):
    ys = [tf.add_n([tensors[i] * w[i, j] for i in range(m)
                    if (i, j) in present]) for j in range(k)]

    def grad(*dys):
      width = int(tensors[0].shape[-1])
      eye = tf.eye(width)
      kernel = tf.reshape(w[:, None, :, None] * eye[None, :, None, :],
                          [1, 1, m * width, k * width])
      dy = tf.concat(dys, axis=-1)
      d_tensors = tf.nn.conv2d(dy, tf.transpose(kernel, [0, 1, 3, 2]), 1,
                               'VALID')
      x = tf.concat(tensors, axis=-1)
      d_kernel = tf.compat.v1.nn.conv2d_backprop_filter(
          x, [1, 1, m * width, k * width], dy, [1, 1, 1, 1], 'VALID')
      d_w = tf.einsum('icjc->ij', tf.reshape(d_kernel, [m, width, k, width]))
      return (d_w, *tf.split(d_tensors, m, axis=-1))

    return ys, grad

  return sums(w, *tensors)
