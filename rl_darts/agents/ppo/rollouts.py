"""Rollout collection: a batched env, a policy, whole rollouts into Reverb.

A rollout holds T + 1 steps per env; its last step is the next rollout's first
(the agent needs it only to bootstrap), so every step is trained on once. Each
env's rollout is written as one Reverb item to every table: one append and a
few item creations per env and rollout instead of one write per env and step.

Trajectories are built from the auto-resetting env's time steps so that no
action is lost: after a LAST time step (which already shows the next
episode's first observation) the next trajectory step is FIRST.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import reverb
import tensorflow as tf
import tree
from tf_agents.policies import py_tf_eager_policy
from tf_agents.policies import tf_policy
from tf_agents.trajectories import time_step as ts
from tf_agents.trajectories import trajectory

from rl_darts.envs import environments


class ReturnScaler(tf.Module):
  """Divides rewards by the running std of discounted returns, clipped.

  This is the Procgen PPO standard (baselines' VecNormalize without
  observation normalisation); its state is checkpointed with the run.
  """

  def __init__(self, num_envs: int, discount: float, clip: float = 10.0,
               epsilon: float = 1e-8):
    super().__init__(name='return_scaler')
    self.discount, self.clip, self.epsilon = discount, clip, epsilon
    self.returns = tf.Variable(np.zeros(num_envs), dtype=tf.float64)
    self.count = tf.Variable(1e-4, dtype=tf.float64)
    self.mean = tf.Variable(0.0, dtype=tf.float64)
    self.var = tf.Variable(1.0, dtype=tf.float64)

  def __call__(self, rewards: np.ndarray, done: np.ndarray) -> np.ndarray:
    returns = self.returns.numpy() * self.discount + rewards
    # Parallel mean/variance update (Chan et al.), as baselines' RunningMeanStd.
    count, mean, var = (float(v.numpy()) for v in (self.count, self.mean,
                                                   self.var))
    batch_mean, batch_var, n = returns.mean(), returns.var(), len(returns)
    delta, total = batch_mean - mean, count + n
    mean += delta * n / total
    var = (var * count + batch_var * n + delta**2 * count * n / total) / total
    self.count.assign(total)
    self.mean.assign(mean)
    self.var.assign(var)
    self.returns.assign(np.where(done, 0.0, returns))
    scaled = rewards / np.sqrt(var + self.epsilon)
    return np.clip(scaled, -self.clip, self.clip).astype(np.float32)


class RolloutCollector:
  """Collects rollouts of `length` steps from a batched env with a TF policy."""

  def __init__(self, env: environments.BatchedEnvironment,
               policy: tf_policy.TFPolicy, length: int,
               scaler: ReturnScaler | None = None):
    self.env, self.length, self.scaler = env, length, scaler
    self.policy = py_tf_eager_policy.PyTFEagerPolicy(
        policy, use_tf_function=True, batch_time_steps=False)
    self._time_step = None
    self._policy_step = None
    self._step_type = None

  def collect(self) -> trajectory.Trajectory:
    """One rollout: a Trajectory of numpy arrays shaped [num_envs, T + 1, ...]."""
    if self._time_step is None:
      self._time_step = self.env.reset()
      self._step_type = self._time_step.step_type
      self._policy_step = self.policy.action(self._time_step)
    steps = [(self._step_type, self._time_step.observation, self._policy_step)]
    rewards, discounts, next_types = [], [], []
    for _ in range(self.length):
      next_step = self.env.step(self._policy_step.action)
      done = next_step.step_type == ts.StepType.LAST
      reward = next_step.reward
      if self.scaler is not None:
        reward = self.scaler(reward, done)
      rewards.append(reward)
      discounts.append(next_step.discount)
      next_types.append(next_step.step_type)
      self._step_type = np.where(done, ts.StepType.FIRST,
                                 ts.StepType.MID).astype(np.int32)
      self._time_step = next_step
      self._policy_step = self.policy.action(next_step)
      steps.append((self._step_type, next_step.observation, self._policy_step))
    # The last step's outcome is the next rollout's business: pad it.
    num_envs = self.env.batch_size
    rewards.append(np.zeros(num_envs, np.float32))
    discounts.append(np.ones(num_envs, np.float32))
    next_types.append(np.full(num_envs, ts.StepType.MID, np.int32))

    def stack(values: Sequence[np.ndarray]) -> np.ndarray:
      return np.stack(values, axis=1)

    return trajectory.Trajectory(
        step_type=stack([s for s, _, _ in steps]),
        observation=stack([o for _, o, _ in steps]),
        action=stack([p.action for _, _, p in steps]),
        policy_info=tree.map_structure(lambda *x: stack(x),
                                       *[p.info for _, _, p in steps]),
        next_step_type=stack(next_types),
        reward=stack(rewards),
        discount=stack(discounts))


def write_rollout(client: reverb.Client, rollout: trajectory.Trajectory,
                  tables: Sequence[str]) -> None:
  """Writes each env's rollout as one item in every table."""
  num_envs = rollout.step_type.shape[0]
  with client.trajectory_writer(num_keep_alive_refs=1) as writer:
    for i in range(num_envs):
      writer.append(tree.map_structure(lambda x: x[i], rollout))
      item = tree.map_structure(lambda column: column[-1], writer.history)
      for table in tables:
        writer.create_item(table, priority=1.0, trajectory=item)
    writer.flush()
