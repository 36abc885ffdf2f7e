"""Jacobian covariance (Mellor et al. 2020, the first version of "Neural
Architecture Search without Training"; RL-DARTS paper App. A.2): score an
untrained network by how uncorrelated its input Jacobians are over a batch.

J_i = d sum(f(x_i)) / d x_i, flattened per frame; C = their correlation
matrix; score = -sum_i [log(s_i + k) + 1 / (s_i + k)] over C's eigenvalues
s_i, k = 1e-5. The RL-DARTS paper found it not predictive of RL returns;
`study` ranks a random search's cells by it against their trained returns.

A frame whose Jacobian is constant (every feature dead on it at
initialisation, which happens at tiny widths) has no defined correlation:
the score is then NaN, as in Mellor et al.'s and NASLib's code, and `study`
leaves the cell out of the rank correlation and says so.
"""

from __future__ import annotations

import json
import os
from typing import Sequence

import numpy as np
import tensorflow as tf

from rl_darts.experiments import cell_studies
from rl_darts.runtime import io_utils
from rl_darts.runtime import recording
from rl_darts.space import genotypes
from rl_darts.space import networks

K = 1e-5


def score(network, frames: np.ndarray, k: float = K) -> float:
  """The score of `network` (images -> features) on a batch of frames."""
  x = networks.scale_images(tf.constant(frames))
  with tf.GradientTape() as tape:
    tape.watch(x)
    total = tf.reduce_sum(network(x))
  jacobians = tape.gradient(total, x).numpy().reshape(len(frames), -1)
  if np.any(np.ptp(jacobians, axis=1) == 0):
    return float('nan')
  correlation = np.corrcoef(jacobians)
  eigenvalues = np.linalg.eigvalsh(correlation)
  return float(-np.sum(np.log(eigenvalues + k) + 1.0 / (eigenvalues + k)))


def mean_score(network, batches: Sequence[np.ndarray]) -> float:
  """The mean score over mini-batches of frames (App. A.2 averages over
  mini-batches), over the batches with a finite score; NaN if none has."""
  scores = [score(network, frames) for frames in batches]
  finite = [s for s in scores if np.isfinite(s)]
  return float(np.mean(finite)) if finite else float('nan')


def study(search_dir: str, batches: Sequence[np.ndarray],
          depths: Sequence[int], out_dir: str | None = None) -> dict:
  """Scores every cell of a finished random search (built at `depths`,
  initialised from TF's seed; the mean over `batches` of frames) against
  its final return; writes jacob_cov.csv and jacob_cov.png to `out_dir`
  (default: the search's); returns the Spearman rank correlation over the
  cells with a return and a finite score, and the rows."""
  from scipy import stats  # pylint: disable=g-import-not-at-top
  with open(os.path.join(search_dir, 'summary.json')) as f:
    summary = json.load(f)
  rows = []
  for cell in summary['cells']:
    genotype = genotypes.Genotype.load(
        cell_studies.cell_path(search_dir, cell['cell']))
    network = networks.DiscreteNetwork(genotype, depths=list(depths))
    rows.append({'cell': cell['cell'], 'score': mean_score(network, batches),
                 'final_return': cell['final_return']})
  scored = [r for r in rows
            if r['final_return'] is not None and np.isfinite(r['score'])]
  rho, p_value = (stats.spearmanr([r['score'] for r in scored],
                                  [r['final_return'] for r in scored])
                  if len(scored) > 2 else (float('nan'), float('nan')))
  out_dir = out_dir or search_dir
  os.makedirs(out_dir, exist_ok=True)
  io_utils.atomic_write_csv(os.path.join(out_dir, 'jacob_cov.csv'),
                            ['cell', 'score', 'final_return'], rows)
  _plot(scored, float(rho), os.path.join(out_dir, 'jacob_cov.png'))
  return {'spearman_rho': float(rho), 'p_value': float(p_value),
          'rows': rows, 'ranked': len(scored)}


def _plot(rows: list[dict], rho: float, png_path: str) -> None:
  plt = recording.pyplot()
  fig, ax = plt.subplots(figsize=(5, 3.2))
  ax.scatter([r['score'] for r in rows], [r['final_return'] for r in rows])
  ax.set_xlabel('Jacobian covariance score (untrained)')
  ax.set_ylabel('final return (trained)')
  ax.set_title(f'Spearman rank correlation {rho:.2f}', fontsize=10)
  fig.tight_layout()
  recording.save_figure(fig, png_path)
