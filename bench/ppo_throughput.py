r"""PPO throughput per encoder: env steps/s (collect only, learn only, end to
end), peak memory, FLOPs per sample and achieved training GFLOP/s.

  python bench/ppo_throughput.py                      # all encoders, small rollouts
  python bench/ppo_throughput.py --num_envs=64 --rollout_length=256   # paper scale
  python bench/ppo_throughput.py --encoders=impala_16x3,classic_16x3

Each encoder runs in its own process (peak memory is that process's). Learn
only: PPO's train step on minibatches of the paper's size; GFLOP/s counts 3x
the forward FLOPs per sample (forward + backward). End to end: a steady-state
iteration of the real loop (Procgen, Reverb, PPOLearner) after a warm-up one.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

flags.DEFINE_list('encoders', None, 'Encoders to measure (default: all).')
flags.DEFINE_integer('num_envs', 16, 'Envs per rollout (paper: 64).')
flags.DEFINE_integer('rollout_length', 128, 'Steps per rollout (paper: 256).')
flags.DEFINE_string('game', 'starpilot', 'Procgen game.')
flags.DEFINE_string('child', None, 'Internal: measure one encoder, print JSON.')
FLAGS = flags.FLAGS

_DISCRETE = ("[[('Conv3x3Relu', 0)], [('Conv5x5Relu', 0), ('Conv3x3Relu', 1)],"
             " [('Skip', 1), ('DilConv3x3Relu', 2)], [('Conv3x3Relu', 0),"
             " ('Skip', 3)]]")
# name: (gin, minibatch, epochs) with the paper's batch settings: the Procgen
# standard for IMPALA-CNN, App. F.3's minibatch 256 and 1 epoch for DARTS.
ENCODERS = {
    'impala_16_32_32': ('make_encoder.network = @ImpalaCNN\n'
                        'ImpalaCNN.depths = [16, 32, 32]', 2048, 3),
    'impala_16x3': ('make_encoder.network = @ImpalaCNN\n'
                    'ImpalaCNN.depths = [16, 16, 16]', 2048, 3),
    'classic_16x3': ("include 'gin_configs/networks/classic_supernet.gin'",
                     256, 1),
    'micro_16x3': ("include 'gin_configs/networks/micro_supernet.gin'", 256, 1),
    'discrete_64x3': (
        "include 'gin_configs/networks/discrete_64x3.gin'\n"
        'DiscreteNetwork.genotype = @bench/Genotype()\n'
        f'bench/Genotype.normal = {_DISCRETE}\n'
        "bench/Genotype.reduce = [[('MaxPool3x3', 0)], [('Conv3x3', 0), "
        "('Skip', 1)], [('Conv3x3', 1), ('AveragePool3x3', 2)], "
        "[('Skip', 0), ('Conv3x3', 3)]]", 256, 1),
}


def forward_flops(encoder) -> int:
  """FLOPs of one sample's forward pass (TF's profiler on the graph)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  graph = tf.function(encoder).get_concrete_function(
      tf.TensorSpec([1, 64, 64, 3], tf.uint8)).graph
  options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
  options['output'] = 'none'
  return tf.compat.v1.profiler.profile(graph, options=options).total_float_ops


