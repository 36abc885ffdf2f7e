"""Exact gradient accumulation over chunks of a batch, one chunk at a time.

Shared by PPO's, Rainbow's and SAC's learners (`PPOSettings.gradient_chunks`,
`RainbowSettings.gradient_chunks`, `SACSettings.gradient_chunks`).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import tensorflow as tf

Gradients = list[Optional[tf.Tensor]]


def accumulate(inputs: Any, num_chunks: int,
               chunk_gradients: Callable[[Any], tuple[Gradients, Any]]
               ) -> tuple[Gradients, Any]:
  """The sum over the `num_chunks` chunks of `inputs` (a nest of tensors
  split along axis 0) of `chunk_gradients(chunk)`'s gradients (None where
  it gives none), and its other output (a nest of tensors) per chunk,
  stacked on a new leading axis.

  The first chunk runs alone, the others in a `tf.while_loop` of one
  iteration at a time that starts from the first chunk's gradients, each
  chunk's inputs waiting for the gradients before it: chunks never run at
  once (each would hold its activations), and a traced step holds two
  copies of the chunk's graph whatever the chunk count."""
  def split(t: tf.Tensor) -> tf.Tensor:  # [num_chunks, chunk, ...].
    parts = tf.reshape(t, tf.concat([[num_chunks, -1], tf.shape(t)[1:]], 0))
    size = t.shape[0]
    parts.set_shape([num_chunks, size and size // num_chunks, *t.shape[1:]])
    return parts

  parts = [split(t) for t in tf.nest.flatten(inputs)]

  def chunk(i):
    return tf.nest.pack_sequence_as(inputs, [part[i] for part in parts])

  first, other = chunk_gradients(chunk(0))
  present = [g is not None for g in first]
  outputs = tf.nest.flatten(other)
  arrays = [tf.TensorArray(t.dtype, size=num_chunks, element_shape=t.shape)
            .write(0, t) for t in outputs]

  def body(i, totals, arrays):
    # Only the sum needs `totals`: without this the executor may start the
    # chunk as soon as `i` is known, beside the chunk before it (the first
    # one, outside the loop), each holding its activations.
    with tf.control_dependencies(totals):
      inputs_i = chunk(i)
    gradients, other = chunk_gradients(inputs_i)
    gradients = [tf.convert_to_tensor(g) for g in gradients if g is not None]
    return (i + 1, [t + g for t, g in zip(totals, gradients)],
            [a.write(i, o) for a, o in zip(arrays, tf.nest.flatten(other))])

  _, totals, arrays = tf.while_loop(
      lambda i, *_: i < num_chunks, body,
      (tf.constant(1), [tf.convert_to_tensor(g) for g in first if g is not None],
       arrays), parallel_iterations=1)
  totals = iter(totals)
  return ([next(totals) if p else None for p in present],
          tf.nest.pack_sequence_as(other, [a.stack() for a in arrays]))


class ChunkedAgent:
  """Mixin for a TF-Agents agent whose batch trains as `gradient_chunks`
  chunks: `_chunked_train` (the subclass's) for more than one, the agent's
  own `_train` for one."""

  def __init__(self, *args, gradient_chunks: int = 1, **kwargs):
    super().__init__(*args, **kwargs)
    if gradient_chunks < 1:
      raise ValueError(f'gradient_chunks must be >= 1; got {gradient_chunks}')
    self.gradient_chunks = gradient_chunks

  def _train(self, experience, weights):
    if self.gradient_chunks == 1:
      return super()._train(experience, weights)
    return self._chunked_train(experience, weights)

  def _chunked_train(self, experience, weights):
    raise NotImplementedError
