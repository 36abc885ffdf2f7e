r"""Rainbow throughput per encoder: learner steps/s, actor env steps/s, peak
memory, FLOPs per sample and achieved training GFLOP/s.

  python bench/rainbow_throughput.py                  # IMPALA-CNN and Micro, 16x3
  python bench/rainbow_throughput.py --encoders=impala_16x3,micro_16x3,classic_16x3

Each encoder runs in its own process; rates are the best of 3 timings (other
work on a shared machine only slows a run down). Learner: RainbowLearner steps
at the paper's batch of 256 from a real Reverb prioritized table (Acme
dataset, priority updates included). A learner sample costs 5 forward passes'
FLOPs: forward and backward (3x) on the observation, the online and the target
network on the next one. Actor: epsilon-greedy steps of a batched Procgen env,
with Acme's n-step adders writing to Reverb ('act/s') and without
('policy/s'). Last, one process times the learner steps of IMPALA-CNN 16x3
and the supernets in turn (--paired_rounds) for ratios that the machine's
drift between processes does not skew.
"""

import os
import sys
from typing import Callable

from absl import app
from absl import flags

import harness

flags.DEFINE_list('encoders', None, 'Encoders to measure (default: '
                  'impala_16x3, micro_16x3).')
flags.DEFINE_integer('num_envs', 16, 'Envs of the batched actor.')
flags.DEFINE_integer('batch_size', 256, 'Learner batch (App. F.2: 256).')
flags.DEFINE_integer('learner_steps', 4, 'Learner steps timed.')
flags.DEFINE_string('game', 'starpilot', 'Procgen game.')
FLAGS = flags.FLAGS
DEFAULT = ('impala_16x3', 'micro_16x3')
_SERVERS = []  # This process's Reverb servers: one stops when collected.


def _setup(name: str):
  """Binds encoder `name` and the flags; starts a Reverb server with the
  replay table. Returns the settings, env, server, online and target
  networks, and an actor writing n-step transitions to the table."""
  import reverb  # pylint: disable=g-import-not-at-top
  from rl_darts.agents.rainbow import actors  # pylint: disable=g-import-not-at-top
  from rl_darts.agents.rainbow import train  # pylint: disable=g-import-not-at-top
  harness.parse_gin(name, f"""
      Environment.game = '{FLAGS.game}'
      Environment.num_envs = {FLAGS.num_envs}
      RainbowSettings.batch_size = {FLAGS.batch_size}
      RainbowSettings.min_replay_size = {2 * FLAGS.batch_size}
      RainbowSettings.gradient_chunks = {FLAGS.gradient_chunks}
  """ + harness.recompute_bindings())
  settings = train.RainbowSettings()
  env = settings.environment.make()
  server = reverb.Server([train.replay_table(settings, env)])
  _SERVERS.append(server)
  network, target = train.build_network(env), train.build_network(env)
  writer = actors.BatchedActor(
      env, actors.EpsilonGreedy(network, 0), train.all_epsilons(settings, 1, 0),
      reverb.Client(f'localhost:{server.port}'), settings.n_step,
      settings.discount, settings.reward_scale)
  return settings, env, server, network, target, writer


def _learner_step(settings, server, network, target, writer
                  ) -> tuple[Callable[[], None], int]:
  """Fills the table to 2 batches with `writer` (closed then), then a
  warmed-up RainbowLearner step (sampling the table and updating priorities)
  and the samples it takes."""
  import reverb  # pylint: disable=g-import-not-at-top
  from rl_darts.agents.rainbow import learning  # pylint: disable=g-import-not-at-top
  from rl_darts.agents.rainbow import train  # pylint: disable=g-import-not-at-top
  address = f'localhost:{server.port}'
  client = reverb.Client(address)
  while client.server_info()[train.TABLE].current_size < 2 * FLAGS.batch_size:
    writer.step()
  writer.close()
  learner = learning.RainbowLearner(
      network, target, learning.replay_dataset(address, train.TABLE,
                                               settings.batch_size),
      client, train.TABLE, settings.discount, settings.learning_rate,
      settings.importance_sampling_exponent, settings.target_update_period,
      gradient_chunks=settings.gradient_chunks)
  learner.step()
  return learner.step, settings.batch_size


def learn(name: str) -> tuple[Callable[[], None], int]:
  """Encoder `name`'s learner step (see `_learner_step`)."""
  settings, _, server, network, target, writer = _setup(name)
  return _learner_step(settings, server, network, target, writer)


def measure(name: str) -> dict:
  """All figures for one encoder (runs in a child process)."""
  from rl_darts.agents.rainbow import actors  # pylint: disable=g-import-not-at-top
  settings, env, server, network, target, writer = _setup(name)
  flops = harness.forward_flops(network)

  def rate(actor, steps: int) -> float:
    actor.step()  # Warm-up (traces the policy, resets the env).
    return harness.best_rate(actor.step, steps, env.batch_size)

  policy_rate = rate(actors.BatchedActor(env, writer.policy,
                                         writer.base_epsilon), 16)
  act_rate = rate(writer, 16)
  step, samples = _learner_step(settings, server, network, target, writer)
  samples_per_s = harness.best_rate(step, FLAGS.learner_steps, samples)
  server.stop()
  return harness.learner_result(network.encoder, flops, 5, samples_per_s,
                                settings.batch_size, act_rate, policy_rate)


def main(argv):
  del argv
  harness.main(
      __file__, measure, learn, FLAGS.encoders or DEFAULT, harness.ENCODERS,
      f'Rainbow throughput, {FLAGS.game}, batch {FLAGS.batch_size} in '
      f'{FLAGS.gradient_chunks} chunk(s), {FLAGS.num_envs} actor envs, '
      f'{os.cpu_count()} CPU cores'
      + harness.recompute_title(),
      harness.LEARNER_COLUMNS,
      [f'--num_envs={FLAGS.num_envs}', f'--batch_size={FLAGS.batch_size}',
       f'--learner_steps={FLAGS.learner_steps}', f'--game={FLAGS.game}',
       f'--gradient_chunks={FLAGS.gradient_chunks}',
       *harness.recompute_flags()],
      rate='samples')


if __name__ == '__main__':
  sys.path.insert(0, harness.REPO)
  import rl_darts  # pylint: disable=g-import-not-at-top,unused-import
  app.run(main)
