"""Scores aggregated over games with interval estimates, as the RL evaluation
literature now reports them (Agarwal et al. 2021, the `rliable` library): the
interquartile mean (IQM) and the mean of the normalized scores of every run of
every game, each with a 95% stratified-bootstrap confidence interval (runs
resampled within each game), and performance profiles (the fraction of runs
scoring above tau, with bands).

An arm enters with the seeds that have a score in every game it ran, and only
where it ran at least two games: over one game, the per-game table says it
all.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from rl_darts.runtime import recording

BOOTSTRAP_REPS = 2000


def score_matrices(finals: dict[str, dict[str, dict[object, float]]]
                   ) -> dict[str, np.ndarray]:
  """{arm: {game: {seed: score}}} -> {arm: [seeds, games] scores}, for arms
  of at least 2 games, over the seeds present in each of their games."""
  matrices = {}
  for arm, games in finals.items():
    if len(games) < 2:
      continue
    seeds = set.intersection(*(set(s) for s in games.values()))
    if seeds:
      matrices[arm] = np.array([[games[g][s] for g in sorted(games)]
                                for s in sorted(seeds, key=str)], float)
  return matrices


def intervals(matrices: dict[str, np.ndarray], seed: int = 0
              ) -> dict[str, dict[str, tuple[float, float, float]]]:
  """Per arm: {'IQM' | 'mean': (point, low, high)}."""
  from rliable import library  # pylint: disable=g-import-not-at-top
  from rliable import metrics  # pylint: disable=g-import-not-at-top
  aggregate = lambda scores: np.array([metrics.aggregate_iqm(scores),
                                       metrics.aggregate_mean(scores)])
  np.random.seed(seed)  # rliable's bootstrap draws from numpy's global state.
  points, cis = library.get_interval_estimates(matrices, aggregate,
                                               reps=BOOTSTRAP_REPS)
  return {arm: {name: (float(points[arm][i]), float(cis[arm][0, i]),
                       float(cis[arm][1, i]))
                for i, name in enumerate(('IQM', 'mean'))}
          for arm in matrices}


def table(matrices: dict[str, np.ndarray]
          ) -> tuple[list[str], list[list[str]]]:
  """Rows: arms; columns: IQM and mean [95% CI], runs x games."""
  estimates = intervals(matrices)
  cell = lambda v: f'{v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]'
  return (['arm', 'IQM [95% CI]', 'mean [95% CI]', 'runs x games'],
          [[arm, cell(e['IQM']), cell(e['mean']),
            '{} x {}'.format(*matrices[arm].shape)]
           for arm, e in estimates.items()])


def plot_profiles(matrices: dict[str, np.ndarray], png_path: str,
                  taus: Sequence[float] | None = None) -> None:
  """Performance profiles with their 95% bands, one line per arm."""
  from rliable import library  # pylint: disable=g-import-not-at-top
  values = np.concatenate([m.ravel() for m in matrices.values()])
  taus = np.linspace(min(values.min(), 0.0), values.max(), 101) if (
      taus is None) else np.asarray(taus)
  np.random.seed(0)
  profiles, bands = library.create_performance_profile(
      matrices, taus, reps=BOOTSTRAP_REPS)
  fig, ax = recording.pyplot().subplots(figsize=(6, 4))
  for arm in matrices:
    ax.plot(taus, profiles[arm], label=arm)
    ax.fill_between(taus, bands[arm][0], bands[arm][1], alpha=0.2)
  ax.set_xlabel('normalized score tau')
  ax.set_ylabel('fraction of runs with score > tau')
  ax.legend(fontsize='small')
  fig.tight_layout()
  recording.save_figure(fig, png_path)
