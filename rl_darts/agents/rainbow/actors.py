"""Rainbow's actors: epsilon-greedy over a batched env, n-step transitions
into Reverb through Acme's adders, and greedy evaluation.

Each env of a batched actor plays the part of one of the authors' Acme actors:
it has its own epsilon and its own `NStepTransitionAdder` (adders follow one
episode at a time). The env's LAST step already shows the next episode's
first observation; it goes to the adder as the arrival observation of the
terminal transition, where a zero discount masks it.
"""

from __future__ import annotations

from typing import Optional

import dm_env
import numpy as np
import reverb
import tensorflow as tf

from rl_darts.agents import acme_compat  # pylint: disable=unused-import
from acme import adders as acme_adders  # pylint: disable=g-bad-import-order
from acme import specs as acme_specs
from acme.adders import reverb as reverb_adders

from rl_darts.agents.rainbow import networks as rainbow_networks
from rl_darts.envs import environments
from tf_agents.trajectories import time_step as ts


def epsilons(num_actors: int, base: float = 0.4) -> np.ndarray:
  """Per-actor exploration rates base^8 ... base^1 (Horgan et al. 2018, as
  in the authors' Acme launcher: a reversed logspace)."""
  return np.flip(np.logspace(1, 8, num_actors, base=base)).astype(np.float32)


def decayed(epsilon: np.ndarray, env_steps: int, decay_steps: int
            ) -> np.ndarray:
  """epsilon^(1 + 7 min(t / decay_steps, 1)): from base^i to base^(8 i).

  The authors' code reads the wrong counter, so its decay never happens; here
  `env_steps` is the run's real env-step count.
  """
  progress = min(env_steps / decay_steps, 1.0) if decay_steps > 0 else 1.0
  return (epsilon ** (1.0 + 7.0 * progress)).astype(np.float32)


def environment_spec(env: environments.BatchedEnvironment
                     ) -> acme_specs.EnvironmentSpec:
  """The unbatched dm_env specs of one of `env`'s games."""
  observation = env.observation_spec()
  action = env.action_spec()
  return acme_specs.EnvironmentSpec(
      observations=dm_env.specs.BoundedArray(
          observation.shape, observation.dtype, observation.minimum,
          observation.maximum, 'observation'),
      actions=dm_env.specs.DiscreteArray(
          int(action.maximum) + 1, action.dtype, 'action'),
      rewards=dm_env.specs.Array((), np.float32, 'reward'),
      discounts=dm_env.specs.BoundedArray((), np.float32, 0.0, 1.0,
                                          'discount'))


def transition_signature(env: environments.BatchedEnvironment):
  """The Reverb table signature of Acme's n-step transitions for `env`."""
  return reverb_adders.NStepTransitionAdder.signature(environment_spec(env))


class EpsilonGreedy(tf.Module):
  """Actions of a DuelingC51 network: argmax Q with probability 1 - epsilon."""

  def __init__(self, network: rainbow_networks.DuelingC51, seed: int):
    super().__init__(name='epsilon_greedy')
    self.network = network
    self.generator = tf.random.Generator.from_seed(seed)

  @tf.function(autograph=False)
  def __call__(self, observations: tf.Tensor, epsilon: tf.Tensor) -> tf.Tensor:
    greedy = tf.argmax(self.network.q_values(self.network(observations)),
                       axis=-1, output_type=tf.int32)
    batch = tf.shape(observations)[0]
    random = self.generator.uniform([batch], 0, self.network.num_actions,
                                    dtype=tf.int32)
    explore = self.generator.uniform([batch]) < epsilon
    return tf.where(explore, random, greedy)


