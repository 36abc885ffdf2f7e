"""Intervals and seed counts for claims about run outcomes over seeds.

`interval`: the mean of per-seed values with its two-sided t confidence
interval. `seeds_needed`: the seeds per arm a two-sided two-sample t-test at
level `alpha` needs to detect a true gap `gap` between two arms' means with
probability `power`, given the per-seed standard deviation `std` (the same in
both arms): the smallest n whose power, from the noncentral t distribution
with 2n - 2 degrees of freedom and noncentrality gap / (std sqrt(2 / n)),
reaches `power`. Against a known constant (chance), the one-sample form.
`compare`: two arms' gap with its Welch interval, their pooled standard
deviation and the seeds each claim about them needs.
`adam_steps_to_concentrate`: the fewest Adam steps after which one op of an
edge can hold a given share of p = softmax(T alpha), from alpha at zeros.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Optional, Sequence

import numpy as np
from scipy import stats

MOST_SEEDS = 10_000  # `seeds_needed` gives up past this many per arm.


def sample_std(values: Sequence[float]) -> float:
  """The sample standard deviation (ddof 1); 0 for fewer than two values."""
  return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def interval(values: Sequence[float], confidence: float = 0.95
             ) -> tuple[float, float, float]:
  """(mean, low, high): the t interval of the mean (a point with one value)."""
  values = np.asarray(values, np.float64)
  mean = float(values.mean())
  if len(values) < 2:
    return mean, mean, mean
  half = float(stats.t.ppf(0.5 + confidence / 2, len(values) - 1) *
               sample_std(values) / math.sqrt(len(values)))
  return mean, mean - half, mean + half


def seeds_needed(std: float, gap: float, alpha: float = 0.05,
                 power: float = 0.8, two_arms: bool = True,
                 most: int = MOST_SEEDS) -> int:
  """Seeds per arm to detect `gap` (see the module docstring); `most` + 1
  if even `most` do not suffice."""
  if gap <= 0 or std < 0:
    raise ValueError(f'seeds_needed needs gap > 0 and std >= 0; got gap='
                     f'{gap}, std={std}')
  if std == 0:
    return 2
  for n in range(2, most + 1):
    df = 2 * n - 2 if two_arms else n - 1
    scale = std * math.sqrt((2 if two_arms else 1) / n)
    critical = stats.t.ppf(1 - alpha / 2, df)
    with np.errstate(divide='ignore'):  # SciPy's far tail, which is 0.
      reached = (stats.nct.sf(critical, df, gap / scale) +
                 stats.nct.cdf(-critical, df, gap / scale))
    if reached >= power:
      return n
  return most + 1


def pooled_std(first: Sequence[float], second: Sequence[float]
               ) -> Optional[float]:
  """The two samples' pooled sample std (each about its own mean); None
  with fewer than 3 values in all."""
  sizes = len(first), len(second)
  if sum(sizes) < 3:
    return None
  squares = sum(float(np.sum((np.asarray(v, np.float64) - np.mean(v)) ** 2))
                for v in (first, second) if len(v))
  return math.sqrt(squares / (sum(sizes) - 2))


def gap_interval(first: Sequence[float], second: Sequence[float],
                 confidence: float = 0.95
                 ) -> tuple[float, Optional[float], Optional[float]]:
  """(gap, low, high): mean(first) - mean(second) with its two-sided Welch t
  interval; no bounds unless both have 2 values or more."""
  gap = float(np.mean(first) - np.mean(second))
  if min(len(first), len(second)) < 2:
    return gap, None, None
  parts = [np.var(v, ddof=1) / len(v) for v in (first, second)]
  scale = math.sqrt(sum(parts))
  if scale == 0:
    return gap, gap, gap
  df = sum(parts) ** 2 / sum(p ** 2 / (len(v) - 1)
                             for p, v in zip(parts, (first, second)))
  half = float(stats.t.ppf(0.5 + confidence / 2, df) * scale)
  return gap, gap - half, gap + half


@dataclasses.dataclass(frozen=True)
class Comparison:
  """Two arms' per-seed scores compared (`compare`)."""
  gap: float
  low: Optional[float]
  high: Optional[float]
  std: Optional[float]
  seeds_for_gap: Optional[int]  # Per arm, to detect |gap| itself.
  seeds_for_target: Optional[int]  # Per arm, to detect `target`.


def compare(first: Sequence[float], second: Sequence[float], target: float
            ) -> Comparison:
  """The gap between two arms with its Welch interval, their pooled std,
  and the seeds per arm (`seeds_needed`, that std in both) to detect the
  measured gap and a gap of `target`; None where the std is unknown."""
  gap, low, high = gap_interval(first, second)
  std = pooled_std(first, second)
  needed = lambda g: None if std is None or g == 0 else seeds_needed(std, g)
  return Comparison(gap, low, high, std, needed(abs(gap)), needed(target))


def adam_steps_to_concentrate(share: float, num_ops: int, temperature: float,
                              learning_rate: float) -> float:
  """Adam moves a parameter by about `learning_rate` per step at most (its
  step is lr * m / sqrt(v), at most about 1 in size under consistent
  gradients; Kingma and Ba 2015, Sec. 2.1). From alpha at zeros, one op's p
  reaches `share` when its logit leads the others' by
  log(share (num_ops - 1) / (1 - share)) / T: this many steps, at the
  fastest (raising one logit alone; lowering the others too halves it at
  best)."""
  if not 1 / num_ops < share < 1:
    raise ValueError(f'share must lie in (1/{num_ops}, 1); got {share}')
  lead = math.log(share * (num_ops - 1) / (1 - share)) / temperature
  return lead / learning_rate
