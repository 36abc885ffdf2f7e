"""One Rainbow training loop for every encoder: search, evaluation, baselines.

As for PPO, only the gin-chosen encoder differs between a supernet search, a
discrete-cell evaluation and the IMPALA-CNN baseline. Transitions go through
Acme's n-step adders into a prioritized table of a real Reverb server; the
learner samples it through Acme's dataset, trains, and writes priorities back.

In one process, the actor and learner take turns: after the table holds
`min_replay_size` transitions, the learner takes `samples_per_insert /
batch_size` steps per env step (Acme's single-process schedule). Distributed,
a Reverb rate limiter holds the same ratio between actors and learner.

On resume the replay is refilled, not restored: networks, optimizer, alpha and
counters come back from the checkpoint, and actors refill `min_replay_size`
transitions before learning goes on (replay of 500K frame pairs is too big to
checkpoint every few minutes; see WORKSPACE.md).
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Optional

import gin
import numpy as np
import reverb
import tensorflow as tf
from tf_agents.experimental.distributed import reverb_variable_container

from rl_darts.agents.rainbow import actors
from rl_darts.agents.rainbow import learning
from rl_darts.agents.rainbow import networks as rainbow_networks
from rl_darts.envs import environments
from rl_darts.envs import procgen_env
from rl_darts.runtime import recording
from rl_darts.runtime import runs

TABLE = 'priority_table'
# The zero-shot cell's greedy play on test levels (runs.ZeroShot).
ZERO_SHOT_TEST = recording.ZERO_SHOT_PREFIX + 'greedy_test'
# Paper App. F.2: these games use n-step 2 and a 10K replay (others 7, 500K).
SHORT_HORIZON_GAMES = ('bigfish', 'bossfight', 'chaser', 'dodgeball', 'miner',
                       'plunder', 'starpilot')


@gin.configurable
@dataclasses.dataclass
class RainbowSettings:
  """A Rainbow run's settings (gin: `RainbowSettings.batch_size = 256`); the
  game's are `Environment`'s. Defaults: paper App. F.2, and the authors' code
  where the paper is silent (see gin_configs/rainbow/impala_cnn.gin)."""

  total_env_steps: int = 25_000_000
  learning_rate: float = 5e-5
  adam_epsilon: float = 1e-8  # Sonnet's Adam default, as in Acme.
  batch_size: int = 256
  gradient_chunks: int = 1  # The batch's gradient over this many chunks.
  discount: float = 0.99
  n_step: Optional[int] = None  # None: 2 for SHORT_HORIZON_GAMES, else 7
  # (a game list that mixes the two must bind it).
  replay_size: Optional[int] = None  # None: 10K for those games, else 500K.
  min_replay_size: int = 10_000
  samples_per_insert: float = 4.0
  priority_exponent: float = 0.8
  importance_sampling_exponent: float = 0.2
  target_update_period: int = 500  # Learner steps.
  epsilon_base: float = 0.4
  epsilon_decay_steps: int = 25_000_000
  steps_per_iteration: int = 10_000  # Env steps between metrics rows.
  eval_every: int = 10  # Iterations between greedy evaluations (0: never).
  eval_episodes: int = 20
  zero_shot_eval: bool = True  # With a supernet: each greedy evaluation also
  # plays its discretized cell with the supernet's weights (runs.ZeroShot).
  reward_scale_mode: str = 'hard'  # Rewards are divided by the game's Rmax
  # in this mode's column of Cobbe et al.'s table: 'hard' as the authors' code
  # (App. F.2 says only "the game's maximum"), 'easy' for the mode played.
  eval_max_steps: int = 50_000  # Env steps per evaluation at most (16 envs:
  # an episode under way and 2 whole ones of up to 1,000 steps each).
  record_every: int = 1  # Iterations between alpha records.
  checkpoint_every: int = 1  # Iterations between checkpoints.
  discretize_at: Optional[int] = None  # Env step of genotype.json (a
  # supernet's; None: the end; the final cell is also genotype_final.json).
  variable_update_period: int = 100  # Distributed actors' steps between pulls.
  environment: runs.Environment = dataclasses.field(
      default_factory=runs.Environment)

  def __post_init__(self):
    games = self.environment.games
    short = (self.environment.kind == 'procgen' and
             all(g in SHORT_HORIZON_GAMES for g in games))
    mixed = not short and any(g in SHORT_HORIZON_GAMES for g in games)
    if mixed and None in (self.n_step, self.replay_size):
      raise ValueError(
          f'games {list(games)} mix App. F.2\'s short-horizon schedule '
          f'(n-step 2, replay 10K: {", ".join(SHORT_HORIZON_GAMES)}) with '
          f'the long one (n-step 7, replay 500K): bind RainbowSettings.n_step '
          f'and RainbowSettings.replay_size')
    if self.n_step is None:
      self.n_step = 2 if short else 7
    if self.replay_size is None:
      self.replay_size = 10_000 if short else 500_000
    if self.reward_scale_mode not in procgen_env.MODES:
      raise ValueError(f'RainbowSettings.reward_scale_mode must be one of '
                       f'{", ".join(procgen_env.MODES)}; got '
                       f'{self.reward_scale_mode!r}')
    if self.min_replay_size > self.replay_size:
      raise ValueError(f'min_replay_size {self.min_replay_size} exceeds '
                       f'replay_size {self.replay_size}')
    runs.check_at_least(self, batch_size=1, gradient_chunks=1, n_step=1,
                        min_replay_size=1,
                        steps_per_iteration=1, eval_every=0, eval_episodes=1,
                        record_every=1, checkpoint_every=1,
                        target_update_period=1)
    if self.batch_size % self.gradient_chunks:
      raise ValueError(f'RainbowSettings.gradient_chunks '
                       f'{self.gradient_chunks} does not divide batch_size '
                       f'{self.batch_size}: pick a divisor')
    if self.samples_per_insert <= 0:
      raise ValueError(f'RainbowSettings.samples_per_insert must be > 0; got '
                       f'{self.samples_per_insert}')
    if self.total_env_steps < self.min_replay_size:
      raise ValueError(
          f'RainbowSettings.total_env_steps {self.total_env_steps} is below '
          f'min_replay_size {self.min_replay_size}: the learner would never '
          f'start; raise the budget or lower min_replay_size')

  @property
  def epsilon_rotation(self) -> int:
    """Env steps between shifts of the envs' epsilons by one env, so that
    with several games every game is played at every exploration rate (one
    iteration); 0 (fixed) for one game."""
    return self.iteration_steps if len(self.environment.games) > 1 else 0

  @property
  def reward_scale(self) -> float | np.ndarray:
    """What each env's rewards are divided by before the adder."""
    return self.environment.max_return(self.reward_scale_mode)

  @property
  def iteration_steps(self) -> int:
    """Env steps per iteration: `steps_per_iteration` in whole batched steps."""
    num_envs = self.environment.num_envs
    return max(1, round(self.steps_per_iteration / num_envs)) * num_envs


