"""Plans of runs: stages of launcher runs, where a later stage may read what
an earlier one wrote (a search's `genotype.json` feeds its retraining).

A `Plan` checks itself when made: no two runs share a root dir, and every file
a run `needs` is written under the root dir of a run of an earlier stage (or
exists already). `grid` lays out a sweep's runs (configs x binding axes x
games x seeds) as one stage. Executors (`rl_darts.runtime.executors`) run a plan stage
by stage.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

from rl_darts.runtime import run_queue


@dataclasses.dataclass(frozen=True)
class Stage:
  name: str
  runs: tuple[run_queue.Run, ...]


@dataclasses.dataclass(frozen=True)
class Plan:
  """Stages of runs, run in order; a stage starts when the runs before it
  are done."""

  stages: tuple[Stage, ...]

  def __post_init__(self):
    roots = [run.root_dir for run in self.runs]
    shared = sorted({r for r in roots if roots.count(r) > 1})
    if shared:
      raise ValueError(f'two runs of the plan share a root dir: {shared}')
    earlier: list[str] = []
    for stage in self.stages:
      for run in stage.runs:
        for need in run.needs:
          if not (_under_any(need, earlier) or os.path.exists(need)):
            raise ValueError(
                f'run {run.name!r} of stage {stage.name!r} needs {need}, '
                'which does not exist and is not under the root dir of a run '
                f'of an earlier stage (those are: {earlier or "none"})')
      earlier += [os.path.abspath(run.root_dir) for run in stage.runs]

  @property
  def runs(self) -> list[run_queue.Run]:
    return [run for stage in self.stages for run in stage.runs]

  def missing_needs(self, stage: Stage) -> list[str]:
    """Files `stage`'s runs need that are not there (yet)."""
    return [need for run in stage.runs for need in run.needs
            if not os.path.exists(need)]


def _under_any(path: str, roots: Sequence[str]) -> bool:
  path = os.path.abspath(path)
  return any(os.path.commonpath([path, root]) == root for root in roots)


def one_stage(runs: Sequence[run_queue.Run], name: str = 'runs') -> Plan:
  return Plan((Stage(name, tuple(runs)),))


def grid(root_dir: str, launcher: str, configs: Sequence[str],
         games: Sequence[str], seeds: Sequence[int], bindings: Sequence[str],
         axes: Sequence[tuple[str, Sequence[str]]] = (),
         num_cpus: float = 1.0, num_gpus: float = 0.0) -> list[run_queue.Run]:
  """The runs of configs x binding axes x games (or the configs' own game)
  x seeds, under root_dir/<config name>/[<param>=<value>,...]/<game>/seed_<s>
  (without axes or games, those levels are left out). An axis is a gin
  parameter and its values, e.g. ('Supernet.temperature', ['5', '10'])."""
  points = [[]]
  for parameter, values in axes:
    points = [point + [(parameter, value)] for point in points
              for value in values]
  runs = []
  for config in configs:
    name = os.path.splitext(os.path.basename(config))[0]
    for point in points:
      label = ','.join(f'{p}={v}' for p, v in point)
      point_bindings = [f'{p} = {v}' for p, v in point]
      for game in games or [None]:
        game_bindings = [f"Environment.game = '{game}'"] if game else []
        for seed in seeds:
          levels = [name, *([label] if label else []),
                    *([game] if game else []), f'seed_{seed}']
          runs.append(run_queue.Run(
              ' '.join(p for p in (name, label, game, f'seed {seed}') if p),
              launcher, os.path.join(root_dir, *levels), seed, (config,),
              (*game_bindings, *point_bindings, *bindings),
              num_cpus=num_cpus, num_gpus=num_gpus))
  return runs
