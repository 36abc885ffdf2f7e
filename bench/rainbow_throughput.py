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
('policy/s').
"""

import os
import sys

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


def measure(name: str) -> dict:
  """All figures for one encoder (runs in a child process)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import reverb  # pylint: disable=g-import-not-at-top
  from rl_darts.rainbow import actors  # pylint: disable=g-import-not-at-top
  from rl_darts.rainbow import learning  # pylint: disable=g-import-not-at-top
  from rl_darts.rainbow import train  # pylint: disable=g-import-not-at-top

  fill = 2 * FLAGS.batch_size
  harness.parse_gin(name, f"""
      Environment.game = '{FLAGS.game}'
      Environment.num_envs = {FLAGS.num_envs}
      RainbowSettings.batch_size = {FLAGS.batch_size}
      RainbowSettings.min_replay_size = {fill}
  """)
  settings = train.RainbowSettings()
  env = settings.environment.make()
  server = reverb.Server([train.replay_table(settings, env)])
  address = f'localhost:{server.port}'
  client = reverb.Client(address)
  network, target = train.build_network(env), train.build_network(env)
  flops = harness.forward_flops(network)
  policy = actors.EpsilonGreedy(network, 0)
  epsilon = train.all_epsilons(settings, 1, 0)

  def rate(actor, steps: int) -> float:
    actor.step()  # Warm-up (traces the policy, resets the env).
    return harness.best_rate(actor.step, steps, env.batch_size)

  policy_rate = rate(actors.BatchedActor(env, policy, epsilon), 16)
  writer = actors.BatchedActor(env, policy, epsilon, client, settings.n_step,
                               settings.discount,
                               settings.environment.max_return)
  act_rate = rate(writer, 16)
  while client.server_info()[train.TABLE].current_size < fill:
    writer.step()

  learner = learning.RainbowLearner(
      network, target, learning.replay_dataset(address, train.TABLE,
                                               settings.batch_size),
      client, train.TABLE, settings.discount, settings.learning_rate,
      settings.importance_sampling_exponent, settings.target_update_period)
  learner.step()
  steps_per_s = harness.best_rate(learner.step, FLAGS.learner_steps, 1)
  writer.close()
  server.stop()
  samples = steps_per_s * settings.batch_size
  return {
      'params': int(sum(np.prod(v.shape)
                        for v in network.encoder.trainable_variables)),
      'mflops': flops / 1e6,
      'learner_steps': steps_per_s,
      'samples': samples,
      'gflops': 5 * flops * samples / 1e9,
      'act': act_rate,
      'policy': policy_rate,
      'peak_mb': harness.peak_mb(),
  }


def main(argv):
  del argv
  harness.main(
      __file__, measure, FLAGS.encoders or DEFAULT, harness.ENCODERS,
      f'Rainbow throughput, {FLAGS.game}, batch {FLAGS.batch_size}, '
      f'{FLAGS.num_envs} actor envs, {os.cpu_count()} CPU cores',
      [('params', 'params', 10, ','), ('MFLOP/smp', 'mflops', 11, '.1f'),
       ('learn st/s', 'learner_steps', 11, '.2f'), ('smp/s', 'samples', 8, '.0f'),
       ('GFLOP/s', 'gflops', 9, '.1f'), ('act/s', 'act', 8, '.0f'),
       ('policy/s', 'policy', 10, '.0f'), ('peak MB', 'peak_mb', 9, '.0f')],
      [f'--num_envs={FLAGS.num_envs}', f'--batch_size={FLAGS.batch_size}',
       f'--learner_steps={FLAGS.learner_steps}', f'--game={FLAGS.game}'],
      rate='samples')


if __name__ == '__main__':
  sys.path.insert(0, harness.REPO)
  import rl_darts  # pylint: disable=g-import-not-at-top,unused-import
  app.run(main)