def measure(name: str) -> dict:
  """All figures for one encoder (runs in a child process)."""
  import gin  # pylint: disable=g-import-not-at-top
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from rl_darts import genotypes  # pylint: disable=g-import-not-at-top
  from rl_darts.ppo import agent as agent_lib  # pylint: disable=g-import-not-at-top
  from rl_darts.ppo import rollouts  # pylint: disable=g-import-not-at-top
  from rl_darts.ppo import train  # pylint: disable=g-import-not-at-top

  config, minibatch, epochs = ENCODERS[name]
  steps_per_iteration = FLAGS.num_envs * FLAGS.rollout_length
  gin.external_configurable(genotypes.Genotype, module='bench')
  gin.parse_config(config + f"""
      Settings.game = '{FLAGS.game}'
      Settings.num_envs = {FLAGS.num_envs}
      Settings.rollout_length = {FLAGS.rollout_length}
      Settings.minibatch_size = {min(minibatch, steps_per_iteration)}
      Settings.num_epochs = {epochs}
      Settings.eval_every = 0
      Settings.checkpoint_every = 1000
      Settings.total_env_steps = {2 * steps_per_iteration}
  """)
  settings = train.Settings()
  env = settings.make_env()
  agent = train.build_agent(env)
  encoder = agent_lib.encoder_of(agent)
  flops = forward_flops(encoder)

  # Collect only: the collect policy on Procgen, no Reverb.
  collector = rollouts.RolloutCollector(env, agent.collect_policy,
                                        settings.rollout_length)
  collector.collect()
  began = time.perf_counter()
  collector.collect()
  collect_rate = settings.steps_per_iteration / (time.perf_counter() - began)

  # Learn only: PPO train steps on minibatches of preprocessed experience.
  experience = collector.collect()
  batch = agent.preprocess_sequence(tf.nest.map_structure(
      tf.convert_to_tensor, experience))
  flat = tf.nest.map_structure(lambda x: tf.reshape(
      x, [-1, 1] + x.shape[2:].as_list()), batch)
  size = settings.minibatch_size
  minibatch_data = tf.nest.map_structure(lambda x: x[:size], flat)
  train_fn = tf.function(agent.train)
  train_fn(minibatch_data)
  steps = max(2, 1024 // size)
  began = time.perf_counter()
  for _ in range(steps):
    train_fn(minibatch_data).loss.numpy()
  learn_rate = steps * size / (time.perf_counter() - began)

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
      'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
  }


def main(argv):
  del argv
  if FLAGS.child:
    print('RESULT ' + json.dumps(measure(FLAGS.child)), flush=True)
    return
  names = FLAGS.encoders or list(ENCODERS)
  unknown = sorted(set(names) - set(ENCODERS))
  if unknown:
    raise app.UsageError(f'unknown encoders {unknown}; known: '
                         f'{", ".join(ENCODERS)}')
  print(f'PPO throughput, {FLAGS.game}, {FLAGS.num_envs} envs x '
        f'{FLAGS.rollout_length} steps, {os.cpu_count()} CPU cores')
  header = (f'{"encoder":<17}{"params":>10}{"MFLOP/smp":>11}{"collect/s":>11}'
            f'{"learn/s":>9}{"GFLOP/s":>9}{"e2e/s":>8}{"peak MB":>9}')
  print(header)
  results = {}
  for name in names:
    out = subprocess.run(
        [sys.executable, __file__, f'--child={name}',
         f'--num_envs={FLAGS.num_envs}',
         f'--rollout_length={FLAGS.rollout_length}', f'--game={FLAGS.game}'],
        capture_output=True, text=True, check=False,
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    lines = [l for l in out.stdout.splitlines() if l.startswith('RESULT ')]
    if not lines:
      print(f'{name}: failed\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}')
      continue
    r = results[name] = json.loads(lines[-1][len('RESULT '):])
    print(f'{name:<17}{r["params"]:>10,}{r["mflops"]:>11.1f}'
          f'{r["collect"]:>11.0f}{r["learn"]:>9.0f}{r["gflops"]:>9.1f}'
          f'{r["end_to_end"]:>8.0f}{r["peak_mb"]:>9.0f}', flush=True)
  base = results.get('impala_16x3')
  for name in ('classic_16x3', 'micro_16x3'):
    if base and name in results:
      r = results[name]
      flop_ratio = r['mflops'] / base['mflops']
      cost_ratio = base['learn'] / r['learn']
      print(f'{name} vs impala_16x3: FLOP ratio {flop_ratio:.1f}x, training '
            f'cost ratio {cost_ratio:.1f}x ({cost_ratio / flop_ratio:.2f} of '
            f'the FLOP ratio; target <= 1.10), GFLOP/s '
            f'{100 * r["gflops"] / base["gflops"]:.0f}% of IMPALA-CNN\'s '
            f'(target >= 90%)')


if __name__ == '__main__':
  sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  import rl_darts  # pylint: disable=g-import-not-at-top,unused-import
  app.run(main)
