"""Resumable training: TF checkpoints of any trackables plus a step counter.

TF writes a checkpoint's files first and then atomically rewrites the
`checkpoint` index, so a crash mid-save leaves the previous one intact; a rerun
resumes from the newest complete checkpoint.
"""

from __future__ import annotations

import tensorflow as tf


class Checkpointer:
  """Saves and restores `trackables` (networks, optimizers, ...) with a step."""

  def __init__(self, directory: str, max_to_keep: int = 3, **trackables):
    self.step = tf.Variable(0, dtype=tf.int64, name='step')
    self.checkpoint = tf.train.Checkpoint(step=self.step, **trackables)
    self.manager = tf.train.CheckpointManager(self.checkpoint, directory,
                                              max_to_keep)

  def restore(self) -> int:
    """Restores the newest checkpoint, if any; returns its step (0 if none)."""
    if self.manager.latest_checkpoint:
      self.checkpoint.restore(self.manager.latest_checkpoint)
    return int(self.step.numpy())

  def save(self, step: int) -> str:
    self.step.assign(step)
    return self.manager.save(checkpoint_number=step)
