"""Resumable training: TF checkpoints of any trackables plus a step counter.

TF writes a checkpoint's files first and then atomically rewrites the
`checkpoint` index, so a crash mid-save leaves the previous one intact; a rerun
resumes from the newest complete checkpoint. A checkpoint is never written
of NaN or infinite weights: `check_finite` stops the run first, naming the
step, the quantity and the last good checkpoint.
"""

from __future__ import annotations

import math
from typing import Mapping, Optional

import numpy as np
import tensorflow as tf


class NonFiniteError(ValueError):
  """A loss, return, alpha or weight of a run became NaN or infinite."""


class Checkpointer:
  """Saves and restores `trackables` (networks, optimizers, ...) with a step."""

  def __init__(self, directory: str, max_to_keep: int = 3,
               unit: str = 'step', **trackables):
    self.step = tf.Variable(0, dtype=tf.int64, name='step')
    self.unit = unit  # What a step counts, for messages.
    self.checkpoint = tf.train.Checkpoint(step=self.step, **trackables)
    self.manager = tf.train.CheckpointManager(self.checkpoint, directory,
                                              max_to_keep)
    # The float variables of networks, agents and optimizers (not counters).
    self.watched = [v for t in trackables.values()
                    if isinstance(t, tf.Module) and not isinstance(t, tf.Variable)
                    for v in t.variables if v.dtype.is_floating]

  def restore(self) -> int:
    """Restores the newest checkpoint, if any; returns its step (0 if none)."""
    if self.manager.latest_checkpoint:
      self.checkpoint.restore(self.manager.latest_checkpoint)
    return int(self.step.numpy())

  def check_finite(self, step: int,
                   metrics: Optional[Mapping[str, object]] = None) -> None:
    """Raises NonFiniteError naming `step`, the first NaN or infinite metric
    or watched variable, and the last good checkpoint."""
    bad = next((f'{name} = {value}' for name, value in (metrics or {}).items()
                if isinstance(value, (float, np.floating))
                and not math.isfinite(value)), None)
    if bad is None and self.watched and not bool(self._all_finite()):
      bad = 'variable ' + next(v.name for v in self.watched
                               if not np.isfinite(v.numpy()).all())
    if bad is not None:
      latest = self.manager.latest_checkpoint
      raise NonFiniteError(
          f'{bad} at {self.unit} {step}: stopped without checkpointing; ' +
          (f'the last good checkpoint is {latest} (a rerun resumes from it)'
           if latest else 'no checkpoint was written yet'))

  @tf.function(autograph=False)
  def _all_finite(self) -> tf.Tensor:
    return tf.reduce_all([tf.reduce_all(tf.math.is_finite(v))
                          for v in self.watched])

  def save(self, step: int) -> str:
    """Checkpoints the trackables at `step` (after check_finite)."""
    self.check_finite(step)
    self.step.assign(step)
    return self.manager.save(checkpoint_number=step)