def replay_table(settings: RainbowSettings,
                 env: environments.BatchedEnvironment,
                 distributed: bool = False) -> reverb.Table:
  """Prioritized n-step transitions, oldest out first. Distributed, a
  sample-to-insert limiter holds actors and learner at `samples_per_insert`
  (tolerance as Acme's: 10% of the ratio times the min size)."""
  if distributed:
    limiter = reverb.rate_limiters.SampleToInsertRatio(
        samples_per_insert=settings.samples_per_insert,
        min_size_to_sample=settings.min_replay_size,
        error_buffer=max(0.1 * settings.samples_per_insert *
                         settings.min_replay_size, 2.0 * settings.batch_size))
  else:
    limiter = reverb.rate_limiters.MinSize(settings.min_replay_size)
  return reverb.Table(
      TABLE, sampler=reverb.selectors.Prioritized(settings.priority_exponent),
      remover=reverb.selectors.Fifo(), max_size=settings.replay_size,
      rate_limiter=limiter, signature=actors.transition_signature(env))


def variables_table(network: rainbow_networks.DuelingC51) -> reverb.Table:
  """The one-item table through which the learner ships its variables."""
  return reverb.Table(
      reverb_variable_container.DEFAULT_TABLE,
      sampler=reverb.selectors.Uniform(), remover=reverb.selectors.Fifo(),
      rate_limiter=reverb.rate_limiters.MinSize(1), max_size=1,
      max_times_sampled=0,
      signature=tf.nest.map_structure(
          lambda v: tf.TensorSpec(v.shape, v.dtype),
          shipped_variables(network, tf.Variable(0, dtype=tf.int64),
                            tf.Variable(0, dtype=tf.int64))))


