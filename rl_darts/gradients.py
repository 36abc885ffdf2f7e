"""Exact gradient accumulation over chunks of a batch, one chunk at a time.

Shared by PPO's and Rainbow's learners (`PPOSettings.gradient_chunks`,
`RainbowSettings.gradient_chunks`).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import tensorflow as tf

Gradients = list[Optional[tf.Tensor]]


def accumulate(num_chunks: int,
               chunk_gradients: Callable[[int], tuple[Gradients, Any]]
               ) -> tuple[Gradients, list[Any]]:
  """The sum over i < num_chunks of `chunk_gradients(i)`'s gradients (None
  where no chunk has one), and each chunk's other output.

  Every op of chunk i waits for chunk i - 1's gradients: a traced graph
  would otherwise run the independent chunks at once and hold all their
  activations, the memory accumulation is meant to save."""
  total, others, previous = None, [], []
  for i in range(num_chunks):
    with tf.control_dependencies(previous):
      gradients, other = chunk_gradients(i)
    previous = [g for g in gradients if g is not None]
    total = gradients if total is None else [
        g if t is None else t if g is None else t + g
        for t, g in zip(total, gradients)]
    others.append(other)
  return total, others
