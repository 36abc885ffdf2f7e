"""Queues of launcher runs that survive a restart.

A `Run` is one `python -m launchers.<module>` subprocess with its own root dir
and log (`<root_dir>.log`). `run_all` skips runs whose `<root_dir>/DONE` says
they finished, reruns the others (the launchers resume from their
checkpoints) one after another or `parallel` at a time, and writes DONE after
each success. A failure lets the runs under way finish, starts no new one and
stops with the end of the failed run's log. `grid` lays out a sweep's runs.
Runs are packed into this host's CPUs and GPUs (`HostSlots`) by what each
reserves (`num_cpus`, `num_gpus`): where any run of the queue reserves a GPU,
each run sees only the GPU it was given (`CUDA_VISIBLE_DEVICES`; none for a
run that reserves none), as on Ray.

Every started run holds a lease, `<root_dir>.lease` (host, pid, time; made
atomically, its time refreshed while the run lives), so no run directory is
ever used by two live processes, on one host or across hosts of a shared
filesystem: a live lease blocks a second start, a stale one (its process gone
on this host, or not refreshed for `STALE_SECONDS`) is taken over. `run_one`
runs one run in the foreground (an array scheduler's task); `states` says
where each run stands.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import socket
import subprocess
import sys
import time
from typing import Optional, Sequence

from rl_darts.runtime import io_utils

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))  # rl_darts/runtime/ -> the checkout.
STALE_SECONDS = 600.0  # A lease not refreshed for this long is stale.
REFRESH_SECONDS = 30.0


class LeaseHeld(ValueError):
  """Another live process holds a run's lease."""


class Lease:
  """`<root_dir>.lease`: which process (host, pid) is running a run."""

  def __init__(self, root_dir: str):
    self.path = f'{os.path.abspath(root_dir)}.lease'
    self._refreshed = 0.0

  def holder(self) -> Optional[dict]:
    """The lease's content, None without one."""
    try:
      with open(self.path) as f:
        return json.load(f)
    except FileNotFoundError:
      return None
    except json.JSONDecodeError:  # Being written: treat as live.
      return {'host': '?', 'pid': -1, 'time': time.time()}

  def stale(self, holder: dict) -> bool:
    if holder['host'] == socket.gethostname() and holder['pid'] > 0:
      try:
        os.kill(holder['pid'], 0)
      except ProcessLookupError:
        return True
      except PermissionError:
        pass  # Alive, another user's.
    try:
      age = time.time() - os.path.getmtime(self.path)
    except FileNotFoundError:
      return True
    return age > STALE_SECONDS

  def acquire(self) -> None:
    """Takes the lease, or raises LeaseHeld naming the live holder; a stale
    lease is moved aside (one taker wins the rename) and taken."""
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    for _ in range(3):
      try:
        fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
      except FileExistsError:
        holder = self.holder()
        if holder is not None and not self.stale(holder):
          raise LeaseHeld(
              f'{self.path} is held by pid {holder["pid"]} on '
              f'{holder["host"]} since {time.ctime(holder["time"])}: that '
              f'process is running this run') from None
        try:
          os.rename(self.path, f'{self.path}.stale.{os.getpid()}')
          os.remove(f'{self.path}.stale.{os.getpid()}')
        except FileNotFoundError:
          pass  # Another taker moved it first: try again.
        continue
      with os.fdopen(fd, 'w') as f:
        json.dump({'host': socket.gethostname(), 'pid': os.getpid(),
                   'time': time.time()}, f)
      self._refreshed = time.monotonic()
      return
    raise LeaseHeld(f'could not take {self.path}: other processes race for it')

  def refresh(self) -> None:
    """Marks the lease alive (at most every REFRESH_SECONDS)."""
    if time.monotonic() - self._refreshed >= REFRESH_SECONDS:
      os.utime(self.path)
      self._refreshed = time.monotonic()

  def release(self) -> None:
    holder = self.holder()
    if holder and holder['pid'] == os.getpid() and (
        holder['host'] == socket.gethostname()):
      os.remove(self.path)


