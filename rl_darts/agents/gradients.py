"""Exact gradient accumulation over chunks of a batch, one chunk at a time.

Shared by PPO's and Rainbow's learners (`PPOSettings.gradient_chunks`,
`RainbowSettings.gradient_chunks`).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import tensorflow as tf

Gradients = list[Optional[tf.Tensor]]


def accumulate(inputs: Any, num_chunks: int,
               chunk_gradients: Callable[[Any], tuple[Gradients, Any]]
               ) -> tuple[Gradients, list[Any]]:
  """The sum over the `num_chunks` chunks of `inputs` (a nest of tensors
  split along axis 0) of `chunk_gradients(chunk)`'s gradients (None where
  no chunk has one), and each chunk's other output.

  A chunk's inputs wait for the previous chunk's gradients (one gate per
  chunk): a traced graph would otherwise run the independent chunks at once
  and hold all their activations, the memory accumulation is meant to save."""
  parts = [tf.split(t, num_chunks) for t in tf.nest.flatten(inputs)]
  total, others, gate = None, [], None
  for i in range(num_chunks):
    with tf.control_dependencies([] if gate is None else [gate]):
      chunk = tf.nest.pack_sequence_as(
          inputs, [tf.identity(part[i]) for part in parts])
    gradients, other = chunk_gradients(chunk)
    gate = tf.group([g for g in gradients if g is not None])
    total = gradients if total is None else [
        g if t is None else t if g is None else t + g
        for t, g in zip(total, gradients)]
    others.append(other)
  return total, others
