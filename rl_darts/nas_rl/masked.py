"""The RL-for-DARTS searches' forward: a supernet with only some ops run.

The dartsrl code skips every op weighted <= 1e-3 when it scores an alpha, so
a one-hot alpha runs one op per edge and NASWOT counts only the ReLUs that
run. `logits` is the supernet's forward with a mask per cell type, in one of
three forms:

- NumPy bool [edges, ops]: the skipped ops are left out of the graph (eager);
- a bool tensor of that shape: each op is guarded by `naswot.cond`, so one
  compiled forward serves every mask;
- an int tensor [edges]: each edge's one op (-1: none) runs alone, by one
  `naswot.switch` per edge (the discrete searches' forward).

Every form computes the reference cell's sums with the skipped ops' weights
set to zero (tested in tests/test_nas_rl.py); a node left without inputs
is 0.
"""

from __future__ import annotations

import functools
from typing import Optional

import numpy as np
import tensorflow as tf

from rl_darts.space import cells
from rl_darts.space import darts_networks
from rl_darts.space import naswot
from rl_darts.space import ops as ops_lib

Mask = np.ndarray | tf.Tensor


def logits(supernet: darts_networks.DartsSupernet, images: tf.Tensor,
           probs: dict[str, tf.Tensor], active: dict[str, Mask]
           ) -> tf.Tensor:
  """The supernet's inference logits, each cell type running only the ops
  its mask in `active` keeps."""
  return supernet.run(images, lambda cell, key, states: cell_output(
      cell, states, probs[key], active[key]))


def cell_output(cell: cells.Cell, inputs: list[tf.Tensor], probs: tf.Tensor,
                active: Mask) -> tf.Tensor:
  """A supernet cell's inference output with only the ops `active` keeps:
  node j sums p_o o(state_i) over the kept ops o of its edges (i, j)."""
  states = cell.preprocessed(inputs, training=False)
  for incoming in cell.incoming:
    total = None  # The node's sum so far.
    for source, row, mixed_op in incoming:
      total = _add_edge(total, mixed_op, states[source], probs[row],
                        active[row], cell.zeros(states[source], source))
    states.append(cell.zeros(states[0]) if total is None else total)
  return cell.combine(states)


def _add_edge(total: Optional[tf.Tensor], mixed_op: cells.MixedOp,
              x: tf.Tensor, probs: tf.Tensor, active: Mask, zeros: tf.Tensor
              ) -> Optional[tf.Tensor]:
  """`total` (None: nothing yet) plus one edge's kept ops, weighted."""
  ops = {col: op for col, op in enumerate(mixed_op.ops)
         if not isinstance(op, ops_lib.Zero)}
  if isinstance(active, tf.Tensor) and active.dtype != tf.bool:
    # The edge's switch adds its op to the node's sum in the taken branch:
    # a node's sum of 3+ terms as one AddN is what grappler's memory
    # optimizer rewrites into slower variable updates.
    def branch(op: tf.keras.layers.Layer, col: int) -> tf.Tensor:
      y = _scaled(probs[col], op(x, training=False))
      return y if total is None else total + y
    return naswot.switch(
        active, {col: functools.partial(branch, op, col)
                 for col, op in ops.items()},
        zeros if total is None else total)
  if isinstance(active, tf.Tensor):
    terms = [naswot.cond(active[col], lambda op=op, col=col: probs[col] * op(
        x, training=False), zeros) for col, op in ops.items()]
  else:
    terms = [probs[col] * op(x, training=False)
             for col, op in ops.items() if active[col]]
  terms += [] if total is None else [total]
  return tf.add_n(terms) if terms else None


def _scaled(p: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
  """p * y, without the multiply where p is 1 (every edge of a one-hot
  alpha)."""
  return tf.cond(tf.equal(p, 1.0), lambda: y, lambda: p * y)