@dataclasses.dataclass(frozen=True)
class Run:
  """One launcher run: `module` is a launchers/ module name. `needs`: files
  it reads from runs of earlier stages of its plan (see `plans.Plan`);
  `num_cpus`, `num_gpus`: what an executor reserves for it."""

  name: str
  module: str
  root_dir: str
  seed: int
  configs: tuple[str, ...] = ()
  bindings: tuple[str, ...] = ()
  flags: tuple[str, ...] = ()
  needs: tuple[str, ...] = ()
  num_cpus: float = 1.0
  num_gpus: float = 0.0

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


def host_gpus() -> tuple[str, ...]:
  """This host's GPU ids a run may be given: CUDA_VISIBLE_DEVICES where set,
  else those `nvidia-smi -L` lists."""
  if 'CUDA_VISIBLE_DEVICES' in os.environ:
    return tuple(g for g in os.environ['CUDA_VISIBLE_DEVICES'].split(',') if g)
  try:
    listing_ = subprocess.run(['nvidia-smi', '-L'], capture_output=True,
                              text=True, check=True, timeout=30).stdout
  except (OSError, subprocess.SubprocessError):
    return ()
  return tuple(str(i) for i, line in enumerate(
      l for l in listing_.splitlines() if l.startswith('GPU ')))


class HostSlots:
  """This host's CPUs and GPUs, handed to runs by what they reserve: a run of
  at most one GPU shares a GPU with room left, a run of several takes whole
  free GPUs."""

  def __init__(self, cpus: Optional[float] = None,
               gpus: Optional[Sequence[str]] = None):
    self.cpus = float(os.cpu_count() if cpus is None else cpus)
    self.gpu_use = {g: 0.0 for g in (host_gpus() if gpus is None else gpus)}
    self.cpus_used = 0.0

  def check(self, runs: Sequence[Run]) -> None:
    """Every run must fit this host on its own."""
    for run in runs:
      whole = run.num_gpus if run.num_gpus > 1 else 1 if run.num_gpus else 0
      if run.num_cpus > self.cpus or whole > len(self.gpu_use):
        raise ValueError(
            f'run {run.name!r} reserves {run.num_cpus:g} CPUs and '
            f'{run.num_gpus:g} GPUs; this host has {self.cpus:g} CPUs and '
            f'{len(self.gpu_use)} GPUs ({",".join(self.gpu_use) or "none"}); '
            'allowed: --num_cpus/--num_gpus within that, or --executor=ray')

  def take(self, run: Run) -> Optional[tuple[str, ...]]:
    """The GPU ids `run` gets (() for none) if it fits now, else None."""
    if self.cpus_used + run.num_cpus > self.cpus:
      return None
    if not run.num_gpus:
      gpus = ()
    elif run.num_gpus <= 1:
      room = [g for g, use in self.gpu_use.items()
              if use + run.num_gpus <= 1 + 1e-9]
      gpus = tuple(room[:1]) or None
    else:
      free = [g for g, use in self.gpu_use.items() if not use]
      gpus = tuple(free[:int(run.num_gpus)])
      gpus = gpus if len(gpus) == run.num_gpus else None
    if gpus is None:
      return None
    self.cpus_used += run.num_cpus
    for g in gpus:
      self.gpu_use[g] += min(run.num_gpus, 1.0)
    return gpus

  def give_back(self, run: Run, gpus: tuple[str, ...]) -> None:
    self.cpus_used -= run.num_cpus
    for g in gpus:
      self.gpu_use[g] -= min(run.num_gpus, 1.0)


