r"""SAC throughput per encoder on DM-Control from 64x64 pixels (App. A.3):
learner steps/s, actor env steps/s, peak memory, FLOPs per sample and
achieved training GFLOP/s.

  python bench/sac_throughput.py                       # conv4, micro_32x3
  python bench/sac_throughput.py --task=walker-walk --batch_size=128

Each encoder runs in its own process; rates are the best of 3 timings.
Learner: TF-Agents SacAgent train steps at --batch_size from a real Reverb
table (TF-Agents' Reverb replay dataset). A learner sample costs 13 encoder
forward passes' FLOPs in TF-Agents' SAC: each of the two critics encodes the
observation (forward and backward, 2 x 3), the two target critics the next
one (2), the actor the next and this one (2) and again for the temperature
(1), and the critics this one for the actor loss (2). Actor: collect-policy
steps of the rendered, action-repeated env with TF-Agents' Reverb observer
writing ('act/s', env steps/s: agent steps x action repeat) and the policy
alone on one observation ('policy/s', actions/s).
"""

import os
import sys

from absl import app
from absl import flags

import harness

flags.DEFINE_list('encoders', None, 'Encoders to measure (default: conv4, '
                  'micro_32x3).')
flags.DEFINE_string('task', 'cheetah-run', 'DM-Control domain-task.')
flags.DEFINE_integer('batch_size', 128, 'Learner batch (SAC-AE: 128).')
flags.DEFINE_integer('learner_steps', 4, 'Learner steps timed.')
flags.DEFINE_integer('agent_steps', 32, 'Actor steps timed.')
FLAGS = flags.FLAGS
DEFAULT = ('conv4', 'micro_32x3')
FORWARDS_PER_SAMPLE = 13
_SERVERS = []  # This process's Reverb servers: one stops when collected.


def _setup(name: str):
  """Binds encoder `name` and the flags; returns settings, env, agent,
  encoder, the Reverb server and an observer writing to its table."""
  import reverb  # pylint: disable=g-import-not-at-top
  from tf_agents.replay_buffers import reverb_utils  # pylint: disable=g-import-not-at-top
  from rl_darts.agents.sac import train  # pylint: disable=g-import-not-at-top
  domain, task = FLAGS.task.split('-', 1)
  harness.parse_gin(name, f"""
      import rl_darts.agents.sac.train
      ControlTask.domain = '{domain}'
      ControlTask.task = '{task}'
      SACSettings.batch_size = {FLAGS.batch_size}
      SACSettings.gradient_chunks = {FLAGS.gradient_chunks}
  """ + harness.recompute_bindings())
  settings = train.SACSettings()
  env = settings.task.make(0)
  agent, encoder = train.build_agent(settings, env)
  server = reverb.Server([train.replay_table(settings, agent)])
  _SERVERS.append(server)
  observer = reverb_utils.ReverbAddTrajectoryObserver(
      reverb.Client(f'localhost:{server.port}'), train.TABLE,
      sequence_length=2, stride_length=1)
  return settings, env, agent, encoder, server, observer


def _learner_step(settings, env, agent, server, observer):
  """Fills the table to 2 batches with random actions, then a warmed-up
  SacAgent train step and the samples it takes."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tf_agents.drivers import py_driver  # pylint: disable=g-import-not-at-top
  from tf_agents.policies import random_py_policy  # pylint: disable=g-import-not-at-top
  from tf_agents.replay_buffers import reverb_replay_buffer  # pylint: disable=g-import-not-at-top
  from rl_darts.agents.sac import train  # pylint: disable=g-import-not-at-top
  policy = random_py_policy.RandomPyPolicy(env.time_step_spec(),
                                           env.action_spec())
  py_driver.PyDriver(env, policy, [observer],
                     max_steps=2 * FLAGS.batch_size).run(env.reset())
  experience = iter(reverb_replay_buffer.ReverbReplayBuffer(
      agent.collect_data_spec, train.TABLE, sequence_length=2,
      local_server=server).as_dataset(
          sample_batch_size=settings.batch_size, num_steps=2).prefetch(2))
  train_step = tf.function(agent.train, autograph=False)
  step = lambda: train_step(next(experience)[0])  # pylint: disable=unnecessary-lambda-assignment
  step()
  return step, settings.batch_size


def learn(name: str):
  """Encoder `name`'s learner step (see `_learner_step`)."""
  settings, env, agent, _, server, observer = _setup(name)
  return _learner_step(settings, env, agent, server, observer)


def measure(name: str) -> dict:
  """All figures for one encoder (runs in a child process)."""
  from tf_agents.drivers import py_driver  # pylint: disable=g-import-not-at-top
  from tf_agents.policies import py_tf_eager_policy  # pylint: disable=g-import-not-at-top
  settings, env, agent, encoder, server, observer = _setup(name)
  shape = (1,) + env.observation_spec().shape
  flops = harness.forward_flops(encoder, shape)
  collect = py_tf_eager_policy.PyTFEagerPolicy(agent.collect_policy,
                                               use_tf_function=True)
  driver = py_driver.PyDriver(env, collect, [observer], max_steps=1)
  state = {'time_step': env.reset()}

  def act() -> None:
    state['time_step'], _ = driver.run(state['time_step'])

  act()  # Warm-up: traces the policy.
  act_rate = harness.best_rate(act, FLAGS.agent_steps, settings.task.repeat)
  time_step = state['time_step']
  policy_rate = harness.best_rate(lambda: collect.action(time_step),
                                  FLAGS.agent_steps, 1)
  step, samples = _learner_step(settings, env, agent, server, observer)
  samples_per_s = harness.best_rate(step, FLAGS.learner_steps, samples)
  server.stop()
  return harness.learner_result(encoder, flops, FORWARDS_PER_SAMPLE,
                                samples_per_s, settings.batch_size, act_rate,
                                policy_rate)


def main(argv):
  del argv
  harness.main(
      __file__, measure, learn, FLAGS.encoders or DEFAULT, harness.ENCODERS,
      f'SAC throughput, {FLAGS.task} from 64x64 pixels, batch '
      f'{FLAGS.batch_size} in {FLAGS.gradient_chunks} chunk(s), '
      f'{os.cpu_count()} CPU cores' + harness.recompute_title(),
      harness.LEARNER_COLUMNS,
      [f'--task={FLAGS.task}', f'--batch_size={FLAGS.batch_size}',
       f'--gradient_chunks={FLAGS.gradient_chunks}',
       f'--learner_steps={FLAGS.learner_steps}',
       f'--agent_steps={FLAGS.agent_steps}', *harness.recompute_flags()],
      rate='samples')


if __name__ == '__main__':
  sys.path.insert(0, harness.REPO)
  import rl_darts  # pylint: disable=g-import-not-at-top,unused-import
  app.run(main)
