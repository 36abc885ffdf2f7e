"""What a search writes: CSV metrics, TensorBoard, alpha over time, the distinct
discretized genotypes met along the way, cell diagrams and a progress line."""

from __future__ import annotations

import csv
import io
import os
import sys
import time
from typing import Mapping, Optional, TextIO

import numpy as np
import tensorflow as tf

from rl_darts.runtime import io_utils
from rl_darts.space import diagrams
from rl_darts.space import genotypes
from rl_darts.space import networks


class CsvLog:
  """A CSV file of rows keyed by a 'step' column, one flush per row.

  On resume from `resume_step` it keeps the rows up to that step (those after
  it belong to the work a crash lost) and continues the file; from step 0 (a
  start before any checkpoint) it keeps none, so a run killed before its
  first checkpoint does not log its start twice. A file with
  the first of `columns` (a run begun before columns were added) gains the
  others, empty in its old rows.
  """

  def __init__(self, path: str, columns: list[str], resume_step: int = 0):
    self.path, self.columns = path, list(columns)
    kept = []
    if os.path.exists(path) and os.path.getsize(path):
      with open(path, newline='') as f:
        rows = list(csv.reader(f))
      if rows[0] != self.columns[:len(rows[0])]:
        raise ValueError(f'{path} has columns {rows[0]}, expected '
                         f'{self.columns}: use a new --root_dir')
      padding = [''] * (len(self.columns) - len(rows[0]))
      kept = [r + padding for r in rows[1:]
              if r and resume_step and int(r[0]) <= resume_step]
    lines = io.StringIO()
    csv.writer(lines).writerows([self.columns] + kept)
    io_utils.atomic_write_text(path, lines.getvalue())
    self._file = open(path, 'a', newline='')  # pylint: disable=consider-using-with
    self._writer = csv.writer(self._file)

  def write(self, row: Mapping[str, object]) -> None:
    self._writer.writerow([row.get(c, '') for c in self.columns])
    self._file.flush()

  def close(self) -> None:
    self._file.close()


def alpha_columns(supernet: networks.Supernet) -> list[str]:
  """'cell type:source->node:op' per alpha entry; nodes numbered as states."""
  columns = []
  for cell_type, alpha in supernet.alpha.items():
    op_names = supernet.space.ops(cell_type)
    for source, node in genotypes.cell_edges(1, supernet.num_nodes):
      columns += [f'{cell_type}:{source}->{node + 1}:{op}' for op in op_names]
  assert len(columns) == sum(int(np.prod(a.shape))
                             for a in supernet.alpha.values())
  return columns


def alpha_statistics(probabilities: Mapping[str, np.ndarray]
                     ) -> dict[str, float]:
  """Per cell type and edge: the entropy of p over the ops, divided by
  log(ops) (1: uniform, 0: one op), and the top-1 margin (largest p minus
  the second); and their means per cell type ('entropy/normal')."""
  stats = {}
  for cell_type, p in probabilities.items():
    p = np.asarray(p, np.float64)
    entropy = -np.sum(p * np.log(np.clip(p, 1e-12, None)), -1) / np.log(
        p.shape[-1])
    ranked = np.sort(p, -1)
    margin = ranked[:, -1] - ranked[:, -2]
    for e in range(len(p)):
      stats[f'entropy/{cell_type}:e{e}'] = float(entropy[e])
      stats[f'margin/{cell_type}:e{e}'] = float(margin[e])
    stats[f'entropy/{cell_type}'] = float(entropy.mean())
    stats[f'margin/{cell_type}'] = float(margin.mean())
  return stats


def hamming(a: genotypes.Genotype, b: genotypes.Genotype) -> int:
  """How many (op, input) edges of two cells of one shape differ."""
  return sum(x != y for cell_type in ('normal', 'reduce')
             if getattr(a, cell_type) is not None
             for node_a, node_b in zip(a.nodes(cell_type), b.nodes(cell_type))
             for x, y in zip(node_a, node_b))


