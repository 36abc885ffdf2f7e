"""One PPO training loop for every encoder: search, evaluation and baselines.

The encoder (supernet, discrete network, IMPALA-CNN) is the only difference
between a search and an evaluation run; it is chosen by gin. Rollouts go
through a real Reverb server on localhost (two FIFO queue tables, as in
TF-Agents' PPO example: one to train on, one the learner reads to count
frames), and TF-Agents' PPOLearner trains on them.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Optional

import gin
import reverb
import tensorflow as tf
from tf_agents.experimental.distributed import reverb_variable_container
from tf_agents.specs import tensor_spec
from tf_agents.train import ppo_learner

from rl_darts.agents.ppo import agent as agent_lib
from rl_darts.agents.ppo import rollouts
from rl_darts.envs import environments
from rl_darts.runtime import recording
from rl_darts.runtime import runs

TABLES = ('training', 'normalization')
# The zero-shot cell's play on test levels (runs.ZeroShot).
ZERO_SHOT_TEST = recording.ZERO_SHOT_PREFIX + 'test'


@gin.configurable
@dataclasses.dataclass
class PPOSettings:
  """A PPO run's settings; gin binds them (`PPOSettings.rollout_length = 256`)
  and the game's (`Environment.game = 'dodgeball'`).

  Defaults are the Procgen PPO standard (Cobbe et al. 2020): 64 envs x 256
  steps, 8 minibatches of 2048, 3 epochs.
  """

  rollout_length: int = 256
  num_epochs: int = 3
  minibatch_size: int = 2048
  gradient_chunks: int = 1  # Each minibatch as this many chunks, one step
  # (exact; memory of one chunk's activations: ppo.agent.ChunkedPPOAgent).
  preprocess_rollouts: int = 2  # Rollouts whose values are computed at once.
  total_env_steps: int = 25_000_000
  scale_rewards: bool = True
  eval_every: int = 10  # Iterations between test-level evaluations (0: never).
  eval_steps: int = 256  # Env steps per eval env per evaluation.
  record_every: int = 1  # Iterations between alpha records.
  zero_shot_eval: bool = True  # With a supernet: at each evaluation, also its
  # discretized cell with the supernet's weights (runs.ZeroShot).
  checkpoint_every: int = 10  # Iterations between checkpoints.
  discretize_at: Optional[int] = None  # Env step of genotype.json (a
  # supernet's; None: the end; the final cell is also genotype_final.json).
  environment: runs.Environment = dataclasses.field(
      default_factory=runs.Environment)

  def __post_init__(self):
    runs.check_at_least(self, rollout_length=1, num_epochs=1,
                        minibatch_size=1, gradient_chunks=1,
                        preprocess_rollouts=1,
                        total_env_steps=1, eval_every=0, eval_steps=1,
                        record_every=1, checkpoint_every=1)
    if self.minibatch_size % self.gradient_chunks:
      raise ValueError(f'PPOSettings.gradient_chunks {self.gradient_chunks} '
                       f'does not divide minibatch_size '
                       f'{self.minibatch_size}: pick a divisor')
    frames = self.environment.num_envs * (self.rollout_length + 1)
    if self.minibatch_size > frames:
      raise ValueError(f'minibatch_size {self.minibatch_size} exceeds the '
                       f'{frames} steps of one rollout')

  @property
  def num_envs(self) -> int:
    return self.environment.num_envs

  @property
  def steps_per_iteration(self) -> int:
    return self.num_envs * self.rollout_length


def build_agent(env: environments.BatchedEnvironment,
                gradient_chunks: int = 1):
  """The gin-configured PPO agent for this env's specs; a learner's trains
  each minibatch as `gradient_chunks` chunks."""
  return agent_lib.make_agent(
      tensor_spec.from_spec(env.time_step_spec()),
      tensor_spec.from_spec(env.action_spec()),
      tf.Variable(0, dtype=tf.int64, name='train_step'),
      gradient_chunks=gradient_chunks)


def reward_scaler(settings: PPOSettings, agent
                  ) -> Optional[rollouts.ReturnScaler]:
  """The return-std reward scaler at the agent's discount (None if off)."""
  if not settings.scale_rewards:
    return None
  return rollouts.ReturnScaler(settings.num_envs, agent._discount_factor)  # pylint: disable=protected-access


