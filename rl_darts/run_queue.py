"""Queues of launcher runs that survive a restart.

A `Run` is one `python -m launchers.<module>` subprocess with its own root dir
and log (`<root_dir>.log`). `run_all` skips runs whose `<root_dir>/DONE` says
they finished, reruns the others (the launchers resume from their
checkpoints) one after another or `parallel` at a time, and writes DONE after
each success. A failure lets the runs under way finish, starts no new one and
stops with the end of the failed run's log. `grid` lays out a sweep's runs.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import time
from typing import Sequence

from rl_darts import io_utils

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class Run:
  """One launcher run: `module` is a launchers/ module name."""

  name: str
  module: str
  root_dir: str
  seed: int
  configs: tuple[str, ...] = ()
  bindings: tuple[str, ...] = ()
  flags: tuple[str, ...] = ()

  @property
  def done(self) -> bool:
    return os.path.isfile(os.path.join(self.root_dir, 'DONE'))

  @property
  def log(self) -> str:
    return f'{self.root_dir}.log'

  def command(self) -> list[str]:
    return [sys.executable, '-m', f'launchers.{self.module}',
            f'--root_dir={self.root_dir}', f'--seed={self.seed}',
            *(f'--gin_configs={c}' for c in self.configs),
            *(f'--gin_bindings={b}' for b in self.bindings), *self.flags]


def _start(run: Run) -> tuple[subprocess.Popen, float]:
  os.makedirs(os.path.dirname(os.path.abspath(run.root_dir)), exist_ok=True)
  print(f'{run.name}: running (log: {run.log})', flush=True)
  with open(run.log, 'a') as log:
    process = subprocess.Popen(run.command(), cwd=REPO, stdout=log,
                               stderr=subprocess.STDOUT)
  return process, time.monotonic()


def _tail(run: Run, lines: int = 15) -> str:
  with open(run.log) as log:
    return ''.join(log.readlines()[-lines:])


def run_all(runs: Sequence[Run], parallel: int = 1) -> None:
  """Runs the unfinished `runs`, at most `parallel` at once, in order."""
  if parallel < 1:
    raise ValueError(f'parallel must be >= 1; got {parallel}')
  names = [run.root_dir for run in runs]
  if len(set(names)) != len(names):
    raise ValueError('two runs share a root dir: '
                     f'{sorted({n for n in names if names.count(n) > 1})}')
  pending = [run for run in runs if not run.done]
  running: dict[Run, tuple[subprocess.Popen, float]] = {}
  failed: list[tuple[Run, int]] = []
  while pending or running:
    while pending and len(running) < parallel and not failed:
      run = pending.pop(0)
      running[run] = _start(run)
    if not running:
      break
    time.sleep(0.2)
    for run, (process, began) in list(running.items()):
      code = process.poll()
      if code is None:
        continue
      del running[run]
      if code:
        failed.append((run, code))
        continue
      io_utils.atomic_write_text(os.path.join(run.root_dir, 'DONE'), '')
      print(f'{run.name}: done in {time.monotonic() - began:.0f} s',
            flush=True)
  if failed:
    run, code = failed[0]
    raise SystemExit(f'{run.name} failed (exit {code}); the end of '
                     f'{run.log}:\n{_tail(run)}')


def grid(root_dir: str, launcher: str, configs: Sequence[str],
         games: Sequence[str], seeds: Sequence[int], bindings: Sequence[str],
         axes: Sequence[tuple[str, Sequence[str]]] = ()) -> list[Run]:
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
          runs.append(Run(
              ' '.join(p for p in (name, label, game, f'seed {seed}') if p),
              launcher, os.path.join(root_dir, *levels), seed, (config,),
              (*game_bindings, *point_bindings, *bindings)))
  return runs