class AlphaRecorder:
  """Records a supernet's softmax(T * alpha) and its discretizations.

  Writes under `root_dir`: alpha.csv (a row per record), TensorBoard scalars
  'alpha/<column>', alpha_stats.csv (per-edge entropy and top-1 margin, their
  means, and the Hamming distance from the previous record's discretized
  cell; means and distance also to TensorBoard, and alpha_stats.png on
  `finish`), genotypes/step_<step>.json for every distinct genotype met
  (paper Fig. 5, 6: the cell evolution), genotype.json (the cell discretized
  at the first record at or after `discretize_at`, or at the end of a shorter
  run) and, on `finish`, genotype_final.json when `discretize_at` is set, the
  diagrams of genotype.json's cell and alpha.png.
  """

  def __init__(self, root_dir: str, supernet: networks.Supernet,
               summary_writer: Optional[tf.summary.SummaryWriter] = None,
               resume_step: int = 0, discretize_at: Optional[int] = None):
    self.root_dir, self.supernet = root_dir, supernet
    self.summary_writer = summary_writer
    self.discretize_at = discretize_at
    self.genotype_path = os.path.join(root_dir, 'genotype.json')
    # Resumed before discretize_at: a genotype.json there is rewritten.
    self.discretized = (discretize_at is not None
                        and resume_step >= discretize_at)
    self.columns = alpha_columns(supernet)
    self.log = CsvLog(os.path.join(root_dir, 'alpha.csv'),
                      ['step'] + self.columns, resume_step)
    self.stats_log = CsvLog(
        os.path.join(root_dir, 'alpha_stats.csv'),
        ['step', 'hamming'] + list(alpha_statistics(
            supernet.probabilities())), resume_step)
    self.previous: Optional[genotypes.Genotype] = None  # Unknown on resume.
    self.genotype_dir = os.path.join(root_dir, 'genotypes')
    os.makedirs(self.genotype_dir, exist_ok=True)
    self.seen = set()
    for name in sorted(os.listdir(self.genotype_dir)):
      if not (name.startswith('step_') and name.endswith('.json')):
        continue
      path = os.path.join(self.genotype_dir, name)
      if int(name[len('step_'):-len('.json')]) > resume_step:
        os.remove(path)  # Met after the checkpoint: met again, or not.
      else:
        self.seen.add(genotypes.Genotype.load(path))

  def record(self, step: int) -> Optional[genotypes.Genotype]:
    """Logs alpha at `step`; returns the genotype if it was not seen before."""
    values = np.concatenate([p.ravel() for p in
                             self.supernet.probabilities().values()])
    self.log.write({'step': step, **dict(zip(self.columns, values))})
    if self.summary_writer is not None:
      with self.summary_writer.as_default(step=step):
        for column, value in zip(self.columns, values):
          tf.summary.scalar(f'alpha/{column}', value)
    genotype = self.supernet.genotype()
    stats = alpha_statistics(self.supernet.probabilities())
    if self.previous is not None:
      stats['hamming'] = hamming(self.previous, genotype)
    self.previous = genotype
    self.stats_log.write({'step': step, **stats})
    if self.summary_writer is not None:
      with self.summary_writer.as_default(step=step):
        for name, value in stats.items():
          if ':' not in name:  # Means and the distance; edges in the CSV.
            tf.summary.scalar(f'alpha_stats/{name}', value)
    if (self.discretize_at is not None and step >= self.discretize_at
        and not self.discretized):
      genotype.save(self.genotype_path)
      self.discretized = True
      print(f'Discretized at {step} steps (discretize_at '
            f'{self.discretize_at:,}): {self.genotype_path}', flush=True)
    if genotype in self.seen:
      return None
    self.seen.add(genotype)
    genotype.save(os.path.join(self.genotype_dir, f'step_{step:012d}.json'))
    return genotype

  def finish(self) -> genotypes.Genotype:
    """Writes the final genotype (genotype_final.json if genotype.json was
    discretized earlier), the diagrams of genotype.json's cell and the alpha
    plot; returns genotype.json's cell."""
    self.log.close()
    self.stats_log.close()
    plot_alpha_stats(self.stats_log.path,
                     os.path.join(self.root_dir, 'alpha_stats.png'))
    final = self.supernet.genotype()
    if self.discretize_at is not None:
      final.save(os.path.join(self.root_dir, 'genotype_final.json'))
    if not self.discretized or not os.path.exists(self.genotype_path):
      final.save(self.genotype_path)  # No discretize_at, or not reached.
    genotype = genotypes.Genotype.load(self.genotype_path)
    diagrams.draw_genotype(genotype, self.root_dir)
    diagrams.draw_supernet(self.supernet.probabilities(), self.supernet.space,
                           self.root_dir)
    plot_alpha(self.log.path, os.path.join(self.root_dir, 'alpha.png'))
    return genotype


