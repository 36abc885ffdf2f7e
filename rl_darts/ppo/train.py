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

from absl import logging
import gin
import numpy as np
import reverb
import tensorflow as tf
from tf_agents.specs import tensor_spec
from tf_agents.train import ppo_learner

from rl_darts import checkpointing
from rl_darts import environments
from rl_darts import networks
from rl_darts import procgen_env
from rl_darts import recording
from rl_darts.ppo import agent as agent_lib
from rl_darts.ppo import rollouts

TABLES = ('training', 'normalization')
ENVIRONMENTS = ('procgen', 'quadrant')


@gin.configurable
@dataclasses.dataclass
class Settings:
  """A PPO run's settings; gin binds them (`Settings.game = 'dodgeball'`).

  Defaults are the Procgen PPO standard (Cobbe et al. 2020): 64 envs x 256
  steps, 8 minibatches of 2048, 3 epochs, easy mode, 200 training levels.
  """

  environment: str = 'procgen'  # Or 'quadrant': the synthetic task (tests).
  game: str = 'coinrun'
  distribution_mode: str = 'easy'
  num_levels: int = 200
  start_level: int = 0
  test_start_level: int = 100_000  # Test levels: unlimited, from here.
  num_envs: int = 64
  rollout_length: int = 256
  num_epochs: int = 3
  minibatch_size: int = 2048
  total_env_steps: int = 25_000_000
  scale_rewards: bool = True
  eval_every: int = 10  # Iterations between test-level evaluations (0: never).
  eval_steps: int = 256  # Env steps per eval env per evaluation.
  record_every: int = 1  # Iterations between alpha records.
  checkpoint_every: int = 10  # Iterations between checkpoints.
  seed: int = 0

  def __post_init__(self):
    if self.environment not in ENVIRONMENTS:
      raise ValueError(f'unknown environment {self.environment!r}; allowed: '
                       f'{", ".join(ENVIRONMENTS)}')
    if self.environment == 'procgen':
      procgen_env.check_game(self.game, self.distribution_mode)
    frames = self.num_envs * (self.rollout_length + 1)
    if self.minibatch_size > frames:
      raise ValueError(f'minibatch_size {self.minibatch_size} exceeds the '
                       f'{frames} steps of one rollout')

  @property
  def steps_per_iteration(self) -> int:
    return self.num_envs * self.rollout_length

  def make_env(self, test: bool = False, seed_offset: int = 0
               ) -> environments.BatchedEnvironment:
    seed = self.seed + seed_offset + (1000 if test else 0)
    if self.environment == 'quadrant':
      return environments.QuadrantBandit(self.num_envs, seed)
    return procgen_env.ProcgenEnvironment(
        self.game, self.num_envs, self.distribution_mode,
        num_levels=0 if test else self.num_levels,
        start_level=self.test_start_level if test else self.start_level,
        seed=seed)

  def normalize(self, episode_return: float) -> float:
    if self.environment != 'procgen':
      return episode_return
    return procgen_env.normalized_return(self.game, self.distribution_mode,
                                         episode_return)


def replay_tables(data_spec, sequence_length: int, capacity: int
                  ) -> list[reverb.Table]:
  """FIFO queues of whole rollouts, each item sampled once."""
  signature = tensor_spec.add_outer_dim(data_spec, sequence_length)
  return [reverb.Table.queue(name, max_size=capacity, signature=signature)
          for name in TABLES]


def rollout_dataset(address: str, table: str, agent, sequence_length: int,
                    num_items: int) -> tf.data.Dataset:
  """Exactly `num_items` rollouts from a queue table, as one preprocessed batch.

  `max_samples` closes the stream after them, so no prefetch can take (and
  lose) items of the next iteration; TF-Agents' ReverbReplayBuffer datasets
  keep requesting, which suits replay but not on-policy queues.
  """
  spec = tensor_spec.add_outer_dim(agent.collect_data_spec, sequence_length)
  dataset = reverb.TrajectoryDataset(
      address, table,
      dtypes=tf.nest.map_structure(lambda s: s.dtype, spec),
      shapes=tf.nest.map_structure(lambda s: s.shape, spec),
      max_in_flight_samples_per_worker=num_items, num_workers_per_iterator=1,
      max_samples=num_items)
  # Sample info has no time axis, which minibatching needs: drop it (unused).
  return dataset.batch(num_items).map(
      lambda sample: (agent.preprocess_sequence(sample.data), ()))


class Evaluator:
  """Runs the collect policy on test levels; mean raw and normalized return."""

  def __init__(self, settings: Settings, policy):
    self.settings = settings
    self.collector = rollouts.RolloutCollector(
        settings.make_env(test=True), policy, settings.eval_steps)

  def evaluate(self) -> Optional[float]:
    self.collector.collect()
    returns = [r for r, _ in self.collector.env.stats.pop()]
    return float(np.mean(returns)) if returns else None


def _mean(values) -> Optional[float]:
  return float(np.mean(values)) if values else None


