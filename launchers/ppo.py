r"""PPO on Procgen (TF-Agents, Reverb): supernet search, discrete evaluation or
the IMPALA-CNN baseline, chosen by the gin config.

  python -m launchers.ppo --gin_configs=gin_configs/ppo/classic_search.gin \
      --root_dir=runs/classic_search
  python -m launchers.ppo --gin_configs=gin_configs/ppo/discrete_64x3.gin \
      --gin_bindings="DiscreteNetwork.genotype = 'runs/classic_search/genotype.json'" \
      --root_dir=runs/classic_eval

Roles (--role): single (default: everything in this process, in turn); local
(replay, learner, --num_collectors collectors and an evaluator as processes on
this machine); replay, learn, collect, eval (one role per process, any host:
pass --replay_address=HOST:PORT of the replay role to the others).

Writes under --root_dir: metrics.csv and tb/ (returns raw and normalized, loss,
env steps/s), checkpoints/ (a rerun resumes), and for a supernet alpha.csv,
alpha.png, genotypes/, genotype.json and cell diagrams. Distributed collectors
write collector_<id>.csv, the evaluator eval.csv.
"""

import os
import signal
import subprocess
import sys

from absl import app
from absl import flags
import portpicker

from launchers import common
from rl_darts.ppo import train

ROLES = ('single', 'local', 'replay', 'learn', 'collect', 'eval')
flags.DEFINE_string('root_dir', None, 'Where the run writes; reruns resume.')
flags.DEFINE_enum('role', 'single', ROLES, 'What this process does.')
flags.DEFINE_integer('replay_port', None,
                     'Port of the Reverb server (single, local, replay; '
                     'default: a free port).')
flags.DEFINE_string('replay_address', None,
                    'HOST:PORT of the replay role (learn, collect, eval).')
flags.DEFINE_integer('num_collectors', 2, 'Collector processes (local, '
                     'replay, learn).')
flags.DEFINE_integer('collector_id', 0, 'This collector\'s index (collect).')
FLAGS = flags.FLAGS


def _forwarded_flags() -> list[str]:
  return ([f'--gin_configs={c}' for c in FLAGS.gin_configs] +
          [f'--gin_bindings={b}' for b in FLAGS.gin_bindings] +
          [f'--root_dir={FLAGS.root_dir}'] +
          (['--verbose'] if FLAGS.verbose else []))


def run_local() -> None:
  """Starts every role as a process here; returns when the learner is done."""
  port = FLAGS.replay_port or portpicker.pick_unused_port()
  address = f'localhost:{port}'
  base = [sys.executable, '-m', 'launchers.ppo', *_forwarded_flags(),
          f'--num_collectors={FLAGS.num_collectors}']
  replay = subprocess.Popen(base + ['--role=replay', f'--replay_port={port}'])
  others = [subprocess.Popen(base + ['--role=collect', f'--collector_id={i}',
                                     f'--replay_address={address}'])
            for i in range(FLAGS.num_collectors)]
  if train.Settings().eval_every:
    others.append(subprocess.Popen(base + ['--role=eval',
                                           f'--replay_address={address}']))
  learner = subprocess.Popen(base + ['--role=learn',
                                     f'--replay_address={address}'])
  try:
    if learner.wait():
      raise app.UsageError(f'the learner failed (exit {learner.returncode})')
    for process in others:
      process.wait(timeout=600)  # They stop once the learner's last policy says so.
  finally:
    for process in others + [learner, replay]:
      if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    for process in others + [learner, replay]:
      process.wait()


def main(argv):
  del argv
  common.parse_gin()
  if not FLAGS.root_dir:
    raise app.UsageError('--root_dir is required: where the run writes')
  needs_address = FLAGS.role in ('learn', 'collect', 'eval')
  if needs_address and not FLAGS.replay_address:
    raise app.UsageError(f'--role={FLAGS.role} needs --replay_address=HOST:PORT '
                         f'of the --role=replay process')
  if FLAGS.num_collectors < 1:
    raise app.UsageError(f'--num_collectors must be >= 1, got '
                         f'{FLAGS.num_collectors}')
  with common.user_errors():
    if FLAGS.role == 'single':
      train.train(FLAGS.root_dir, replay_port=FLAGS.replay_port)
    elif FLAGS.role == 'local':
      run_local()
    elif FLAGS.role == 'replay':
      train.serve_replay(FLAGS.root_dir, FLAGS.replay_port or
                         portpicker.pick_unused_port(), FLAGS.num_collectors)
    elif FLAGS.role == 'learn':
      train.learn(FLAGS.root_dir, FLAGS.replay_address, FLAGS.num_collectors)
    elif FLAGS.role == 'collect':
      train.collect(FLAGS.root_dir, FLAGS.replay_address, FLAGS.collector_id)
    else:
      train.evaluate(FLAGS.root_dir, FLAGS.replay_address)
  if FLAGS.role in ('single', 'learn'):
    print(f'Wrote metrics, checkpoints and (for a search) the genotype, cell '
          f'diagrams and alpha plot to {os.path.abspath(FLAGS.root_dir)}')


if __name__ == '__main__':
  app.run(main)
