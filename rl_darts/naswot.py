"""NASWOT (Mellor et al. 2021): score a network at initialisation by how
differently its ReLUs split a batch of images.

Every ReLU that runs reports its input, flattened per image and binarised
(> 0), to the active `ReluCodes` recorder (the DARTS ops call `relu` below, the
way Mellor et al. hook every nn.ReLU). K = sum over ReLUs of c c^T +
(1 - c)(1 - c)^T, i.e. the number of units minus the Hamming distance, and
the score is log|det K| (slogdet, sign dropped, no normalisation) as in Mellor
et al.'s and the RL-for-DARTS authors' code, with one difference: where K is
singular (two images with the same codes, which happens for a few untrained
cells on small images) their slogdet gives -inf, which poisons an RL reward;
here the score is log det(K + I). K's entries count ReLU units (thousands),
so for a non-singular K the ridge moves the score by about sum(1/eigenvalue),
and a singular K scores finitely, below every K that separates the images.
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import numpy as np
import tensorflow as tf

_ACTIVE: list['ReluCodes'] = []


class ReluCodes:
  """Accumulates K over the ReLUs that run while it is active (eager only)."""

  def __init__(self):
    self.kernel: Optional[np.ndarray] = None
    self.num_relus = 0

  def add(self, x: tf.Tensor) -> None:
    codes = tf.cast(tf.reshape(x, [tf.shape(x)[0], -1]) > 0, tf.float64)
    kernel = (tf.matmul(codes, codes, transpose_b=True) +
              tf.matmul(1.0 - codes, 1.0 - codes, transpose_b=True)).numpy()
    self.kernel = kernel if self.kernel is None else self.kernel + kernel
    self.num_relus += 1

  def score(self) -> float:
    """log|det K| where K is non-singular, log det(K + I) always (0 if no
    ReLU ran)."""
    if self.kernel is None:
      return 0.0
    return float(np.linalg.slogdet(self.kernel + np.eye(len(self.kernel)))[1])


def is_recording() -> bool:
  return bool(_ACTIVE)


def relu(x: tf.Tensor) -> tf.Tensor:
  """tf.nn.relu that reports its input to the active recorder, if any."""
  if _ACTIVE and tf.executing_eagerly():
    _ACTIVE[-1].add(x)
  return tf.nn.relu(x)


@contextlib.contextmanager
def recording() -> Iterator[ReluCodes]:
  """Records the ReLUs run inside the block (eager execution)."""
  codes = ReluCodes()
  _ACTIVE.append(codes)
  try:
    yield codes
  finally:
    _ACTIVE.remove(codes)


def score(model, images: tf.Tensor, **kwargs) -> float:
  """NASWOT of `model(images, training=False, **kwargs)`."""
  with recording() as codes:
    model(images, training=False, **kwargs)
  return codes.score()
