"""The supernet's fused elementwise mixing: one compiled CPU kernel.

A supernet edge weights every op's output by its probability, and the node
sums them. For the elementwise ops (ReLU, Tanh, Skip) TF runs one kernel per
op, multiply and add, each a full pass over memory; on a CPU that, not the
arithmetic, bounds the Micro space. `mix` does it in one pass, forward and
backward (`kernels/mix_elementwise.cc`, built by `make setup` with the TF
headers of the venv). Identical math, in another summation order.

Cells use it where `available()`: the library loaded and no GPU is visible
(the kernel has no GPU version). A library that is missing or fails to load
(built for another TF), or was built for instruction sets this CPU lacks
(`missing_isa`: it would die of SIGILL), leaves the TF ops, with a warning
that says so.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterable, Iterator, Optional, Sequence

from absl import logging
import tensorflow as tf

KERNELS = ('relu', 'tanh', 'identity')
LIBRARY = os.path.join(os.path.dirname(__file__), 'kernels',
                       '_mix_elementwise.so')
ISA = LIBRARY + '.isa'  # The compiler's macros of the build's -march.
_ENABLED = [True]
# Instruction-set macros the compiler defines, as /proc/cpuinfo names them.
ISA_FAMILIES = ('AVX', 'SSE', 'SSSE', 'FMA', 'BMI', 'F16C', 'POPCNT')
_CPUINFO_NAMES = {'sse3': 'pni', 'bmi': 'bmi1'}


def missing_isa(built_for: Iterable[str], cpu_flags: Iterable[str]
                ) -> list[str]:
  """The instruction sets among compiler macros `built_for` (e.g. AVX512F,
  SSE4_1) that a CPU with /proc/cpuinfo `cpu_flags` lacks."""
  have = {flag.replace('_', '').lower() for flag in cpu_flags}
  missing = []
  for macro in built_for:
    if not macro.startswith(ISA_FAMILIES) or macro.endswith('_MATH'):
      continue
    name = macro.replace('_', '').lower()
    if _CPUINFO_NAMES.get(name, name) not in have:
      missing.append(macro)
  return sorted(missing)


def _cpu_flags() -> Optional[list[str]]:
  """This CPU's flags from /proc/cpuinfo (None where there is none)."""
  try:
    with open('/proc/cpuinfo') as f:
      for line in f:
        if line.startswith('flags'):
          return line.split(':', 1)[1].split()
  except OSError:
    pass
  return None


def _load():
  problem = 'is missing'
  if os.path.exists(LIBRARY):
    flags = _cpu_flags()
    missing = []
    if flags is not None and os.path.exists(ISA):
      with open(ISA) as f:
        missing = missing_isa(f.read().split(), flags)
    if missing:
      problem = (f'was built for instruction sets this CPU lacks '
                 f'({", ".join(missing)})')
    else:
      try:
        return tf.load_op_library(LIBRARY)
      except tf.errors.NotFoundError as error:
        problem = f'does not load ({error})'
  logging.warning('%s %s; rebuild it with `make setup` (delete it first; '
                  '`make KERNEL_ARCH=x86-64-v2 setup` builds one for every '
                  'x86-64 host of a cluster). Until then supernet cells mix '
                  'their elementwise ops with TF ops, more slowly.', LIBRARY,
                  problem)
  return None


_LIBRARY = _load()


def available() -> bool:
  """Whether cells called (or traced) now use the fused kernel."""
  return (_ENABLED[-1] and _LIBRARY is not None and
          not tf.config.get_visible_devices('GPU'))


@contextlib.contextmanager
def disabled() -> Iterator[None]:
  """Cells called (or traced) inside run the TF ops, e.g. to count their
  FLOPs."""
  _ENABLED.append(False)
  try:
    yield
  finally:
    _ENABLED.pop()


def mix(x: tf.Tensor, base: tf.Tensor, weights: tf.Tensor,
        fns: Sequence[str], pending: Sequence[tf.Tensor] = ()
        ) -> list[tf.Tensor]:
  """ys[j] = base[..., j C:(j + 1) C] (+ pending[j]) + sum_i weights[i, j]
  fns[i](x) for the K = weights.shape[1] nodes, with C = x's channels and fns
  in `KERNELS`; `pending`: none or K tensors shaped like x (the nodes' sums so
  far, added in the same pass)."""
  unknown = sorted(set(fns) - set(KERNELS))
  if unknown:
    raise ValueError(f'no fused kernel for {unknown}; allowed: {KERNELS}')
  return _LIBRARY.mix_elementwise(x, base, weights, list(pending),
                                  fns=list(fns),
                                  num_outputs=int(weights.shape[1]))


@tf.RegisterGradient('MixElementwise')
def _mix_gradient(op: tf.Operation, *dys: tf.Tensor):
  x, _, weights = op.inputs[:3]
  dys = [tf.zeros_like(x) if dy is None else dy for dy in dys]
  d_pending = dys if op.get_attr('num_pending') else []
  return [*_LIBRARY.mix_elementwise_grad(x, weights, dys,
                                         fns=op.get_attr('fns')), *d_pending]