def replay_tables(agent, settings: PPOSettings, num_collectors: int = 0
                  ) -> list[reverb.Table]:
  """FIFO queues of whole rollouts, each item sampled once; with collectors,
  also the table through which the learner ships its variables."""
  signature = tensor_spec.add_outer_dim(agent.collect_data_spec,
                                        settings.rollout_length + 1)
  capacity = settings.num_envs * max(num_collectors, 1)
  tables = [reverb.Table.queue(name, max_size=capacity, signature=signature)
            for name in TABLES]
  if num_collectors:
    variables = shipped_variables(agent, tf.Variable(0, dtype=tf.int64))
    tables.append(reverb.Table(
        reverb_variable_container.DEFAULT_TABLE,
        sampler=reverb.selectors.Uniform(), remover=reverb.selectors.Fifo(),
        rate_limiter=reverb.rate_limiters.MinSize(1), max_size=1,
        max_times_sampled=0,
        signature=tf.nest.map_structure(
            lambda v: tf.TensorSpec(v.shape, v.dtype), variables)))
  return tables


def shipped_variables(agent, env_steps: tf.Variable) -> dict:
  """What the learner sends collectors: policy weights (alpha included) and
  the counters that tell them which policy this is and when to stop."""
  return {reverb_variable_container.POLICY_KEY: agent.collect_policy.variables(),
          reverb_variable_container.TRAIN_STEP_KEY: agent.train_step_counter,
          'env_steps': env_steps}


def rollout_dataset(address: str, table: str, agent, sequence_length: int,
                    num_items: int, preprocess_rollouts: int
                    ) -> tf.data.Dataset:
  """Exactly `num_items` rollouts from a queue table, as one preprocessed batch.

  `max_samples` closes the stream after them, so no prefetch can take (and
  lose) items of the next iteration; TF-Agents' ReverbReplayBuffer datasets
  keep requesting, which suits replay but not on-policy queues. Values and
  advantages are computed `preprocess_rollouts` rollouts at a time (each
  rollout's own, so exactly as for all at once): one forward over every
  frame of a paper-size rollout would hold the encoder's activations for
  16K frames.
  """
  spec = tensor_spec.add_outer_dim(agent.collect_data_spec, sequence_length)
  dataset = reverb.TrajectoryDataset(
      address, table,
      dtypes=tf.nest.map_structure(lambda s: s.dtype, spec),
      shapes=tf.nest.map_structure(lambda s: s.shape, spec),
      max_in_flight_samples_per_worker=num_items, num_workers_per_iterator=1,
      max_samples=num_items)
  # Sample info has no time axis, which minibatching needs: drop it (unused).
  return (dataset.batch(preprocess_rollouts)
          .map(lambda sample: agent.preprocess_sequence(sample.data))
          .unbatch().batch(num_items).map(lambda data: (data, ())))


class Evaluator:
  """Runs the collect policy on test levels; mean return of finished episodes
  (`<prefix>_return`, ...)."""

  def __init__(self, settings: PPOSettings, env: environments.BatchedEnvironment,
               policy, prefix: str = 'test'):
    self.settings, self.prefix = settings, prefix
    self.collector = rollouts.RolloutCollector(env, policy,
                                               settings.eval_steps)

  def evaluate(self) -> dict:
    self.collector.collect()
    return runs.episode_metrics(
        self.settings.environment, self.collector.env.stats.pop_with_envs(),
        self.prefix, lengths=False)


def evaluators(settings: PPOSettings, root_dir: str, agent,
               test_env: Optional[environments.BatchedEnvironment] = None
               ) -> list:
  """The test-level evaluator (on `test_env` if given) and, with a supernet
  encoder, its zero-shot discretization's beside it (`discrete_test_return`),
  on test levels of their own."""
  if not settings.eval_every:
    return []
  found = [Evaluator(settings, test_env or settings.environment.make(
      test=True, root_dir=root_dir), agent.collect_policy)]
  supernet = runs.zero_shot_supernet(agent_lib.encoder_of(agent), settings)
  if supernet is not None:
    found.append(runs.ZeroShot(Evaluator(
        settings, settings.environment.make(test=True, seed_offset=1,
                                            root_dir=root_dir),
        agent.collect_policy, ZERO_SHOT_TEST), supernet))
  return found


