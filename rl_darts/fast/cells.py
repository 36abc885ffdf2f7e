"""The cells' fast forward: the reference's sums, computed with fewer passes.

`forward` computes what `cells.Cell._reference` does (tested equal, outputs
and gradients, in tests/test_networks.py) with these speed tricks:

- convs of one kernel size, dilation, stride and activation reading the same
  state run as one conv; in a supernet each op's kernel and bias are scaled by
  its p instead of its output, and the convs covering the same nodes are
  summed before one split (`_fused_conv`);
- a stride-1 skip folds into its edge's linear conv, if any: p_skip x is that
  conv with p_skip at its kernel's centre;
- parameter-free ops run once per state, however many edges leave it, and
  their weighted sums per node run as one pass: the C++ kernel of
  `fast.fused` where they are elementwise, else `_weighted_sums` (GEMM
  gradients); the kernel also adds each node's sum so far;
- the output conv's gradient is one GEMM per state (`_concat_conv`).
"""

from __future__ import annotations

import collections
import dataclasses
from typing import Optional, Sequence

import tensorflow as tf

from rl_darts.fast import fused
from rl_darts.space import ops as ops_lib

Edge = tuple[int, Optional[str], tf.Tensor]  # (node, op key or None, output)
# RL-DARTS activation ops the fused kernel computes at stride 1 (by op name).
ELEMENTWISE = {'ReLU': 'relu', 'Tanh': 'tanh'}


def forward(cell, states: list[tf.Tensor], probs: Optional[tf.Tensor],
            training: Optional[bool],
            drop_prob: Optional[tf.Tensor] = None,
            identity_dropout: float = 0.0) -> tf.Tensor:
  """The output of `cell` (a `cells.Cell`) from its preprocessed input
  `states`, as `cells.Cell.call` describes it."""
  pending = [[] for _ in range(cell.num_nodes)]
  for source in range(cell.num_inputs + cell.num_nodes):
    if source >= cell.num_inputs:
      terms = pending[source - cell.num_inputs]
      states.append(_sum(terms) if terms else cell.zeros(states[0]))
    if source not in cell.outgoing:
      continue
    if cell.recomputes(training):
      pending = _recomputed_step(cell, source, states[source], probs,
                                 training, pending)
    else:
      _step(cell, source, states[source], probs, training, pending,
            drop_prob, identity_dropout)
  if cell.output_mode != 'concat_conv':
    return cell.combine(states)
  return _concat_conv(cell.output_conv.kernel, cell.output_conv.bias,
                      *[states[i] for i in cell.concat])


def _step(cell, source: int, x: tf.Tensor, probs: Optional[tf.Tensor],
          training: Optional[bool], pending: list[list[tf.Tensor]],
          drop_prob: Optional[tf.Tensor] = None,
          identity_dropout: float = 0.0) -> None:
  """Adds the edges leaving state `source` (value `x`) to the terms
  `pending` for their target nodes."""
  edges = _edges_from(cell, source, x, probs, training, pending)
  if not cell.mixed:
    edges = cell.regularize(edges, drop_prob, identity_dropout, training)
  for node, _, y in edges:
    pending[node].append(y)


def _recomputed_step(cell, source: int, x: tf.Tensor,
                     probs: Optional[tf.Tensor], training: Optional[bool],
                     pending: list[list[tf.Tensor]]) -> list[list[tf.Tensor]]:
  """`_step` under `tf.recompute_grad`: each node's terms so far enter as
  their sum and leave as their new sum, so only the sums and the states are
  kept between steps. Returns the new pending terms (one sum per node not
  yet a state)."""
  before = [node for node, terms in enumerate(pending)
            if terms and node + cell.num_inputs > source]  # Not yet states.
  after = sorted(set(before) | {
      node for node, _, key, _, _ in cell.outgoing.get(source, ())
      if not _adds_nothing(cell, cell.op_layers[key])})
  mixed = [] if probs is None else [probs]

  def step(x, *tensors):
    inner = [[] for _ in pending]
    for node, total in zip(before, tensors[len(mixed):]):
      inner[node].append(total)
    _step(cell, source, x, tensors[0] if mixed else None, training, inner)
    return [_sum(inner[node]) for node in after]

  sums = tf.recompute_grad(step)(x, *mixed,
                                 *[_sum(pending[node]) for node in before])
  result = [[] for _ in pending]
  for node, total in zip(after, sums):
    result[node].append(total)
  return result


def _adds_nothing(cell, layer: tf.keras.layers.Layer) -> bool:
  """A supernet's Zero op: it adds p * 0, so it is never run."""
  return cell.mixed and isinstance(layer, ops_lib.Zero)


def _fusion_key(layer: ops_lib.Conv) -> tuple[int, int, int, bool]:
  """Convs with equal keys reading one tensor run as one conv."""
  return (layer.kernel_size, layer.dilation, layer.stride, layer.relu)


def _shareable(layer: tf.keras.layers.Layer) -> bool:
  """Parameter-free and deterministic: one output serves every edge."""
  return (isinstance(layer, ops_lib.Stateless) and
          not isinstance(layer, ops_lib.Noise))


