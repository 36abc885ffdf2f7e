"""One SAC training loop for every encoder on DM-Control from pixels
(RL-DARTS paper App. A.3): supernet search, discrete cell or the 4-layer conv
baseline, chosen by gin as for PPO and Rainbow.

TF-Agents' SacAgent trains on transitions sampled uniformly from a real
Reverb table on localhost, which a PyDriver fills through TF-Agents' Reverb
observer. The encoder is shared as `sac.networks` says (a supernet's alpha
trains with the critic loss). As for Rainbow, a resumed run refills the replay
(`initial_collect_steps` with its current policy) instead of restoring it.
Env steps count physics steps (agent steps x action repeat), as pixel-SAC
papers report them.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Optional, Sequence

import gin
import numpy as np
import reverb
import tensorflow as tf
from tf_agents.drivers import py_driver
from tf_agents.policies import py_tf_eager_policy
from tf_agents.policies import random_py_policy
from tf_agents.replay_buffers import reverb_replay_buffer
from tf_agents.replay_buffers import reverb_utils
from tf_agents.specs import tensor_spec

from rl_darts.agents.sac import agent as sac_agent_lib
from rl_darts.agents.sac import networks as sac_networks
from rl_darts.envs import augmentation
from rl_darts.envs import control_env
from rl_darts.envs import environments
from rl_darts.runtime import runs
from rl_darts.space import networks

TABLE = 'uniform_table'


@gin.configurable
@dataclasses.dataclass
class SACSettings:
  """A SAC run's settings (gin: `SACSettings.batch_size = 128`); defaults
  from SAC-AE (Yarats et al. 2019) and DrQ where the paper is silent (see
  gin_configs/sac/conv_baseline.gin)."""

  total_env_steps: int = 500_000
  batch_size: int = 128
  gradient_chunks: int = 1  # Each update's batch gradient over this many
  # chunks, one at a time (`sac.agent`).
  replay_size: int = 100_000
  initial_collect_steps: int = 1_000  # Agent steps before learning starts.
  train_steps_per_agent_step: int = 1
  hidden_units: Sequence[int] = (1024, 1024)
  critic_learning_rate: float = 1e-3
  actor_learning_rate: float = 1e-3
  temperature_learning_rate: float = 1e-4  # SAC's entropy weight ("alpha").
  initial_temperature: float = 0.1
  discount: float = 0.99
  target_update_tau: float = 0.01
  target_update_period: int = 2
  target_entropy_scale: float = 1.0  # Target entropy -scale * dim(A).
  critic_loss_weight: float = 0.5  # TF-Agents' and PI-SAC's.
  random_shift: int = 0  # Pad of the random-shift augmentation (0: none).
  steps_per_iteration: int = 10_000  # Env steps between metrics rows.
  eval_every: int = 1  # Iterations between greedy evaluations (0: never).
  eval_episodes: int = 5
  record_every: int = 1  # Iterations between alpha records.
  checkpoint_every: int = 1
  discretize_at: Optional[int] = None  # Env step of genotype.json (a
  # supernet's; None: the end).
  seed: int = 0
  task: control_env.ControlTask = dataclasses.field(
      default_factory=control_env.ControlTask)

  def __post_init__(self):
    runs.check_at_least(self, batch_size=1, gradient_chunks=1, replay_size=1,
                        initial_collect_steps=1, steps_per_iteration=1,
                        random_shift=0, target_entropy_scale=0.0,
                        critic_loss_weight=0.0)
    if self.batch_size % self.gradient_chunks:
      raise ValueError(f'SACSettings.gradient_chunks {self.gradient_chunks} '
                       f'does not divide batch_size {self.batch_size}')
    if self.initial_collect_steps > self.replay_size:
      raise ValueError(f'initial_collect_steps {self.initial_collect_steps} '
                       f'exceeds replay_size {self.replay_size}')


def augmented(experience, pad: int):
  """`experience` with every frame of its observations randomly shifted by
  up to `pad` pixels, each frame independently (DrQ; PI-SAC)."""
  if not pad:
    return experience
  observations = experience.observation  # [batch, time, H, W, C]
  frames = tf.reshape(observations, [-1, *observations.shape[2:]])
  shifted = augmentation.random_shift(frames, pad)
  return experience._replace(
      observation=tf.reshape(shifted, tf.shape(observations)))


def build_agent(settings: SACSettings, env
                ) -> tuple[sac_agent_lib.ChunkedSacAgent, tf.keras.Model]:
  """SacAgent over the gin-chosen encoder, and that encoder: the critics
  share it, the target critics share another, the actor reads the first
  through a stop-gradient (see `sac.networks`)."""
  observation_spec = tensor_spec.from_spec(env.observation_spec())
  action_spec = tensor_spec.from_spec(env.action_spec())
  encoder, target_encoder = networks.make_encoder(), networks.make_encoder()

  def critic(shared: tf.keras.Model, name: str) -> sac_networks.PixelCritic:
    return sac_networks.PixelCritic((observation_spec, action_spec), shared,
                                    settings.hidden_units, name=name)

  agent = sac_agent_lib.ChunkedSacAgent(
      tensor_spec.from_spec(env.time_step_spec()), action_spec,
      critic_network=critic(encoder, 'Critic1'),
      critic_network_2=critic(encoder, 'Critic2'),
      target_critic_network=critic(target_encoder, 'TargetCritic1'),
      target_critic_network_2=critic(target_encoder, 'TargetCritic2'),
      actor_network=sac_networks.PixelActor(
          observation_spec, action_spec, encoder, settings.hidden_units),
      actor_optimizer=runs.keras_optimizer('Adam',
                                           settings.actor_learning_rate),
      critic_optimizer=runs.keras_optimizer('Adam',
                                            settings.critic_learning_rate),
      alpha_optimizer=runs.keras_optimizer(
          'Adam', settings.temperature_learning_rate),
      target_update_tau=settings.target_update_tau,
      target_update_period=settings.target_update_period,
      gamma=settings.discount,
      critic_loss_weight=settings.critic_loss_weight,
      target_entropy=-settings.target_entropy_scale * float(
          np.prod(action_spec.shape)),
      initial_log_alpha=math.log(settings.initial_temperature),
      train_step_counter=tf.Variable(0, dtype=tf.int64, name='train_step'),
      gradient_chunks=settings.gradient_chunks)
  agent.initialize()
  return agent, encoder


def replay_table(settings: SACSettings, agent) -> reverb.Table:
  """Uniform replay of 2-step trajectories (one transition each)."""
  return reverb.Table(
      TABLE, sampler=reverb.selectors.Uniform(),
      remover=reverb.selectors.Fifo(), max_size=settings.replay_size,
      rate_limiter=reverb.rate_limiters.MinSize(1),
      signature=tensor_spec.add_outer_dim(agent.collect_data_spec, 2))


def episode_observer(stats: environments.EpisodeStats):
  """An observer of one env's trajectories that feeds `stats` (env 0)."""

  def observe(trajectory) -> None:
    if not trajectory.is_boundary():
      stats.update(np.atleast_1d(trajectory.reward),
                   np.atleast_1d(trajectory.is_last()))

  return observe