def shipped_variables(network: rainbow_networks.DuelingC51,
                      learner_steps: tf.Variable, env_steps: tf.Variable
                      ) -> dict:
  """Online network (alpha included) and the counters actors act on."""
  return {reverb_variable_container.POLICY_KEY: network.variables,
          reverb_variable_container.TRAIN_STEP_KEY: learner_steps,
          'env_steps': env_steps}


def build_network(env: environments.BatchedEnvironment
                  ) -> rainbow_networks.DuelingC51:
  return rainbow_networks.build(env.observation_spec(),
                                int(env.action_spec().maximum) + 1)


def load_network(run_dir: str, env: environments.BatchedEnvironment,
                 checkpoint: Optional[str] = None
                 ) -> rainbow_networks.DuelingC51:
  """The online network of a Rainbow run's `checkpoint` (default: its
  newest), built under the gin config in force (the run's own)."""
  checkpoint = checkpoint or tf.train.latest_checkpoint(
      os.path.join(run_dir, 'checkpoints'))
  if checkpoint is None:
    raise FileNotFoundError(f'{run_dir!r} has no checkpoints/: is it a '
                            f'Rainbow run directory?')
  network = build_network(env)
  status = tf.train.Checkpoint(network=network).read(checkpoint)
  status.expect_partial().assert_existing_objects_matched()
  return network


def all_epsilons(settings: RainbowSettings, num_actors: int, actor_id: int
                 ) -> np.ndarray:
  """This actor's envs' share of every env's exploration rate."""
  num_envs = settings.environment.num_envs
  every = actors.epsilons(num_envs * num_actors, settings.epsilon_base)
  return every[actor_id * num_envs:(actor_id + 1) * num_envs]


def greedy_evaluators(
    settings: RainbowSettings, network: rainbow_networks.DuelingC51,
    test_env: Optional[environments.BatchedEnvironment] = None
) -> dict[str, actors.GreedyEvaluator | runs.ZeroShot]:
  """Greedy play on training levels and on test levels (paper App. F.2);
  with a supernet encoder, also its zero-shot discretization's on test levels
  of their own ('discrete_greedy_test')."""
  policy = actors.EpsilonGreedy(network, settings.environment.seed + 1)
  envs = {'greedy_train': settings.environment.make(seed_offset=17),
          'greedy_test': test_env or settings.environment.make(test=True)}
  supernet = runs.zero_shot_supernet(network.encoder, settings)
  if supernet is not None:
    envs[ZERO_SHOT_TEST] = settings.environment.make(test=True,
                                                     seed_offset=1)
  found = {name: actors.GreedyEvaluator(env, policy, settings.eval_episodes,
                                        settings.eval_max_steps)
           for name, env in envs.items()}
  if supernet is not None:
    found[ZERO_SHOT_TEST] = runs.ZeroShot(found[ZERO_SHOT_TEST], supernet)
  return found


def greedy_metrics(settings: RainbowSettings,
                   evaluators: dict[str, actors.GreedyEvaluator]) -> dict:
  """Mean raw and normalized return of each evaluator's next episodes."""
  metrics = {}
  for name, evaluator in evaluators.items():
    metrics.update(runs.episode_metrics(
        settings.environment, evaluator.evaluate(), name, lengths=False))
  return metrics