def evaluate_all(testers: list) -> dict:
  """The metrics of every evaluator of `evaluators`, merged."""
  metrics = {}
  for tester in testers:
    metrics.update(tester.evaluate())
  return metrics


class Learner:
  """The learning side of every PPO run: agent, PPOLearner over the Reverb
  tables at `address`, and the run's bookkeeping (`runs.RunLog`)."""

  COLUMNS = ['step', 'iteration', 'train_return', 'train_return_normalized',
             'train_episode_length', 'test_return', 'test_return_normalized',
             'loss', 'env_steps_per_s']

  def __init__(self, root_dir: str, settings: PPOSettings, agent,
               num_collectors: int = 1, **trackables):
    self.root_dir, self.settings, self.agent = root_dir, settings, agent
    encoder = agent_lib.encoder_of(agent)
    self.log = runs.RunLog(
        root_dir, encoder, self.COLUMNS + runs.game_columns(
            settings.environment, ('train', 'test')) + (
                runs.return_columns(settings.environment, ZERO_SHOT_TEST)
                if runs.zero_shot_supernet(encoder, settings) else []),
        settings.total_env_steps, 'ppo', settings.discretize_at, agent=agent,
        optimizer=agent._optimizer,  # pylint: disable=protected-access
        **trackables)
    self.env_steps = self.log.counter
    self.steps_per_iteration = settings.steps_per_iteration * num_collectors
    self.iteration = self.log.start // self.steps_per_iteration
    self.num_items = settings.num_envs * num_collectors
    self.ppo_learner = None

  def connect(self, address: str) -> None:
    """Builds TF-Agents' PPOLearner over the Reverb tables at `address`."""
    sequence_length = self.settings.rollout_length + 1

    def dataset_fn(table: str):
      return lambda: rollout_dataset(address, table, self.agent,
                                     sequence_length, self.num_items,
                                     self.settings.preprocess_rollouts)

    self.ppo_learner = ppo_learner.PPOLearner(
        os.path.join(self.root_dir, 'learner'), self.agent.train_step_counter,
        self.agent, experience_dataset_fn=dataset_fn(TABLES[0]),
        normalization_dataset_fn=dataset_fn(TABLES[1]), num_samples=1,
        num_epochs=self.settings.num_epochs,
        minibatch_size=self.settings.minibatch_size,
        shuffle_buffer_size=self.num_items * sequence_length,
        checkpoint_interval=-1, summary_interval=10**9)

  @property
  def done(self) -> bool:
    return self.log.done

  def learn(self, began: float, episodes=(), extra: Optional[dict] = None
            ) -> dict:
    """Trains on one iteration's rollouts, then logs, records, checkpoints."""
    loss = float(self.ppo_learner.run().loss)
    self.env_steps.assign_add(self.steps_per_iteration)
    self.iteration += 1
    metrics = {'iteration': self.iteration, 'loss': loss,
               'env_steps_per_s': self.steps_per_iteration / (
                   time.monotonic() - began),
               **runs.episode_metrics(self.settings.environment, episodes),
               **(extra or {})}
    self.log.write(
        metrics, episodes,
        record_alpha=self.iteration % self.settings.record_every == 0,
        checkpoint=self.iteration % self.settings.checkpoint_every == 0)
    return {'step': self.log.step, **metrics}

  def finish(self) -> None:
    self.log.finish()


@gin.configurable
def train(root_dir: str, replay_port: Optional[int] = None) -> dict:
  """A whole PPO run in one process (replay, collect, learn, evaluate in
  turn); reruns resume. Returns the last iteration's metrics."""
  settings = PPOSettings()
  env = settings.environment.make(root_dir=root_dir)
  agent = build_agent(env, settings.gradient_chunks)
  scaler = reward_scaler(settings, agent)
  learner = Learner(root_dir, settings, agent, **env.trackables(),
                    **({'scaler': scaler} if scaler else {}))
  server = runs.start_server(replay_tables(agent, settings), root_dir, replay_port)
  address = f'localhost:{server.port}'
  learner.connect(address)
  client = reverb.Client(address)
  collector = rollouts.RolloutCollector(env, agent.collect_policy,
                                        settings.rollout_length, scaler)
  testers = evaluators(settings, root_dir, agent)
  metrics = {}
  try:
    while not learner.done:
      began = time.monotonic()
      rollouts.write_rollout(client, collector.collect(), TABLES)
      extra = (evaluate_all(testers) if testers and
               (learner.iteration + 1) % settings.eval_every == 0 else {})
      metrics = learner.learn(began, env.stats.pop_with_envs(), extra)
      if learner.iteration % settings.record_every == 0:
        env.record(root_dir, metrics['step'])
    learner.finish()
    env.finish(agent.policy, root_dir)
  finally:
    server.stop()
  return metrics