class BatchedActor:
  """Steps a batched env with per-env epsilons; each env's transitions go to
  Reverb through its own n-step adder (none without a client). With
  `rotate_every`, the epsilons shift by one env every that many env steps:
  an env that plays one game of several then plays it at every rate."""

  def __init__(self, env: environments.BatchedEnvironment,
               policy: EpsilonGreedy, epsilon: np.ndarray,
               client: Optional[reverb.Client] = None, n_step: int = 1,
               discount: float = 0.99,
               reward_scale: float | np.ndarray = 1.0,
               rotate_every: int = 0):
    if len(epsilon) != env.batch_size:
      raise ValueError(f'{len(epsilon)} epsilons for {env.batch_size} envs')
    self.env, self.policy = env, policy
    self.base_epsilon = epsilon
    self.epsilon = epsilon
    self.rotate_every = rotate_every
    self.reward_scale = reward_scale
    self.adders: list[acme_adders.Adder] = [] if client is None else [
        reverb_adders.NStepTransitionAdder(client, n_step, discount)
        for _ in range(env.batch_size)]
    self._observations: Optional[np.ndarray] = None

  def close(self) -> None:
    """Flushes every adder's pending transitions; call while the server runs
    (an adder flushes on deletion, and waits if the server is gone)."""
    for adder in self.adders:
      adder.reset()
    self.adders = []

  def decay(self, env_steps: int, decay_steps: int) -> None:
    """The envs' epsilons at `env_steps`: decayed, and shifted by one env
    every `rotate_every` env steps (where set)."""
    base = self.base_epsilon
    if self.rotate_every:
      base = np.roll(base, env_steps // self.rotate_every)
    self.epsilon = decayed(base, env_steps, decay_steps)

  def step(self) -> None:
    """One step of every env (the first call resets them)."""
    if self._observations is None:
      self._observations = self.env.reset().observation
      for adder, observation in zip(self.adders, self._observations):
        adder.add_first(dm_env.restart(observation))
    actions = self.policy(self._observations, self.epsilon).numpy()
    step = self.env.step(actions)
    rewards = (step.reward / self.reward_scale).astype(np.float32)
    for i, adder in enumerate(self.adders):
      adder.add(actions[i], dm_env.TimeStep(
          dm_env.StepType(int(step.step_type[i])), rewards[i],
          step.discount[i], step.observation[i]))
      if step.step_type[i] == ts.StepType.LAST:
        adder.add_first(dm_env.restart(step.observation[i]))
    self._observations = step.observation


class GreedyEvaluator:
  """Mean return of `policy` at `epsilon` (greedy by default) over whole
  episodes played entirely by the policy being evaluated.

  The env keeps running between evaluations; each env's episode under way
  when an evaluation begins is played out and dropped (it began under an older
  policy), then every env contributes the same number of episodes,
  ceil(`num_episodes` / envs), so that quick episodes do not crowd out long
  ones. Past `max_steps` env steps, each env contributes as many as the one
  with the fewest finished.
  """

  def __init__(self, env: environments.BatchedEnvironment,
               policy: EpsilonGreedy, num_episodes: int, max_steps: int,
               epsilon: float = 0.0):
    self.env, self.max_steps = env, max_steps
    self.per_env = -(-num_episodes // env.batch_size)
    self.actor = BatchedActor(env, policy, np.full(env.batch_size, epsilon,
                                                   np.float32))

  def evaluate(self) -> list[tuple[int, float, int]]:
    """(env, return, length) of the same number of whole episodes from each
    env."""
    num_envs = self.env.batch_size
    fresh = self.actor._observations is None  # pylint: disable=protected-access
    started = np.full(num_envs, fresh)  # Is the episode under way ours?
    episodes: list[list[tuple[int, float, int]]] = [
        [] for _ in range(num_envs)]
    self.env.stats.pop()
    for _ in range(max(1, self.max_steps // num_envs)):
      self.actor.step()
      for i, episode_return, length in self.env.stats.pop_with_envs():
        if started[i] and len(episodes[i]) < self.per_env:
          episodes[i].append((i, episode_return, length))
        started[i] = True
      if min(map(len, episodes)) == self.per_env:
        break
    count = min(map(len, episodes))
    return [episode for env_episodes in episodes
            for episode in env_episodes[:count]]