def pyplot():
  """matplotlib.pyplot on the file-only Agg backend."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def save_figure(fig, png_path: str) -> None:
  """Writes `fig` to png_path atomically (a reader never sees half a PNG)
  and closes it."""
  tmp = png_path + '.tmp.png'
  fig.savefig(tmp, dpi=80)
  pyplot().close(fig)
  os.replace(tmp, png_path)


def plot_alpha(csv_path: str, png_path: str) -> None:
  """One panel per (cell type, edge), a line per op: p over training steps.

  All panels share one y-range fitted to the data, so that the small moves of
  an early search are visible and panels still compare at a glance.
  """
  plt = pyplot()

  with open(csv_path, newline='') as f:
    rows = list(csv.reader(f))
  header, data = rows[0], np.array(rows[1:], dtype=np.float64).reshape(
      -1, len(rows[0]))
  panels: dict[str, list[int]] = {}
  for i, column in enumerate(header[1:], start=1):
    panels.setdefault(column.rsplit(':', 1)[0], []).append(i)
  cols = 4
  rows_n = -(-len(panels) // cols)
  fig, axes = plt.subplots(rows_n, cols, figsize=(4 * cols, 2.6 * rows_n),
                           squeeze=False, sharex=True)
  low, high = data[:, 1:].min(), data[:, 1:].max()
  pad = max(0.01, 0.1 * (high - low))
  legend_done = set()
  for ax, (panel, indices) in zip(axes.ravel(), panels.items()):
    for i in indices:
      ax.plot(data[:, 0], data[:, i], label=header[i].rsplit(':', 1)[1])
    ax.set_title(panel, fontsize=9)
    ax.set_ylim(max(0.0, low - pad), min(1.0, high + pad))
    cell_type = panel.split(':')[0]
    if cell_type not in legend_done:  # One legend per cell type's op list.
      ax.legend(fontsize=7, loc='upper left')
      legend_done.add(cell_type)
  for ax in axes.ravel()[len(panels):]:
    ax.axis('off')
  fig.suptitle('softmax(T * alpha) per edge over training steps')
  fig.tight_layout(rect=(0, 0, 1, 0.97))
  save_figure(fig, png_path)


def plot_alpha_stats(csv_path: str, png_path: str) -> None:
  """An alpha_stats.csv's means per cell type and its Hamming distances."""
  with open(csv_path, newline='') as f:
    header = next(csv.reader(f))
  plot_columns(csv_path, [c for c in header[1:] if ':' not in c], png_path,
               'normalized entropy and top-1 margin per edge (means), '
               'Hamming distance between consecutive cells')


# The metrics of a supernet's zero-shot discretized cell (runs.ZeroShot) are
# its evaluator's with this prefix: 'discrete_test_return' beside 'test_return'.
ZERO_SHOT_PREFIX = 'discrete_'


def plot_zero_shot(csv_path: str, png_path: str) -> bool:
  """A metrics.csv's test return beside its zero-shot discretized cell's
  (the ZERO_SHOT_PREFIX columns); False if it has none."""
  with open(csv_path, newline='') as f:
    header = next(csv.reader(f), [])
  zero_shot = [c for c in header
               if c.startswith(ZERO_SHOT_PREFIX) and c.endswith('_normalized')]
  if zero_shot:
    plot_columns(csv_path, [zero_shot[0][len(ZERO_SHOT_PREFIX):], zero_shot[0]],
                 png_path, 'test return of the supernet and of its discretized'
                 " cell with the supernet's weights (zero-shot)")
  return bool(zero_shot)


def plot_columns(csv_path: str, columns: list[str], png_path: str,
                 title: str) -> None:
  """Lines of `columns` over the CSV's `step` (empty cells skipped)."""
  plt = pyplot()

  with open(csv_path, newline='') as f:
    rows = list(csv.DictReader(f))
  fig, ax = plt.subplots(figsize=(6, 3.5))
  for column in columns:
    points = [(float(r['step']), float(r[column])) for r in rows
              if r.get(column) not in (None, '')]
    if points:
      ax.plot(*zip(*points), label=column)
  ax.set_xlabel('step')
  ax.set_title(title, fontsize=10)
  if ax.lines:  # Columns with no values yet leave an empty plot.
    ax.legend(fontsize=8)
  fig.tight_layout()
  save_figure(fig, png_path)


def format_rate(rate: float) -> str:
  """One decimal from 1/s up; two significant digits below (0.048, not 0.0)."""
  return f'{rate:.1f}' if rate >= 1 else f'{rate:.2g}'


class Progress:
  """A progress line: step, steps/s and recent metrics, at most every
  `interval` seconds (and always at the last step). Rates count from
  `start`, the step at which the run (or its resumption) began."""

  def __init__(self, total_steps: int, unit: str = 'steps',
               interval: float = 2.0, stream: TextIO = sys.stdout,
               start: int = 0):
    self.total, self.unit, self.interval = total_steps, unit, interval
    self.stream = stream
    self._last_time = time.monotonic()
    self._last_step = start

  def update(self, step: int, **metrics: float) -> None:
    now = time.monotonic()
    if now - self._last_time < self.interval and step < self.total:
      return
    rate = (step - self._last_step) / max(now - self._last_time, 1e-9)
    shown = ' '.join(f'{k} {v:.4g}' for k, v in metrics.items())
    print(f'[{step}/{self.total} {self.unit}] {format_rate(rate)} '
          f'{self.unit}/s {shown}', file=self.stream, flush=True)
    self._last_time, self._last_step = now, step
