"""Shared by the distributed launchers (PPO, Rainbow): replay flags, starting
every role as a local process or on a Ray cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from absl import app
from absl import flags
import portpicker

flags.DEFINE_integer('replay_port', None,
                     'Port of the Reverb server (single, local, replay; '
                     'default: a free port).')
flags.DEFINE_string('replay_address', None,
                    'HOST:PORT of the replay role (for the other roles).')
flags.DEFINE_float('learner_gpus', None, 'ray: GPUs of the replay and learner '
                   "bundle (default: 1 if the cluster has a GPU, else 0).",
                   lower_bound=0)
flags.DEFINE_integer('max_restarts', 3, 'ray: restarts of each collector, '
                     'actor or evaluator that dies.', lower_bound=0)
FLAGS = flags.FLAGS
LOCAL_ROLES = ('single', 'local', 'ray', 'replay')  # No --replay_address.


def check_flags(role: str, worker: str) -> None:
  """A remote role needs --replay_address; the launcher's --num_{worker}s
  and --{worker}_id must agree (`common.seed_run` requires --root_dir)."""
  if role not in LOCAL_ROLES and not FLAGS.replay_address:
    raise app.UsageError(f'--role={role} needs --replay_address=HOST:PORT '
                         f'of the --role=replay process')
  count, index = FLAGS[f'num_{worker}s'].value, FLAGS[f'{worker}_id'].value
  if count < 1 or not 0 <= index < count:
    raise app.UsageError(f'need --num_{worker}s >= 1 and 0 <= --{worker}_id '
                         f'< --num_{worker}s; got {count} and {index}')


def replay_port() -> int:
  """--replay_port, or a free port."""
  return FLAGS.replay_port or portpicker.pick_unused_port()


def report(role: str) -> None:
  """Tells where a run that writes artifacts (single, learn) put them."""
  if role in ('single', 'learn'):
    print(f'Wrote metrics, checkpoints and (for a search) the genotype, cell '
          f'diagrams and alpha plot to {os.path.abspath(FLAGS.root_dir)}')


def forwarded_flags() -> list[str]:
  """This process's gin, root, seed and logging flags, for the processes it
  starts."""
  return ([f'--gin_configs={c}' for c in FLAGS.gin_configs] +
          [f'--gin_bindings={b}' for b in FLAGS.gin_bindings] +
          [f'--root_dir={os.path.abspath(FLAGS.root_dir)}',
           f'--seed={FLAGS.seed}'] +
          (['--deterministic'] if FLAGS.deterministic else []) +
          (['--verbose'] if FLAGS.verbose else []))


def _command(module: str, worker: str, count: int) -> list[str]:
  """The launcher command every role of this run extends with its own."""
  return [sys.executable, '-m', module, *forwarded_flags(),
          f'--num_{worker}s={count}']


def run_roles(where: str, module: str, worker_role: str, worker: str,
              count: int, evaluate: bool, grace: float = 600.0) -> None:
  """Every role of the run, here (`where` 'local') or on Ray ('ray')."""
  run = run_local if where == 'local' else run_ray
  run(module, worker_role, worker, count, evaluate, grace)


def run_local(module: str, worker_role: str, worker: str, count: int,
              evaluate: bool, grace: float = 600.0) -> None:
  """Starts `module`'s replay role, `count` processes of `worker_role` (flags
  --num_{worker}s and --{worker}_id), an evaluator if `evaluate`, and the
  learner, all on this machine; returns when the learner is done and the
  others have stopped (they are terminated after `grace` seconds)."""
  workers = [[f'--role={worker_role}', f'--{worker}_id={i}']
             for i in range(count)] + ([['--role=eval']] if evaluate else [])
  port = replay_port()
  address = f'localhost:{port}'
  base = _command(module, worker, count)
  replay = subprocess.Popen(base + ['--role=replay', f'--replay_port={port}'])
  others = [subprocess.Popen(base + list(flags_) +
                             [f'--replay_address={address}'])
            for flags_ in workers]
  learner = subprocess.Popen(base + ['--role=learn',
                                     f'--replay_address={address}'])
  try:
    if learner.wait():
      raise app.UsageError(f'the learner failed (exit {learner.returncode})')
    for process in others:
      try:
        process.wait(timeout=grace)  # They stop once they see the end.
      except subprocess.TimeoutExpired:
        pass
  finally:
    for process in others + [learner, replay]:
      if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    for process in others + [learner, replay]:
      process.wait()


def run_ray(module: str, worker_role: str, worker: str, count: int,
            evaluate: bool, grace: float = 600.0) -> None:
  """`run_local`'s roles on the Ray cluster at --ray_address (none: a local
  one), placed and restarted by `ray_roles.RayRun`."""
  from rl_darts.runtime import ray_roles  # pylint: disable=g-import-not-at-top
  from rl_darts.runtime import executors  # pylint: disable=g-import-not-at-top
  gpus = FLAGS.learner_gpus
  if gpus is None:
    ray = executors.connect_ray(FLAGS.ray_address)
    gpus = 1.0 if ray.cluster_resources().get('GPU', 0) >= 1 else 0.0
  ray_roles.RayRun(_command(module, worker, count), FLAGS.root_dir,
                   ray_roles.roles(worker_role, worker, count, evaluate, gpus),
                   FLAGS.ray_address, FLAGS.max_restarts, grace).run()
