"""One distributed run's roles as processes on a Ray cluster (`--role=ray`).

The replay server and the learner share the first bundle of a placement group
(the learner's GPU, if any); each collector or actor and the evaluator gets a
one-CPU bundle, spread over the cluster's nodes. Every role is a Ray actor
that runs the launcher's own `--role=...` process on its node, so the roles
are the same code as `--role=local`; the replay role picks a free port on its
node and the others are handed its address. A collector, actor or evaluator
that dies (its process fails, or its node is lost) is started again, up to
`max_restarts` times each; it picks up the learner's newest weights. The
replay and the learner are not restarted: their failure ends the run, whose
rerun resumes from its checkpoints. Only the learner sees a GPU
(`CUDA_VISIBLE_DEVICES` is set for every role). Logs land under
`root_dir/logs/`, and `root_dir/logs/roles.json` says where each role ran:
multi-host runs need a filesystem all hosts share.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import time
from typing import Optional, Sequence

import portpicker

from rl_darts.runtime import executors
from rl_darts.runtime import io_utils
from rl_darts.runtime import run_queue

LEARNER_BUNDLE_CPUS = 2  # The replay server and the learner.


@dataclasses.dataclass(frozen=True)
class Role:
  """One process of the run: its name (log file), flags and bundle."""
  name: str
  flags: tuple[str, ...]
  bundle: int
  restartable: bool = True
  gpus: float = 0.0


def roles(worker_role: str, worker: str, count: int, evaluate: bool,
          learner_gpus: float) -> list[Role]:
  """Replay and learner in bundle 0; `count` workers (`--role=worker_role
  --{worker}_id=i`) and the evaluator in bundles 1, 2, ..."""
  workers = [Role(f'{worker_role}_{i}',
                  (f'--role={worker_role}', f'--{worker}_id={i}'), 1 + i)
             for i in range(count)]
  if evaluate:
    workers.append(Role('eval', ('--role=eval',), 1 + count))
  return [Role('replay', ('--role=replay',), 0, restartable=False),
          Role('learn', ('--role=learn',), 0, restartable=False,
               gpus=learner_gpus),
          *workers]


class RoleProcess:
  """A Ray actor that runs one role's process on its node."""

  def __init__(self, log_path: str, cwd: str):
    self.log_path, self.cwd = log_path, cwd
    self.process: Optional[subprocess.Popen] = None

  @staticmethod
  def _gpus() -> str:
    import ray  # pylint: disable=g-import-not-at-top
    return ','.join(str(gpu) for gpu in ray.get_gpu_ids())

  def place(self) -> dict[str, str]:
    """Where this actor runs and the GPUs it sees."""
    import ray  # pylint: disable=g-import-not-at-top
    return {'node_id': ray.get_runtime_context().get_node_id(),
            'host': ray.util.get_node_ip_address(),
            'cuda_visible_devices': self._gpus()}

  @staticmethod
  def free_port() -> int:
    """A free port on this actor's node (for the replay server)."""
    return portpicker.pick_unused_port()

  def start(self, command: Sequence[str]) -> int:
    env = dict(os.environ, CUDA_VISIBLE_DEVICES=self._gpus())
    os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
    with open(self.log_path, 'a') as log:
      self.process = subprocess.Popen(list(command), cwd=self.cwd, env=env,
                                      stdout=log, stderr=subprocess.STDOUT)
    return self.process.pid

  def poll(self) -> Optional[int]:
    return self.process.poll()

  def stop(self, grace: float = 10.0) -> None:
    if self.process.poll() is None:
      self.process.send_signal(signal.SIGTERM)
      try:
        self.process.wait(timeout=grace)
      except subprocess.TimeoutExpired:
        self.process.kill()
        self.process.wait()