# ----------------------------------------------------------------------------
# Distributed roles: a replay server, collectors and an evaluator on any hosts,
# one learner; the learner's variables reach the others through Reverb.


def serve_replay(root_dir: str, port: int, num_collectors: int) -> None:
  """Hosts the rollout and variable tables until terminated."""
  settings = PPOSettings()
  agent = build_agent(settings.environment.make(root_dir=root_dir))
  runs.serve(replay_tables(agent, settings, num_collectors), root_dir, port)


def learn(root_dir: str, replay_address: str, num_collectors: int) -> None:
  """The learner: trains on every collector's rollouts, ships variables."""
  runs.wait_for_server(replay_address)
  settings = PPOSettings()
  agent = build_agent(settings.environment.make(root_dir=root_dir),
                      settings.gradient_chunks)
  learner = Learner(root_dir, settings, agent, num_collectors)
  learner.connect(replay_address)
  container = reverb_variable_container.ReverbVariableContainer(replay_address)
  variables = shipped_variables(agent, learner.env_steps)
  container.push(variables)
  while not learner.done:
    began = time.monotonic()
    learner.learn(began)
    container.push(variables)
  learner.finish()


def _follow_learner(settings: PPOSettings, replay_address: str, agent, act
                    ) -> None:
  """Calls `act(env_steps)` once per new learner policy until the end."""
  runs.wait_for_server(replay_address)
  container = reverb_variable_container.ReverbVariableContainer(replay_address)
  env_steps = tf.Variable(0, dtype=tf.int64)
  variables = shipped_variables(agent, env_steps)
  last = None
  while True:
    container.update(variables)
    if int(env_steps.numpy()) >= settings.total_env_steps:
      return
    version = int(agent.train_step_counter.numpy())
    if version == last:
      time.sleep(0.05)
      continue
    last = version
    act(int(env_steps.numpy()))


def collect(root_dir: str, replay_address: str, collector_id: int) -> None:
  """A collector: one rollout per learner policy, episode returns to a CSV."""
  settings = PPOSettings()
  env = settings.environment.make(seed_offset=7919 * collector_id,
                                  root_dir=root_dir)
  agent = build_agent(env)
  scaler = reward_scaler(settings, agent)
  collector = rollouts.RolloutCollector(env, agent.collect_policy,
                                        settings.rollout_length, scaler)
  client = reverb.Client(replay_address)
  log = recording.CsvLog(
      os.path.join(root_dir, f'collector_{collector_id}.csv'),
      ['step', 'train_return', 'train_return_normalized',
       'train_episode_length', 'episodes',
       *runs.game_columns(settings.environment, ('train',))])

  def act(env_steps: int) -> None:
    rollouts.write_rollout(client, collector.collect(), TABLES)
    episodes = env.stats.pop_with_envs()
    log.write({'step': env_steps, 'episodes': len(episodes),
               **runs.episode_metrics(settings.environment, episodes)})

  _follow_learner(settings, replay_address, agent, act)
  log.close()


def evaluate(root_dir: str, replay_address: str) -> None:
  """The evaluator: test levels with the newest policy, continuously."""
  settings = PPOSettings()
  env = settings.environment.make(test=True, root_dir=root_dir)
  agent = build_agent(env)
  testers = evaluators(dataclasses.replace(settings, eval_every=1), root_dir,
                       agent, env)
  log = recording.CsvLog(os.path.join(root_dir, 'eval.csv'), ['step'] + [
      column for prefix in ('test', ZERO_SHOT_TEST)[:len(testers)]
      for column in runs.return_columns(settings.environment, prefix)])

  def act(env_steps: int) -> None:
    if env_steps:  # Evaluates each newest policy once it is free again.
      log.write({'step': env_steps, **evaluate_all(testers)})

  _follow_learner(settings, replay_address, agent, act)
  log.close()