def greedy_return(policy, env, episodes: int) -> float:
  """Mean return of `episodes` whole greedy episodes."""
  stats = environments.EpisodeStats(1)
  py_driver.PyDriver(env, policy, [episode_observer(stats)],
                     max_episodes=episodes).run(env.reset())
  return float(np.mean([r for r, _ in stats.pop()]))


COLUMNS = ['step', 'iteration', 'train_steps', 'critic_loss', 'actor_loss',
           'temperature', 'train_return', 'train_episode_length',
           'greedy_return', 'env_steps_per_s']


def train(root_dir: str) -> dict:
  """A whole SAC run (collect and learn in turn, greedy evaluation every
  `eval_every` iterations); reruns resume. Returns the last row's metrics."""
  settings = SACSettings()
  task = settings.task
  env, eval_env = task.make(settings.seed), task.make(settings.seed + 1000)
  agent, encoder = build_agent(settings, env)
  log = runs.RunLog(root_dir, encoder, COLUMNS, settings.total_env_steps,
                    'sac', settings.discretize_at, agent=agent)
  server = runs.start_server([replay_table(settings, agent)], root_dir,
                             port=None)
  try:
    metrics = _loop(settings, env, eval_env, agent, log, server.port)
    log.finish()
  finally:
    server.stop()
  return metrics


