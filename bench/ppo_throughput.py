r"""PPO throughput per encoder: env steps/s (collect only, learn only, end to
end), peak memory, FLOPs per sample and achieved training GFLOP/s.

  python bench/ppo_throughput.py                      # all encoders, small rollouts
  python bench/ppo_throughput.py --num_envs=64 --rollout_length=256   # paper scale
  python bench/ppo_throughput.py --encoders=impala_16x3,classic_16x3
  python bench/ppo_throughput.py --encoders=classic_16x3 --minibatch=2048 \
      --gradient_chunks=8      # memory: the paper's minibatch in chunks of 256
  python bench/ppo_throughput.py --encoders=classic_16x3 --recompute=inside_cells

Each encoder runs in its own process (peak memory is that process's); rates
are the best of 3 timings (other work on a shared machine only slows a run
down). Learn only: PPO's train step on minibatches of the paper's size;
GFLOP/s counts 3x the forward FLOPs per sample (forward + backward). End to
end: a steady-state iteration of the real loop (Procgen, Reverb, PPOLearner)
after a warm-up one. Last, one process times the learn steps of IMPALA-CNN
16x3 and the supernets in turn (--paired_rounds) for ratios that the
machine's drift between processes does not skew.
"""

import os
import sys
import tempfile
from typing import Callable

from absl import app
from absl import flags

import harness

flags.DEFINE_list('encoders', None, 'Encoders to measure (default: all).')
flags.DEFINE_integer('num_envs', 16, 'Envs per rollout (paper: 64).')
flags.DEFINE_integer('rollout_length', 128, 'Steps per rollout (paper: 256).')
flags.DEFINE_string('game', 'starpilot', 'Procgen game.')
flags.DEFINE_integer('minibatch', None, "Minibatch size (default: the paper's "
                     'for each encoder, BATCHES).', lower_bound=1)
FLAGS = flags.FLAGS

# name: (minibatch, epochs) with the paper's batch settings: the Procgen
# standard for IMPALA-CNN, App. F.3's minibatch 256 and 1 epoch for DARTS.
BATCHES = {'impala_16_32_32': (2048, 3), 'impala_16x3': (2048, 3),
           'classic_16x3': (256, 1), 'micro_16x3': (256, 1),
           'discrete_64x3': (256, 1)}


def _setup(name: str):
  """Binds encoder `name` and the flags: the settings, the PPO agent and a
  rollout collector of its collect policy on the game's env."""
  from rl_darts.agents.ppo import rollouts  # pylint: disable=g-import-not-at-top
  from rl_darts.agents.ppo import train  # pylint: disable=g-import-not-at-top
  minibatch, epochs = BATCHES[name]
  minibatch = FLAGS.minibatch or minibatch
  steps_per_iteration = FLAGS.num_envs * FLAGS.rollout_length
  harness.parse_gin(name, f"""
      Environment.game = '{FLAGS.game}'
      Environment.num_envs = {FLAGS.num_envs}
      PPOSettings.rollout_length = {FLAGS.rollout_length}
      PPOSettings.minibatch_size = {min(minibatch, steps_per_iteration)}
      PPOSettings.num_epochs = {epochs}
      PPOSettings.eval_every = 0
      PPOSettings.checkpoint_every = 1000
      PPOSettings.total_env_steps = {2 * steps_per_iteration}
      PPOSettings.gradient_chunks = {FLAGS.gradient_chunks}
  """ + harness.recompute_bindings())
  settings = train.PPOSettings()
  env = settings.environment.make()
  agent = train.build_agent(env, settings.gradient_chunks)
  return settings, agent, rollouts.RolloutCollector(
      env, agent.collect_policy, settings.rollout_length)