@gin.configurable
def train(root_dir: str, replay_port: Optional[int] = None) -> dict:
  """Runs (or resumes) a PPO run in one process; returns the last metrics."""
  settings = Settings()
  env = settings.make_env()
  time_step_spec = tensor_spec.from_spec(env.time_step_spec())
  action_spec = tensor_spec.from_spec(env.action_spec())
  train_step = tf.Variable(0, dtype=tf.int64, name='train_step')
  agent = agent_lib.make_agent(time_step_spec, action_spec, train_step)
  encoder = agent_lib.encoder_of(agent)
  scaler = (rollouts.ReturnScaler(settings.num_envs, agent._discount_factor)  # pylint: disable=protected-access
            if settings.scale_rewards else None)
  env_steps = tf.Variable(0, dtype=tf.int64, name='env_steps')
  trackables = dict(agent=agent, optimizer=agent._optimizer,  # pylint: disable=protected-access
                    env_steps=env_steps)
  if scaler is not None:
    trackables['scaler'] = scaler
  checkpointer = checkpointing.Checkpointer(
      os.path.join(root_dir, 'checkpoints'), **trackables)
  start = checkpointer.restore()
  if start:
    print(f'Resuming at {start} env steps from '
          f'{checkpointer.manager.latest_checkpoint}', flush=True)

  sequence_length = settings.rollout_length + 1
  server = reverb.Server(
      replay_tables(agent.collect_data_spec, sequence_length,
                    settings.num_envs), port=replay_port,
      checkpointer=reverb.checkpointers.DefaultCheckpointer(
          os.path.join(root_dir, 'replay')))  # Not in $TMPDIR.
  address = f'localhost:{server.port}'
  client = reverb.Client(address)

  def dataset_fn(table: str):
    return lambda: rollout_dataset(address, table, agent, sequence_length,
                                   settings.num_envs)

  learner = ppo_learner.PPOLearner(
      os.path.join(root_dir, 'learner'), train_step, agent,
      experience_dataset_fn=dataset_fn(TABLES[0]),
      normalization_dataset_fn=dataset_fn(TABLES[1]),
      num_samples=1, num_epochs=settings.num_epochs,
      minibatch_size=settings.minibatch_size,
      shuffle_buffer_size=settings.num_envs * sequence_length,
      checkpoint_interval=-1, summary_interval=10**9)
  collector = rollouts.RolloutCollector(env, agent.collect_policy,
                                        settings.rollout_length, scaler)
  evaluator = (Evaluator(settings, agent.collect_policy)
               if settings.eval_every else None)

  writer = tf.summary.create_file_writer(os.path.join(root_dir, 'tb'))
  recorder = (recording.AlphaRecorder(root_dir, encoder, writer, start)
              if isinstance(encoder, networks.Supernet) else None)
  columns = ['step', 'iteration', 'train_return', 'train_return_normalized',
             'train_episode_length', 'test_return', 'test_return_normalized',
             'loss', 'env_steps_per_s']
  metrics_log = recording.CsvLog(os.path.join(root_dir, 'metrics.csv'),
                                 columns, start)
  progress = recording.Progress(settings.total_env_steps, unit='env steps')
  if recorder is not None and start == 0:
    recorder.record(0)
  iteration = start // settings.steps_per_iteration
  recent_returns: list[float] = []
  metrics: dict = {}
  try:
    while int(env_steps.numpy()) < settings.total_env_steps:
      began = time.monotonic()
      rollout = collector.collect()
      rollouts.write_rollout(client, rollout, TABLES)
      collected = time.monotonic()
      loss = float(learner.run().loss)
      logging.info('iteration %d: collect %.1fs, learn %.1fs', iteration + 1,
                   collected - began, time.monotonic() - collected)
      env_steps.assign_add(settings.steps_per_iteration)
      iteration += 1
      step = int(env_steps.numpy())
      episodes = env.stats.pop()
      recent_returns = ([r for r, _ in episodes] + recent_returns)[:100]
      metrics = {
          'step': step, 'iteration': iteration,
          'train_return': _mean([r for r, _ in episodes]),
          'train_episode_length': _mean([n for _, n in episodes]),
          'loss': loss,
          'env_steps_per_s': settings.steps_per_iteration / (
              time.monotonic() - began)}
      if metrics['train_return'] is not None:
        metrics['train_return_normalized'] = settings.normalize(
            metrics['train_return'])
      if evaluator is not None and iteration % settings.eval_every == 0:
        test_return = evaluator.evaluate()
        if test_return is not None:
          metrics['test_return'] = test_return
          metrics['test_return_normalized'] = settings.normalize(test_return)
      metrics_log.write(metrics)
      with writer.as_default(step=step):
        for name, value in metrics.items():
          if name not in ('step',) and value is not None:
            tf.summary.scalar(f'ppo/{name}', value)
      if recorder is not None and iteration % settings.record_every == 0:
        if recorder.record(step) is not None:
          logging.info('new discretized cell at %d env steps', step)
      if iteration % settings.checkpoint_every == 0:
        checkpointer.save(step)
      progress.update(step, return_100=_mean(recent_returns) or 0.0,
                      loss=loss)
    step = int(env_steps.numpy())
    if step > start:
      checkpointer.save(step)
    if recorder is not None:
      genotype = recorder.finish()
      print(f'Final genotype: {genotype}', flush=True)
  finally:
    metrics_log.close()
    server.stop()
  with open(os.path.join(root_dir, 'operative_config.gin'), 'w') as f:
    f.write(gin.operative_config_str())
  return metrics