def _row(iteration: int, agent, losses: dict[str, list[float]],
         finished: list, repeat: int, env_steps_per_s: float) -> dict:
  """An iteration's metrics: losses, temperature, rate and the returns and
  lengths (in env steps) of the episodes it finished."""
  row = {
      'iteration': iteration,
      'train_steps': int(agent.train_step_counter.numpy()),
      **{k: float(np.mean(v)) for k, v in losses.items()},
      'temperature': float(tf.exp(agent._log_alpha)),  # pylint: disable=protected-access
      'env_steps_per_s': env_steps_per_s}
  if finished:
    row['train_return'] = float(np.mean([r for _, r, _ in finished]))
    row['train_episode_length'] = float(np.mean(
        [n * repeat for _, _, n in finished]))
  return row


def _loop(settings: SACSettings, env, eval_env, agent, log: runs.RunLog,
          port: int) -> dict:
  """Collects and learns until the budget; logs a row per iteration."""
  repeat = settings.task.repeat
  observer = reverb_utils.ReverbAddTrajectoryObserver(
      reverb.Client(f'localhost:{port}'), TABLE, sequence_length=2,
      stride_length=1)
  stats = environments.EpisodeStats(1)
  episodes = episode_observer(stats)
  collect = py_tf_eager_policy.PyTFEagerPolicy(agent.collect_policy,
                                               use_tf_function=True)
  greedy = py_tf_eager_policy.PyTFEagerPolicy(agent.policy,
                                              use_tf_function=True)
  # Before learning (again): a fresh run acts uniformly at random, a resumed
  # one refills the replay with its own policy.
  warmup = collect if log.start else random_py_policy.RandomPyPolicy(
      env.time_step_spec(), env.action_spec(), seed=settings.seed)
  time_step, _ = py_driver.PyDriver(
      env, warmup, [observer, episodes],
      max_steps=settings.initial_collect_steps).run(env.reset())
  log.counter.assign_add(settings.initial_collect_steps * repeat)
  experience = iter(reverb_replay_buffer.ReverbReplayBuffer(
      agent.collect_data_spec, TABLE, sequence_length=2,
      server_address=f'localhost:{port}').as_dataset(
          sample_batch_size=settings.batch_size, num_steps=2).prefetch(2))
  train_step = tf.function(
      lambda batch: agent.train(augmented(batch, settings.random_shift)),
      autograph=False)
  driver = py_driver.PyDriver(env, collect, [observer, episodes], max_steps=1)
  losses: dict[str, list[float]] = {'critic_loss': [], 'actor_loss': []}
  every = settings.steps_per_iteration
  iteration, row_start, began = log.step // every, log.step, time.monotonic()
  metrics = {}
  while not log.done:
    time_step, _ = driver.run(time_step)
    log.counter.assign_add(repeat)
    for _ in range(settings.train_steps_per_agent_step):
      info = train_step(next(experience)[0]).extra
      losses['critic_loss'].append(float(info.critic_loss))
      losses['actor_loss'].append(float(info.actor_loss))
    if log.step // every <= iteration and not log.done:
      continue
    iteration += 1
    finished = stats.pop_with_envs()
    metrics = _row(iteration, agent, losses, finished, repeat,
                   (log.step - row_start) / (time.monotonic() - began))
    if settings.eval_every and iteration % settings.eval_every == 0:
      metrics['greedy_return'] = greedy_return(greedy, eval_env,
                                               settings.eval_episodes)
    log.write(metrics, finished,
              record_alpha=iteration % settings.record_every == 0,
              checkpoint=iteration % settings.checkpoint_every == 0)
    losses = {k: [] for k in losses}
    row_start, began = log.step, time.monotonic()
    metrics = {'step': log.step, **metrics}
  observer.close()
  return metrics