def _elementwise_kernel(name: str, layer: tf.keras.layers.Layer
                        ) -> Optional[str]:
  """The fused kernel (`fused.KERNELS`) that computes the op, if any."""
  if isinstance(layer, ops_lib.Identity):
    return 'identity'
  if isinstance(layer, ops_lib.Stateless) and layer.stride == 1:
    return ELEMENTWISE.get(name)
  return None


@dataclasses.dataclass
class _Plan:
  """How the ops on the edges leaving one state run, grouped."""
  outputs: dict = dataclasses.field(default_factory=dict)   # key -> output
  skips: dict = dataclasses.field(default_factory=dict)     # node -> skip op
  stateless: dict = dataclasses.field(default_factory=dict)  # name -> layer
  shared_edges: dict = dataclasses.field(
      default_factory=lambda: collections.defaultdict(list))
  conv_groups: dict = dataclasses.field(
      default_factory=lambda: collections.defaultdict(list))


def _plan(cell, source: int, x: tf.Tensor, training: Optional[bool]
          ) -> _Plan:
  """Sorts the ops leaving `source` by how they run; runs the ones that run
  alone (shared parameter-free outputs of a discrete cell and ops without a
  faster form)."""
  plan, shared = _Plan(), {}
  for node, name, key, row, col in cell.outgoing.get(source, ()):
    layer = cell.op_layers[key]
    if _adds_nothing(cell, layer):
      continue
    if isinstance(layer, ops_lib.Conv):
      plan.conv_groups[_fusion_key(layer)].append((node, key, row, col))
    elif cell.mixed and isinstance(layer, ops_lib.Identity):
      plan.skips[node] = (name, layer, row, col)
    elif cell.mixed and _shareable(layer):
      plan.stateless[name] = layer
      plan.shared_edges[name].append((node, row, col))
    elif _shareable(layer):
      if name not in shared:
        shared[name] = layer(x)
      plan.outputs[key] = shared[name]
    else:
      plan.outputs[key] = layer(x, training=training)
  return plan


def _run_convs(cell, x: tf.Tensor, probs: Optional[tf.Tensor], plan: _Plan
               ) -> tuple[list[Edge], dict[tuple[int, ...], list[tf.Tensor]]]:
  """The fused convs: a discrete cell's per-op outputs, or a supernet's
  weighted sums per group of nodes (folding stride-1 skips of linear convs,
  which leave `plan.skips`)."""
  result, sums = [], collections.defaultdict(list)
  for (_, _, stride, relu), members in plan.conv_groups.items():
    layers = [cell.op_layers[key] for _, key, _, _ in members]
    if not cell.mixed:
      result += [(node, key, y) for (node, key, _, _), y in
                 zip(members, _fused_conv(layers, x))]
      continue
    weights = tf.gather_nd(probs, [[row, col] for _, _, row, col in members])
    folded = [plan.skips.pop(node) if stride == 1 and not relu and
              node in plan.skips else None for node, _, _, _ in members]
    skip_weights = tf.stack([probs[f[2], f[3]] if f else 0.0
                             for f in folded]) if any(folded) else None
    nodes = tuple(node for node, _, _, _ in members)
    sums[nodes].append(_fused_conv(layers, x, weights, skip_weights,
                                   split=False))
  return result, sums


def _edges_from(cell, source: int, x: tf.Tensor, probs: Optional[tf.Tensor],
                training: Optional[bool],
                pending: Optional[list[list[tf.Tensor]]] = None
                ) -> list[Edge]:
  """(node, op key, weighted op output) for every op run on every edge
  leaving `source`; in a supernet the key is None for a sum of fused convs.
  `pending`: each node's terms so far, which the fused kernel may take in
  (see `_mix_shared`)."""
  plan = _plan(cell, source, x, training)
  result, sums = _run_convs(cell, x, probs, plan)
  for node, (name, layer, row, col) in plan.skips.items():  # Unfolded.
    plan.stateless[name] = layer
    plan.shared_edges[name].append((node, row, col))
  if plan.shared_edges:
    result += _mix_shared(x, plan.stateless, plan.shared_edges, probs, sums,
                          pending)
  for nodes, ys in sums.items():
    y = _sum(ys)
    parts = tf.split(y, len(nodes), axis=-1) if len(nodes) > 1 else [y]
    result += [(node, None, part) for node, part in zip(nodes, parts)]
  for node, _, key, row, col in cell.outgoing.get(source, ()):
    if key in plan.outputs:
      y = plan.outputs[key]
      result.append((node, key, y * probs[row, col] if cell.mixed else y))
  return result


def _mix_shared(x: tf.Tensor, layers: dict[str, tf.keras.layers.Layer],
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
  kernels = [_elementwise_kernel(name, layers[name]) for name in names]
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


def _fused_conv(layers: list[ops_lib.Conv], x: tf.Tensor,
                weights: Optional[tf.Tensor] = None,
                skip_weights: Optional[tf.Tensor] = None,
                split: bool = True):
  """Runs Conv ops of one kernel size, dilation, stride and activation as
  one conv: a list of their outputs or, with split=False, their concat.

  Mixing `weights` ([len(layers)], positive) scale each op's kernel and bias
  instead of its output: p * act(conv(x, K) + b) equals
  act(conv(x, p K) + p b) for the identity and ReLU, and the weights are
  far smaller than the activations. `skip_weights` (linear, stride 1 only)
  add s * identity at each op's kernel centre: conv(x, s I) = s x.
  """
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