class RayRun:
  """Runs `roles` of the launcher command `base` on the cluster at
  `address` until the learner is done (see the module's docstring)."""

  def __init__(self, base: Sequence[str], root_dir: str, roles_: list[Role],
               address: Optional[str], max_restarts: int = 3,
               grace: float = 600.0, poll_seconds: float = 1.0):
    self.ray = executors.connect_ray(address)
    self.base, self.roles = list(base), roles_
    self.root_dir = os.path.abspath(root_dir)
    self.max_restarts, self.grace = max_restarts, grace
    self.poll_seconds = poll_seconds
    self.remote = self.ray.remote(RoleProcess)
    self.actors: dict[str, object] = {}
    self.restarts = {role.name: 0 for role in roles_}
    self.placed: dict[str, dict] = {}
    self.group = self._placement_group()

  def _bundles(self) -> list[dict[str, float]]:
    gpus = sum(role.gpus for role in self.roles)
    first = {'CPU': LEARNER_BUNDLE_CPUS, **({'GPU': gpus} if gpus else {})}
    return [first] + [{'CPU': 1}] * (max(r.bundle for r in self.roles))

  def _placement_group(self):
    from ray.util import placement_group  # pylint: disable=g-import-not-at-top
    bundles = self._bundles()
    have = self.ray.cluster_resources()
    for resource in ('CPU', 'GPU'):
      need = sum(bundle.get(resource, 0) for bundle in bundles)
      if need > have.get(resource, 0):
        raise ValueError(
            f'the run needs {need:g} {resource}s (bundles {bundles}) but the '
            f'Ray cluster has {have.get(resource, 0):g}; allowed: fewer '
            'workers, --learner_gpus=0, or a larger cluster')
    group = placement_group(bundles, strategy='SPREAD')
    self.ray.get(group.ready(), timeout=300)
    return group

  def _start(self, role: Role, replay_address: Optional[str]) -> None:
    from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy  # pylint: disable=g-import-not-at-top
    actor = self.remote.options(
        num_cpus=1, num_gpus=role.gpus,
        scheduling_strategy=PlacementGroupSchedulingStrategy(
            self.group, placement_group_bundle_index=role.bundle)).remote(
                self._log(f'{role.name}.log'), os.getcwd())
    placed = self.ray.get(actor.place.remote())
    if replay_address is None:  # The replay role.
      placed['port'] = self.ray.get(actor.free_port.remote())
      command = self.base + list(role.flags) + [
          f'--replay_port={placed["port"]}']
    else:
      command = self.base + list(role.flags) + [
          f'--replay_address={replay_address}']
    placed['pid'] = self.ray.get(actor.start.remote(command))
    placed['starts'] = self.restarts[role.name] + 1
    self.actors[role.name], self.placed[role.name] = actor, placed
    io_utils.atomic_write_text(self._log('roles.json'),
                               json.dumps(self.placed, indent=1) + '\n')

  def _log(self, name: str) -> str:
    return os.path.join(self.root_dir, 'logs', name)

  def _exit_code(self, role: Role) -> Optional[int]:
    """The role's exit code, None while it runs, -1 if its node is lost."""
    try:
      return self.ray.get(self.actors[role.name].poll.remote(), timeout=60)
    except (self.ray.exceptions.RayActorError,
            self.ray.exceptions.GetTimeoutError):
      return -1

  def _failed(self, role: Role, code: int) -> SystemExit:
    log = self._log(f'{role.name}.log')
    return SystemExit(f'role {role.name} exited with {code} (log: {log}):\n'
                      + run_queue.tail(log, 20))

  def run(self) -> None:
    try:
      self._start(self.roles[0], None)
      address = f'{self.placed["replay"]["host"]}:{self.placed["replay"]["port"]}'
      for role in self.roles[1:]:
        self._start(role, address)
      self._watch(address)
    finally:
      self._stop_all()

  def _watch(self, address: str) -> None:
    """Restarts dead workers until the learner ends; then lets the others
    see the end for up to `grace` seconds."""
    finished: set[str] = set()
    ended = None
    while True:
      for role in self.roles:
        if role.name in finished:
          continue
        code = self._exit_code(role)
        if code is None:
          continue
        if code == 0 and role.name != 'replay':  # Replay serves until stopped.
          finished.add(role.name)
        elif (not role.restartable or
              self.restarts[role.name] >= self.max_restarts):
          raise self._failed(role, code)
        else:
          self.restarts[role.name] += 1
          print(f'role {role.name} exited with {code}: restart '
                f'{self.restarts[role.name]} of {self.max_restarts}',
                flush=True)
          self.ray.kill(self.actors[role.name])  # Frees its bundle's CPU.
          self._start(role, address)
      if 'learn' in finished:
        ended = ended or time.monotonic()
        workers = {role.name for role in self.roles[2:]}
        if workers <= finished or time.monotonic() - ended > self.grace:
          return
      time.sleep(self.poll_seconds)

  def _stop_all(self) -> None:
    for actor in self.actors.values():
      try:
        self.ray.get(actor.stop.remote(), timeout=60)
      except (self.ray.exceptions.RayActorError,
              self.ray.exceptions.GetTimeoutError):
        pass  # A lost node took its process with it.
      self.ray.kill(actor)
    from ray.util import remove_placement_group  # pylint: disable=g-import-not-at-top
    remove_placement_group(self.group)