def _learn_step(settings, agent, collector) -> tuple[Callable[[], None], int]:
  """A warmed-up step of PPO train calls on one minibatch of preprocessed
  experience (at least 1,024 samples in all), and its samples. Only the
  rollouts the minibatch takes are preprocessed, a few at a time as the
  learner's dataset does (`PPOSettings.preprocess_rollouts`)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  experience = collector.collect()
  size = settings.minibatch_size
  length = experience.step_type.shape[1]
  needed = min(experience.step_type.shape[0], -(-size // length))
  piece = settings.preprocess_rollouts
  batch = tf.nest.map_structure(lambda *parts: tf.concat(parts, 0), *[
      agent.preprocess_sequence(tf.nest.map_structure(
          lambda x, i=i: tf.convert_to_tensor(x[i:i + piece]), experience))
      for i in range(0, needed, piece)])
  flat = tf.nest.map_structure(lambda x: tf.reshape(
      x, [-1, 1] + x.shape[2:].as_list()), batch)
  minibatch = tf.nest.map_structure(lambda x: x[:size], flat)
  train_fn = tf.function(agent.train, autograph=False)
  train_fn(minibatch)
  calls = max(2, 1024 // size)

  def step():
    for _ in range(calls):
      train_fn(minibatch).loss.numpy()

  return step, calls * size


def learn(name: str) -> tuple[Callable[[], None], int]:
  """Encoder `name`'s learn step (see `_learn_step`)."""
  return _learn_step(*_setup(name))


def measure(name: str) -> dict:
  """All figures for one encoder (runs in a child process)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from rl_darts.agents.ppo import agent as agent_lib  # pylint: disable=g-import-not-at-top
  from rl_darts.agents.ppo import train  # pylint: disable=g-import-not-at-top
  settings, agent, collector = _setup(name)
  encoder = agent_lib.encoder_of(agent)
  flops = harness.forward_flops(encoder)

  # Collect only: the collect policy on Procgen, no Reverb.
  collector.collect()
  collect_rate = harness.best_rate(collector.collect, 1,
                                   settings.steps_per_iteration)

  # Learn only: PPO train steps on minibatches of preprocessed experience.
  step, samples = _learn_step(settings, agent, collector)
  learn_rate = harness.best_rate(step, 1, samples)

  # End to end: the real loop; the second iteration is steady state.
  with tempfile.TemporaryDirectory() as root:
    end_to_end = train.train(root)['env_steps_per_s']
  return {
      'name': name,
      'params': int(sum(np.prod(v.shape) for v in encoder.trainable_variables)),
      'mflops': flops / 1e6,
      'collect': collect_rate,
      'learn': learn_rate,
      'gflops': 3 * flops * learn_rate / 1e9,
      'end_to_end': end_to_end,
      'peak_mb': harness.peak_mb(),
      'tensor_mb': harness.peak_tensor_mb(),
  }


def main(argv):
  del argv
  harness.main(
      __file__, measure, learn, FLAGS.encoders, BATCHES,
      f'PPO throughput, {FLAGS.game}, {FLAGS.num_envs} envs x '
      f'{FLAGS.rollout_length} steps, {os.cpu_count()} CPU cores'
      + (f', minibatch {FLAGS.minibatch}' if FLAGS.minibatch else '')
      + f', {FLAGS.gradient_chunks} chunk(s)'
      + harness.recompute_title(),
      [('params', 'params', 10, ','), ('MFLOP/smp', 'mflops', 11, '.1f'),
       ('collect/s', 'collect', 11, '.0f'), ('learn/s', 'learn', 9, '.0f'),
       ('GFLOP/s', 'gflops', 9, '.1f'), ('e2e/s', 'end_to_end', 8, '.0f'),
       ('peak MB', 'peak_mb', 9, '.0f'), ('tensor MB', 'tensor_mb', 11, '.0f')],
      [f'--num_envs={FLAGS.num_envs}', f'--rollout_length={FLAGS.rollout_length}',
       f'--game={FLAGS.game}', f'--gradient_chunks={FLAGS.gradient_chunks}',
       *harness.recompute_flags(),
       *([f'--minibatch={FLAGS.minibatch}'] if FLAGS.minibatch else [])],
      rate='learn')


if __name__ == '__main__':
  sys.path.insert(0, harness.REPO)
  import rl_darts  # pylint: disable=g-import-not-at-top,unused-import
  app.run(main)
