"""NASWOT (Mellor et al. 2021): score a network at initialisation by how
differently its ReLUs split a batch of images.

Every ReLU that runs reports its input, flattened per image and binarised
(> 0), to the active `ReluCodes` recorder (the DARTS ops call `relu` below, the
way Mellor et al. hook every nn.ReLU). K = sum over ReLUs of c c^T +
(1 - c)(1 - c)^T, i.e. the number of units minus the Hamming distance, and
the score is log|det K| (slogdet, sign dropped, no normalisation) as in Mellor
et al.'s Eq. 12 and the RL-for-DARTS authors' code. A `ridge` r scores
log det(K + r I) instead (r = 0, the default, is the paper's). The guard:
where K is singular (two images with the same codes, which happens for a few
untrained cells on small images) slogdet gives -inf, which poisons an RL
reward, so such a K scores minus its nullity, -(n - rank K): finite, lower the
more images coincide, and below every non-singular K, whose integer entries
make |det K| >= 1 and so log|det K| >= 0.

Recording works eagerly and inside a `tf.function` (a recorder records the
ReLUs of the mode it was made in); ops run under `cond` count only when
they run.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Optional

import numpy as np
import tensorflow as tf

_ACTIVE: list['ReluCodes'] = []


class ReluCodes:
  """Sums K and counts the ReLUs that run while it is active."""

  def __init__(self):
    self.eager = tf.executing_eagerly()
    self.kernel: Optional[tf.Tensor] = None  # float64 [batch, batch]
    self.num_relus: int | tf.Tensor = 0

  def add(self, x: tf.Tensor) -> None:
    """K += units - Hamming distance = n - |c_i| - |c_j| + 2 c_i . c_j; the
    float32 GEMM is exact (integer sums below 2^24)."""
    codes = tf.cast(tf.reshape(x, [tf.shape(x)[0], -1]) > 0, tf.float32)
    ones = tf.reduce_sum(codes, axis=1)
    units = tf.cast(tf.shape(codes)[1], tf.float32)
    kernel = (units - ones[:, None] - ones[None, :] +
              2.0 * tf.matmul(codes, codes, transpose_b=True))
    self.merge(tf.cast(kernel, tf.float64), 1)

  def merge(self, kernel: tf.Tensor, num_relus: int | tf.Tensor) -> None:
    self.kernel = kernel if self.kernel is None else self.kernel + kernel
    self.num_relus = self.num_relus + num_relus

  def score(self, ridge: float = 0.0) -> float:
    """`score_kernel` of K (0 if no ReLU ran); eager recorders only."""
    return score_kernel(None if self.kernel is None else self.kernel.numpy(),
                        ridge)


def score_kernel(kernel: Optional[np.ndarray], ridge: float = 0.0) -> float:
  """log|det(K + ridge I)| of a recorded K; -(n - rank K) where that matrix
  is singular (only possible at ridge 0); 0 for None."""
  if kernel is None:
    return 0.0
  if ridge < 0:
    raise ValueError(f'NASWOT ridge must be >= 0; got {ridge}')
  sign, logdet = np.linalg.slogdet(kernel + ridge * np.eye(len(kernel)))
  if sign == 0 or not np.isfinite(logdet):
    return float(np.linalg.matrix_rank(kernel) - len(kernel))
  return float(logdet)


def is_recording() -> bool:
  return bool(_ACTIVE)


def relu(x: tf.Tensor) -> tf.Tensor:
  """tf.nn.relu that reports its input to the active recorder, if any."""
  if _ACTIVE and _ACTIVE[-1].eager == tf.executing_eagerly():
    _ACTIVE[-1].add(x)
  return tf.nn.relu(x)


@contextlib.contextmanager
def recording() -> Iterator[ReluCodes]:
  """Records the ReLUs run inside the block."""
  codes = ReluCodes()
  _ACTIVE.append(codes)
  try:
    yield codes
  finally:
    _ACTIVE.remove(codes)


def cond(pred: tf.Tensor, fn: Callable[[], tf.Tensor], zeros: tf.Tensor
         ) -> tf.Tensor:
  """fn() where `pred`, else `zeros` (fn's shape), running fn only when
  taken (in a `tf.function`); its ReLUs count for the active recorder only
  then."""
  return _guarded(lambda fns, default: tf.cond(pred, fns[0], default), [fn],
                  zeros)


def switch(index: tf.Tensor, fns: dict[int, Callable[[], tf.Tensor]],
           default: tf.Tensor) -> tf.Tensor:
  """fns[index]() (`default`, fns' shape, for any other index), running only
  that branch (in a `tf.function`), recorded like `cond`."""
  branches = [fns.get(i, lambda: default) for i in range(max(fns) + 1)]
  return _guarded(lambda fns, other: tf.switch_case(index, fns, other),
                  branches, default)


def _guarded(control, fns: list[Callable[[], tf.Tensor]], default: tf.Tensor
             ) -> tf.Tensor:
  """control(branches, otherwise) over `fns`, `default` otherwise; inside a
  graph recorder, each branch also returns its ReLUs' K and count, which
  the recorder adds once the branch ran."""
  if not (_ACTIVE and not _ACTIVE[-1].eager):
    return control(fns, lambda: default)
  batch = tf.shape(default)[0]
  nothing = lambda: (default, tf.zeros([batch, batch], tf.float64), 0)

  def recorded(fn):
    def taken():
      with recording() as inner:
        y = fn()
      if inner.kernel is None:
        return y, tf.zeros([batch, batch], tf.float64), 0
      return y, inner.kernel, inner.num_relus
    return taken

  y, kernel, num_relus = control([recorded(fn) for fn in fns], nothing)
  _ACTIVE[-1].merge(kernel, num_relus)
  return y


def score(model, images: tf.Tensor, ridge: float = 0.0, **kwargs) -> float:
  """NASWOT of `model(images, training=False, **kwargs)`."""
  with recording() as codes:
    model(images, training=False, **kwargs)
  return codes.score(ridge)