class Learner:
  """The learning side of every Rainbow run: networks, RainbowLearner over
  the Reverb table at `address`, evaluation and bookkeeping."""

  COLUMNS = ['step', 'iteration', 'learner_steps', 'loss', 'train_return',
             'train_return_normalized', 'train_episode_length',
             'greedy_train_return', 'greedy_train_return_normalized',
             'greedy_test_return', 'greedy_test_return_normalized',
             'epsilon_min', 'env_steps_per_s']

  def __init__(self, root_dir: str, settings: RainbowSettings,
               env: environments.BatchedEnvironment, address: str,
               evaluate: bool = True):
    self.settings = settings
    self.network = build_network(env)
    self.target_network = build_network(env)
    self.client = reverb.Client(address)
    self.learner = learning.RainbowLearner(
        self.network, self.target_network,
        learning.replay_dataset(address, TABLE, settings.batch_size),
        self.client, TABLE, settings.discount, settings.learning_rate,
        settings.importance_sampling_exponent, settings.target_update_period,
        settings.adam_epsilon, gradient_chunks=settings.gradient_chunks)
    self.log = runs.RunLog(
        root_dir, self.network.encoder,
        self.COLUMNS + runs.game_columns(
            settings.environment, ('train', 'greedy_train', 'greedy_test')) +
        (runs.return_columns(settings.environment, ZERO_SHOT_TEST)
         if evaluate and runs.zero_shot_supernet(self.network.encoder, settings)
         else []),
        settings.total_env_steps,
        'rainbow', settings.discretize_at, network=self.network,
        target_network=self.target_network,
        optimizer=self.learner.optimizer, learner_steps=self.learner.num_steps)
    self.iteration = self.log.start // settings.iteration_steps
    self.losses: list[float] = []
    self.began = time.monotonic()
    self.evaluators = (greedy_evaluators(settings, self.network)
                       if evaluate and settings.eval_every else {})

  def next_boundary(self) -> int:
    """The env step at which the current iteration ends."""
    every = self.settings.iteration_steps
    return (self.log.step // every + 1) * every

  def table_size(self) -> int:
    return self.client.server_info()[TABLE].current_size

  def step(self) -> None:
    loss = self.learner.step()
    if not math.isfinite(loss):  # Weights are checked once per iteration.
      self.log.check_finite({'loss': loss})
    self.losses.append(loss)

  def end_iteration(self, episodes=(), extra: Optional[dict] = None) -> dict:
    """Logs one iteration; evaluates, records and checkpoints when due."""
    self.iteration += 1
    settings = self.settings
    now = time.monotonic()
    metrics = {'iteration': self.iteration,
               'learner_steps': int(self.learner.num_steps.numpy()),
               'env_steps_per_s': settings.iteration_steps / (now - self.began),
               **({'loss': float(np.mean(self.losses))} if self.losses else {}),
               **runs.episode_metrics(settings.environment, episodes),
               **(extra or {})}
    if self.evaluators and self.iteration % settings.eval_every == 0:
      metrics.update(greedy_metrics(settings, self.evaluators))
    self.losses = []
    self.log.write(
        metrics, episodes,
        record_alpha=self.iteration % settings.record_every == 0,
        checkpoint=self.iteration % settings.checkpoint_every == 0)
    self.began = time.monotonic()
    return {'step': self.log.step, **metrics}


@gin.configurable
def train(root_dir: str, replay_port: Optional[int] = None) -> dict:
  """A whole Rainbow run in one process (actor and learner in turn, greedy
  evaluation every `eval_every` iterations); reruns resume. Returns the last
  iteration's metrics."""
  settings = RainbowSettings()
  env = settings.environment.make()
  server = runs.start_server([replay_table(settings, env)], root_dir,
                             replay_port)
  try:
    learner = Learner(root_dir, settings, env, f'localhost:{server.port}')
    actor = actors.BatchedActor(
        env, actors.EpsilonGreedy(learner.network, settings.environment.seed),
        all_epsilons(settings, 1, 0), learner.client, settings.n_step,
        settings.discount, settings.reward_scale, settings.epsilon_rotation)
    per_step = env.batch_size * settings.samples_per_insert / (
        settings.batch_size)
    due, warm, metrics = 0.0, False, {}
    boundary = learner.next_boundary()
    while not learner.log.done:
      actor.decay(learner.log.step, settings.epsilon_decay_steps)
      actor.step()
      learner.log.counter.assign_add(env.batch_size)
      warm = warm or learner.table_size() >= settings.min_replay_size
      if warm:
        due += per_step
        while due >= 1.0:
          learner.step()
          due -= 1.0
      if learner.log.step >= boundary or learner.log.done:
        metrics = learner.end_iteration(
            env.stats.pop_with_envs(),
            {'epsilon_min': float(actor.epsilon.min())})
        boundary = learner.next_boundary()
    actor.close()
    learner.log.finish()
  finally:
    server.stop()
  return metrics


# ----------------------------------------------------------------------------
# Distributed roles: a replay server, actors and an evaluator on any hosts, one
# learner; its variables reach the others through Reverb.


def serve_replay(root_dir: str, port: int) -> None:
  """Hosts the transition and variable tables until terminated."""
  settings = RainbowSettings()
  env = settings.environment.make()
  runs.serve([replay_table(settings, env, distributed=True),
              variables_table(build_network(env))], root_dir, port)


def _inserted(client: reverb.Client) -> int:
  """Transitions the table has taken since the server started."""
  info = client.server_info()[TABLE]
  return int(info.rate_limiter_info.insert_stats.completed)


def learn(root_dir: str, replay_address: str) -> None:
  """The learner: steps as fast as the rate limiter lets it; counts env
  steps by the table's inserts; ships variables to actors and evaluator."""
  runs.wait_for_server(replay_address)
  settings = RainbowSettings()
  env = settings.environment.make()
  learner = Learner(root_dir, settings, env, replay_address, evaluate=False)
  container = reverb_variable_container.ReverbVariableContainer(replay_address)
  variables = shipped_variables(learner.network, learner.learner.num_steps,
                                learner.log.counter)
  container.push(variables)
  start, first_insert = learner.log.start, _inserted(learner.client)
  boundary = learner.next_boundary()
  while not learner.log.done:
    learner.step()
    if int(learner.learner.num_steps.numpy()) % 10 == 0:
      learner.log.counter.assign(
          start + _inserted(learner.client) - first_insert)
      container.push(variables)
    if learner.log.step >= boundary:
      learner.end_iteration()
      boundary = learner.next_boundary()
  container.push(variables)
  learner.log.finish()


def _pull(container, variables: dict) -> int:
  container.update(variables)
  return int(variables['env_steps'].numpy())


def act(root_dir: str, replay_address: str, actor_id: int, num_actors: int
        ) -> None:
  """An actor: epsilon-greedy play into the replay table; pulls the newest
  variables every `variable_update_period` steps; returns to a CSV."""
  runs.wait_for_server(replay_address)
  settings = RainbowSettings()
  env = settings.environment.make(seed_offset=7919 * actor_id)
  network = build_network(env)
  client = reverb.Client(replay_address)
  actor = actors.BatchedActor(
      env, actors.EpsilonGreedy(network, settings.environment.seed + actor_id),
      all_epsilons(settings, num_actors, actor_id), client, settings.n_step,
      settings.discount, settings.reward_scale, settings.epsilon_rotation)
  container = reverb_variable_container.ReverbVariableContainer(replay_address)
  variables = shipped_variables(network, tf.Variable(0, dtype=tf.int64),
                                tf.Variable(0, dtype=tf.int64))
  log = recording.CsvLog(os.path.join(root_dir, f'actor_{actor_id}.csv'),
                         ['step', 'train_return', 'train_return_normalized',
                          'train_episode_length', 'episodes',
                          *runs.game_columns(settings.environment,
                                             ('train',))])
  while (env_steps := _pull(container, variables)) < settings.total_env_steps:
    actor.decay(env_steps, settings.epsilon_decay_steps)
    for _ in range(settings.variable_update_period):
      actor.step()
    episodes = env.stats.pop_with_envs()
    if episodes:
      log.write({'step': env_steps, 'episodes': len(episodes),
                 **runs.episode_metrics(settings.environment, episodes)})
  log.close()


def evaluate(root_dir: str, replay_address: str) -> None:
  """The evaluator: greedy returns on train and test levels whenever the
  learner passes another `eval_every` iterations' worth of env steps."""
  runs.wait_for_server(replay_address)
  settings = RainbowSettings()
  test_env = settings.environment.make(test=True)
  network = build_network(test_env)
  evaluators = greedy_evaluators(settings, network, test_env)
  container = reverb_variable_container.ReverbVariableContainer(replay_address)
  variables = shipped_variables(network, tf.Variable(0, dtype=tf.int64),
                                tf.Variable(0, dtype=tf.int64))
  every = max(1, settings.eval_every) * settings.iteration_steps
  log = recording.CsvLog(os.path.join(root_dir, 'eval.csv'),
                         ['step'] + [f'{n}_return{s}' for n in evaluators
                                     for s in ('', '_normalized')] +
                         runs.game_columns(settings.environment,
                                           tuple(evaluators)))
  done_until = 0
  while (env_steps := _pull(container, variables)) < settings.total_env_steps:
    if env_steps // every <= done_until:
      time.sleep(0.5)
      continue
    done_until = env_steps // every
    log.write({'step': env_steps, **greedy_metrics(settings, evaluators)})
  log.close()