def _start(run: Run, gpus: Optional[tuple[str, ...]]
           ) -> tuple[subprocess.Popen, float]:
  """Starts `run`; `gpus` (None: leave the environment's) become its
  CUDA_VISIBLE_DEVICES."""
  os.makedirs(os.path.dirname(os.path.abspath(run.root_dir)), exist_ok=True)
  print(f'{run.name}: running (log: {run.log})', flush=True)
  env = (None if gpus is None else
         dict(os.environ, CUDA_VISIBLE_DEVICES=','.join(gpus)))
  with open(run.log, 'a') as log:
    process = subprocess.Popen(run.command(), cwd=REPO, stdout=log,
                               stderr=subprocess.STDOUT, env=env)
  return process, time.monotonic()


def tail(path: str, lines: int = 15) -> str:
  """The last `lines` lines of a log ('' where there is none yet)."""
  try:
    with open(path) as log:
      return ''.join(log.readlines()[-lines:])
  except FileNotFoundError:
    return ''


def run_all(runs: Sequence[Run], parallel: int = 1,
            host: Optional[HostSlots] = None) -> None:
  """Runs the unfinished `runs` in order, at most `parallel` at once and as
  many as fit `host` (default: this host's CPUs and GPUs)."""
  if parallel < 1:
    raise ValueError(f'parallel must be >= 1; got {parallel}')
  names = [run.root_dir for run in runs]
  if len(set(names)) != len(names):
    raise ValueError('two runs share a root dir: '
                     f'{sorted({n for n in names if names.count(n) > 1})}')
  pending = [run for run in runs if not run.done]
  held = [run.root_dir for run, state in zip(pending, states(pending))
          if state == 'running']
  if held:
    raise LeaseHeld(f'live processes run {held} (their .lease files): '
                    f'wait for them, or end them')
  host = host or HostSlots()
  host.check(pending)
  pinned = any(run.num_gpus for run in pending)  # Else GPUs are shared.
  running: dict[Run, tuple[subprocess.Popen, float]] = {}
  given: dict[Run, tuple[str, ...]] = {}
  leases: dict[Run, Lease] = {}
  failed: list[tuple[Run, int]] = []
  try:
    while pending or running:
      while pending and len(running) < parallel and not failed:
        gpus = host.take(pending[0])
        if gpus is None:
          break
        run = pending.pop(0)
        given[run] = gpus
        leases[run] = Lease(run.root_dir)
        leases[run].acquire()
        running[run] = _start(run, gpus if pinned else None)
      if not running:
        break
      time.sleep(0.2)
      for run, (process, began) in list(running.items()):
        leases[run].refresh()
        code = process.poll()
        if code is None:
          continue
        del running[run]
        host.give_back(run, given.pop(run))
        if not code:
          io_utils.atomic_write_text(os.path.join(run.root_dir, 'DONE'), '')
          print(f'{run.name}: done in {time.monotonic() - began:.0f} s',
                flush=True)
        else:
          failed.append((run, code))
        leases.pop(run).release()
  finally:
    for process, _ in running.values():
      process.terminate()
    for lease in leases.values():
      lease.release()
  if failed:
    run, code = failed[0]
    raise SystemExit(f'{run.name} failed (exit {code}); the end of '
                     f'{run.log}:\n{tail(run.log)}')


def run_one(run: Run) -> str:
  """Runs `run` in the foreground unless it finished; 'finished' or 'done'.
  Idempotent: a finished run does nothing; raises LeaseHeld where a live
  process runs it, SystemExit with its log's end where it fails."""
  if run.done:
    return 'finished'
  run_all([run])
  return 'done'


def states(runs: Sequence[Run]) -> list[str]:
  """Each run's state: 'done', 'running' (a live lease), 'stale' (a lease
  whose holder is gone) or 'pending'."""
  result = []
  for run in runs:
    lease = Lease(run.root_dir)
    holder = lease.holder()
    result.append('done' if run.done else 'pending' if holder is None else
                  'stale' if lease.stale(holder) else 'running')
  return result


def listing(runs: Sequence[Run]) -> list[str]:
  """One line per run: index, state, root dir and command."""
  return [f'{i}\t{state}\t{run.root_dir}\t{shlex.join(run.command())}'
          for i, (run, state) in enumerate(zip(runs, states(runs)))]
