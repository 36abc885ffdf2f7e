"""Executors: one interface that runs a plan's stages, locally or on Ray.

`local` (the default) is `run_queue.run_all`: subprocesses on this host,
`parallel` at a time. `ray` runs each run as a Ray task on a Ray cluster
(core only) that reserves the run's `num_cpus` and `num_gpus`, runs its
launcher as a subprocess under the run's lease, and is retried up to
`max_retries` times when it fails or its node is lost (a rerun resumes from
its checkpoints). Runs that reserve no GPU see none (`CUDA_VISIBLE_DEVICES`
is emptied). Every `status_seconds` a status line counts the stage's runs by
state and gives each running run's env steps/s. A stage starts when every
run before it is done; multi-host runs need a filesystem all hosts share.
"""

from __future__ import annotations

import dataclasses
import os
import socket
import time
from typing import Optional

from rl_darts.experiments import results
from rl_darts.runtime import plans
from rl_darts.runtime import run_queue

EXECUTORS = ('local', 'ray')


class RunFailed(RuntimeError):
  """A run's launcher exited with an error (Ray retries it)."""


def run_plan(plan: plans.Plan, executor: str = 'local', parallel: int = 1,
             ray_address: Optional[str] = None, max_retries: int = 2,
             status_seconds: float = 30.0) -> None:
  """Runs `plan`'s stages in order on `executor`; raises SystemExit naming
  the first failed run and the end of its log."""
  if executor not in EXECUTORS:
    raise ValueError(f'unknown executor {executor!r}; allowed: '
                     f'{", ".join(EXECUTORS)}')
  runner = (RayExecutor(ray_address, max_retries, status_seconds)
            if executor == 'ray' else LocalExecutor(parallel))
  for stage in plan.stages:
    missing = plan.missing_needs(stage)
    if missing:
      raise SystemExit(f'stage {stage.name!r} cannot start: the runs before '
                       f'it did not write {missing}')
    runner.run_stage(stage)


class LocalExecutor:
  """Runs stages here: `run_queue.run_all`, `parallel` runs at a time."""

  def __init__(self, parallel: int = 1):
    self.parallel = parallel

  def run_stage(self, stage: plans.Stage) -> None:
    run_queue.run_all(stage.runs, self.parallel)


def _steps_per_s(run: run_queue.Run) -> Optional[float]:
  """The last env steps/s a run logged in its metrics.csv, if any."""
  try:
    return float(results.metrics(run.root_dir)[-1]['env_steps_per_s'])
  except (OSError, IndexError, KeyError, TypeError, ValueError):
    return None


def status_line(stage: plans.Stage, failed: set[str]) -> str:
  """'stage S: done D, running R, failed F, pending P | run: N env steps/s'."""
  counts = {'done': 0, 'running': 0, 'failed': 0, 'pending': 0}
  rates = []
  for run, state in zip(stage.runs, run_queue.states(stage.runs)):
    state = 'failed' if run.root_dir in failed else (
        'pending' if state == 'stale' else state)
    counts[state] += 1
    rate = _steps_per_s(run) if state == 'running' else None
    if rate is not None:
      rates.append(f'{run.name}: {rate:.0f} env steps/s')
  line = f'stage {stage.name}: ' + ', '.join(f'{k} {v}'
                                             for k, v in counts.items())
  return line + (' | ' + '; '.join(rates) if rates else '')


def _run_on_worker(run: run_queue.Run) -> str:
  """A Ray task's body: the run under its lease, in the foreground."""
  if not run.num_gpus:
    os.environ['CUDA_VISIBLE_DEVICES'] = ''
  try:
    return run_queue.run_one(run)
  except SystemExit as failure:
    raise RunFailed(str(failure)) from None


def connect_ray(address: Optional[str] = None):
  """The `ray` module, connected to the cluster at `address` (None: a local
  one started here; 'auto': the one this host belongs to); an unreachable
  address is a ValueError within seconds (Ray itself retries for minutes)."""
  import ray  # pylint: disable=g-import-not-at-top
  if ray.is_initialized():
    return ray
  try:
    _check_reachable(address)
    ray.init(address=address, include_dashboard=False,
             logging_level='ERROR', log_to_driver=False)
  except (ConnectionError, RuntimeError, ValueError) as error:
    raise ValueError(
        f'cannot reach a Ray cluster at {address!r} ({error}); allowed: the '
        'address of a running cluster (`ray start --head` prints it), '
        "'auto' on a cluster's host, or none for a local cluster") from None
  return ray


def _check_reachable(address: Optional[str], timeout: float = 5.0) -> None:
  """A HOST:PORT address must accept a connection; 'auto', 'local' and none
  are Ray's to resolve."""
  if not address or ':' not in address or '://' in address:
    return
  host, _, port = address.rpartition(':')
  try:
    socket.create_connection((host, int(port)), timeout=timeout).close()
  except (OSError, ValueError) as error:
    raise ConnectionError(f'nothing answers at {address} ({error})') from None


class RayExecutor:
  """Runs stages as Ray tasks on the cluster at `address` (None: a local
  one started here; 'auto': the one this host belongs to)."""

  def __init__(self, address: Optional[str] = None, max_retries: int = 2,
               status_seconds: float = 30.0):
    if max_retries < 0:
      raise ValueError(f'max_retries must be >= 0; got {max_retries}')
    self.ray, self.max_retries = connect_ray(address), max_retries
    self.status_seconds = status_seconds
    self.remote = self.ray.remote(_run_on_worker)

  def run_stage(self, stage: plans.Stage) -> None:
    pending = {}
    for run in stage.runs:
      if run.done:
        continue
      # Workers run elsewhere: every path absolute.
      run = dataclasses.replace(run, root_dir=os.path.abspath(run.root_dir))
      task = self.remote.options(
          num_cpus=run.num_cpus, num_gpus=run.num_gpus,
          max_retries=self.max_retries, retry_exceptions=True).remote(run)
      pending[task] = run
    failed: dict[str, str] = {}
    last = 0.0
    while pending:
      ready, _ = self.ray.wait(list(pending), num_returns=1,
                               timeout=min(self.status_seconds, 1.0))
      for task in ready:
        run = pending.pop(task)
        try:
          self.ray.get(task)
        except Exception as error:  # pylint: disable=broad-except
          failed[run.root_dir] = f'{run.name}: {error}'
      if time.monotonic() - last >= self.status_seconds or not pending:
        print(status_line(stage, set(failed)), flush=True)
        last = time.monotonic()
    if failed:
      raise SystemExit('runs failed after '
                       f'{self.max_retries} retries:\n' +
                       '\n'.join(failed.values()))
