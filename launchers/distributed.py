"""Shared by the distributed launchers (PPO, Rainbow): replay flags, starting
every role as a local process."""

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
FLAGS = flags.FLAGS
LOCAL_ROLES = ('single', 'local', 'replay')  # Need no --replay_address.


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
          [f'--root_dir={FLAGS.root_dir}', f'--seed={FLAGS.seed}'] +
          (['--deterministic'] if FLAGS.deterministic else []) +
          (['--verbose'] if FLAGS.verbose else []))


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
  base = [sys.executable, '-m', module, *forwarded_flags(),
          f'--num_{worker}s={count}']
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
