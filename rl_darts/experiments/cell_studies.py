"""Discrete cells trained by the agents' launchers, as queues of runs:

- `CellTraining`: how a list of genotype files is trained (the agent's one
  loop, a discrete-network config) and ranked by final return;
- random search over a supernet's space (RL-DARTS paper Table 4's third
  column, App. E's random-cell study): cells drawn uniformly from the space
  (`genotypes.sample`), trained, the best retrained at the evaluation depth;
- cell evolution (Figs. 5/6, 14-16): the distinct cells a search wrote over
  time, trained from scratch, their returns against the step each appeared.

Every run goes through `run_queue`: a rerun skips finished runs and resumes
the others.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import re
from typing import Callable, Mapping, Optional, Sequence

import gin
import numpy as np

from rl_darts.experiments import results
from rl_darts.runtime import io_utils
from rl_darts.runtime import recording
from rl_darts.runtime import run_queue
from rl_darts.space import genotypes
from rl_darts.space import networks

AGENTS = ('ppo', 'rainbow')


@gin.configurable
@dataclasses.dataclass
class CellTraining:
  """Each cell trains with `cell_config` plus `train_bindings` (e.g. the
  search depth); `return_column` of metrics.csv ranks them (None: the
  agent's score, `results.SCORE_COLUMNS`: Rainbow's greedy evaluator)."""

  agent: str = 'ppo'
  cell_config: str = 'gin_configs/ppo/discrete_64x3.gin'
  train_bindings: Sequence[str] = ('DiscreteNetwork.depths = [16, 16, 16]',)
  return_column: Optional[str] = None

  def __post_init__(self):
    if self.agent not in AGENTS:
      raise ValueError(f'unknown CellTraining.agent {self.agent!r}; allowed: '
                       f'{", ".join(AGENTS)}')
    self.return_column = (self.return_column or
                          results.SCORE_COLUMNS[self.agent][0])
    if not os.path.isfile(os.path.join(run_queue.REPO, self.cell_config)):
      raise FileNotFoundError(f'CellTraining.cell_config '
                              f'{self.cell_config!r} does not exist')

  def run(self, name: str, root_dir: str, genotype_path: str, seed: int,
          bindings: Sequence[str], at_search_depth: bool = True
          ) -> run_queue.Run:
    """The run training one genotype file (with `train_bindings` unless
    `at_search_depth` is False: the evaluation config alone)."""
    extra = self.train_bindings if at_search_depth else ()
    return run_queue.Run(
        name, self.agent, root_dir, seed, (self.cell_config,),
        (*bindings, *extra, f"DiscreteNetwork.genotype = '{genotype_path}'"))

  def train(self, runs: Sequence[run_queue.Run], parallel: int,
            score: Optional[Callable[[str, str], Optional[float]]] = None
            ) -> list[Optional[float]]:
    """Runs them (skipping finished ones); their final `return_column`
    (or `score(run_dir, return_column)`)."""
    run_queue.run_all(runs, parallel)
    score = score or results.final_return
    return [score(r.root_dir, self.return_column) for r in runs]


@gin.configurable
@dataclasses.dataclass
class RandomSearch:
  """`num_cells` cells of the gin-bound `Supernet`'s space (space, I, K, N,
  R); the best retrained by the evaluation config when `evaluate_best`;
  `reference_runs`: trained runs marked on the histogram by label (App. E:
  the DARTS cell and IMPALA-CNN); `divide_by_max_return`: every score is
  the final raw return over the game's maximum (App. E's normalization; set
  `CellTraining.return_column` to a raw return column)."""

  num_cells: int = 3
  evaluate_best: bool = True
  reference_runs: Mapping[str, str] = dataclasses.field(default_factory=dict)
  divide_by_max_return: bool = False

  def __post_init__(self):
    if self.num_cells < 1:
      raise ValueError(f'RandomSearch.num_cells must be >= 1; got '
                       f'{self.num_cells}')
    for label, path in self.reference_runs.items():
      if not os.path.isdir(path):
        raise FileNotFoundError(f'RandomSearch.reference_runs[{label!r}]: '
                                f'{path!r} is not a run directory')

  def score(self, run_dir: str, column: str) -> Optional[float]:
    """A run's final `column`, over its game's maximum return (easy mode,
    Cobbe et al.) with `divide_by_max_return`."""
    value = results.final_return(run_dir, column)
    if value is None or not self.divide_by_max_return:
      return value
    return value / results.max_return(run_dir)


def cell_path(root_dir: str, index: int) -> str:
  return os.path.join(root_dir, f'cell_{index}', 'genotype.json')


def draw_cells(root_dir: str, count: int, seed: int
               ) -> list[genotypes.Genotype]:
  """`count` cells of the gin-bound Supernet's space from `seed`, saved as
  root_dir/cell_<i>/genotype.json (a rerun checks it draws the same)."""
  supernet = networks.Supernet()
  rng = np.random.default_rng(seed)
  cells = [supernet.random_genotype(rng) for _ in range(count)]
  for i, cell in enumerate(cells):
    path = cell_path(root_dir, i)
    if os.path.isfile(path):
      saved = genotypes.Genotype.load(path)
      if saved != cell:  # Shapes included.
        raise ValueError(f'{path} holds another cell than seed {seed} draws '
                         f'for this space: rerun with the seed and bindings '
                         f'of the first run, or use a new --root_dir')
    else:
      cell.save(path)
  return cells


def random_search(root_dir: str, seed: int, bindings: Sequence[str] = (),
                  parallel: int = 1) -> dict:
  """Draws, trains and ranks the cells, retrains the best; writes
  root_dir/random_search.csv, summary.json and returns.png (a histogram);
  returns the summary. `bindings` go to every run."""
  search, training = RandomSearch(), CellTraining()
  cells = draw_cells(root_dir, search.num_cells, seed)
  runs = [training.run(f'cell {i}', os.path.join(root_dir, f'cell_{i}',
                                                 'train'),
                       cell_path(root_dir, i), seed, bindings)
          for i in range(len(cells))]
  returns = training.train(runs, parallel, search.score)
  best = int(np.argmax([-np.inf if r is None else r for r in returns]))
  summary = {**dataclasses.asdict(training), 'seed': seed,
             'run_bindings': list(bindings), 'best_cell': best,
             'cells': [{'cell': i, 'genotype': json.loads(cell.to_json()),
                        'final_return': returns[i]}
                       for i, cell in enumerate(cells)]}
  if search.evaluate_best:
    evaluation = training.run('best cell', os.path.join(root_dir, 'best'),
                              cell_path(root_dir, best), seed, bindings,
                              at_search_depth=False)
    summary['best_final_return'] = training.train([evaluation], 1,
                                                  search.score)[0]
  summary['reference_final_returns'] = {
      label: search.score(path, training.return_column)
      for label, path in search.reference_runs.items()}
  io_utils.atomic_write_csv(
      os.path.join(root_dir, 'random_search.csv'),
      ['cell', 'final_return', 'genotype'],
      [[i, returns[i], os.path.relpath(cell_path(root_dir, i), root_dir)]
       for i in range(len(cells))])
  _write_summary(root_dir, summary)
  plot_returns([r for r in returns if r is not None],
               os.path.join(root_dir, 'returns.png'),
               f"random cells' final {training.return_column}" +
               (' / max return' if search.divide_by_max_return else ''),
               summary['reference_final_returns'])
  return summary


def cell_evolution(search_dir: str, root_dir: str, seed: int, every: int = 1,
                   bindings: Sequence[str] = (), parallel: int = 1) -> dict:
  """Trains every `every`-th distinct cell search_dir/genotypes/ holds (in
  the order they appeared, the last one always) at the search depth; writes
  root_dir/cell_evolution.csv, summary.json and cell_evolution.png (final
  return against the step each cell appeared); returns the summary."""
  paths = sorted(glob.glob(os.path.join(search_dir, 'genotypes',
                                        'step_*.json')))
  if not paths:
    raise FileNotFoundError(f'{search_dir!r} has no genotypes/step_*.json: '
                            f'is it a supernet search run?')
  if every < 1:
    raise ValueError(f'every must be >= 1; got {every}')
  chosen = paths[::every] + ([paths[-1]] if (len(paths) - 1) % every else [])
  steps = [int(re.search(r'step_(\d+)\.json$', p)[1]) for p in chosen]
  training = CellTraining()
  runs = [training.run(f'cell of step {step}',
                       os.path.join(root_dir, f'step_{step:012d}'),
                       os.path.abspath(path), seed, bindings)
          for step, path in zip(steps, chosen)]
  returns = training.train(runs, parallel)
  summary = {**dataclasses.asdict(training), 'seed': seed, 'search_dir': search_dir,
             'run_bindings': list(bindings),
             'cells': [{'step': s, 'genotype': os.path.abspath(p),
                        'final_return': r}
                       for s, p, r in zip(steps, chosen, returns)]}
  io_utils.atomic_write_csv(os.path.join(root_dir, 'cell_evolution.csv'),
                            ['step', 'final_return', 'genotype'],
                            summary['cells'])
  _write_summary(root_dir, summary)
  plt = recording.pyplot()
  fig, ax = plt.subplots(figsize=(6, 3.5))
  points = [(s, r) for s, r in zip(steps, returns) if r is not None]
  if points:
    ax.plot(*zip(*points), marker='o')
  ax.set_xlabel('search step at which the cell appeared')
  ax.set_ylabel(f'final {training.return_column}')
  ax.set_title('distinct cells of the search, each trained from scratch',
               fontsize=10)
  fig.tight_layout()
  recording.save_figure(fig, os.path.join(root_dir, 'cell_evolution.png'))
  return summary


def _write_summary(root_dir: str, summary: dict) -> None:
  io_utils.atomic_write_text(os.path.join(root_dir, 'summary.json'),
                             json.dumps(summary, indent=1) + '\n')


def plot_returns(values: Sequence[float], png_path: str, title: str,
                 references: Optional[Mapping[str, Optional[float]]] = None
                 ) -> None:
  """A histogram of the cells' final returns (App. E, Figs. 9, 18), with a
  labelled line at each reference run's (e.g. the DARTS cell, IMPALA-CNN)."""
  plt = recording.pyplot()
  fig, ax = plt.subplots(figsize=(5, 3.2))
  ax.hist(values, bins=max(5, min(30, len(values) // 3)))
  marked = {k: v for k, v in (references or {}).items() if v is not None}
  for (label, value), color in zip(sorted(marked.items()),
                                   ('red', 'black', 'green', 'purple')):
    ax.axvline(value, color=color, label=label)
  if marked:
    ax.legend(fontsize=8)
  ax.set_xlabel('final return')
  ax.set_ylabel('cells')
  ax.set_title(title, fontsize=10)
  fig.tight_layout()
  recording.save_figure(fig, png_path)
