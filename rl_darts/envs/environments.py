"""Batched TF-Agents environments of auto-resetting games, and a synthetic one.

Time steps follow TF-Agents, batched: a finished game's step is LAST (discount
0, its last reward) and already carries the next episode's first observation,
so every action taken is a real one (see `ppo.rollouts` for the trajectories).
"""

from __future__ import annotations

import numpy as np
from tf_agents.environments import py_environment
from tf_agents.specs import array_spec
from tf_agents.trajectories import time_step as ts

from rl_darts.envs import synthetic
from rl_darts.runtime import checkpointing


class EpisodeStats:
  """Running return and length per env; finished episodes on demand."""

  def __init__(self, num_envs: int):
    self.returns = np.zeros(num_envs, np.float64)
    self.lengths = np.zeros(num_envs, np.int64)
    self.finished: list[tuple[int, float, int]] = []

  def update(self, rewards: np.ndarray, done: np.ndarray) -> None:
    self.returns += rewards
    self.lengths += 1
    for i in np.flatnonzero(done):
      self.finished.append((int(i), float(self.returns[i]),
                            int(self.lengths[i])))
    self.returns[done] = 0
    self.lengths[done] = 0

  def pop(self) -> list[tuple[float, int]]:
    """(return, length) of the episodes finished since the last pop."""
    return [(r, n) for _, r, n in self.pop_with_envs()]

  def pop_with_envs(self) -> list[tuple[int, float, int]]:
    """(env, return, length) of the episodes finished since the last pop."""
    finished, self.finished = self.finished, []
    return finished


class BatchedEnvironment(py_environment.PyEnvironment):
  """A batched env of auto-resetting games with episode statistics.

  Subclasses implement `_observe_reset()` and `_act(actions)`; the latter
  returns (rewards, observations, done) where observations of finished games
  are already their next episode's first. Actions are `num_actions` discrete
  ones, or as `action_spec` says. Envs with state of their own (weights they
  train) or artifacts override `trackables`, `record` and `finish`.
  """

  def __init__(self, num_envs: int, observation_spec: array_spec.ArraySpec,
               num_actions: int = 0,
               action_spec: array_spec.BoundedArraySpec | None = None):
    super().__init__(handle_auto_reset=False)
    self._num_envs = num_envs
    self._observation_spec = observation_spec
    self._action_spec = action_spec or array_spec.BoundedArraySpec(
        (), np.int32, 0, num_actions - 1)
    self.stats = EpisodeStats(num_envs)

  def trackables(self) -> dict:
    """State a run checkpoints with its agent (none by default)."""
    return {}

  def record(self, root_dir: str, step: int) -> None:
    """Called by the training loop as it records alpha; nothing by default."""

  def finish(self, policy, root_dir: str) -> None:
    """Called with the trained greedy policy at the end; nothing by default."""

  @property
  def batched(self) -> bool:
    return True

  @property
  def batch_size(self) -> int:
    return self._num_envs

  def observation_spec(self) -> array_spec.ArraySpec:
    return self._observation_spec

  def action_spec(self) -> array_spec.BoundedArraySpec:
    return self._action_spec

  def _reset(self) -> ts.TimeStep:
    self.stats = EpisodeStats(self._num_envs)
    return ts.restart(self._observe_reset(), batch_size=self._num_envs)

  def describe(self, index: int) -> str:
    """What env `index` played, for error messages."""
    return f'env {index}'

  def _checked(self, action: np.ndarray) -> np.ndarray:
    """`action` as the spec's dtype; an error naming it and the spec if a
    discrete action is out of the spec's bounds or a continuous one is not
    finite (continuous actions beyond the bounds are the env's to clip)."""
    spec = self._action_spec
    actions = np.asarray(action, spec.dtype)
    if actions.dtype.kind == 'f':
      bad = ~np.isfinite(actions)
    else:
      bad = (actions < spec.minimum) | (actions > spec.maximum)
    if bad.any():
      raise ValueError(f'action {action!r} is outside the action spec {spec}')
    return actions

  def _step(self, action: np.ndarray) -> ts.TimeStep:
    rewards, observations, done = self._act(self._checked(action))
    bad = np.flatnonzero(~np.isfinite(rewards))
    if bad.size:
      raise checkpointing.NonFiniteError(
          f'reward {rewards[bad[0]]} of {self.describe(int(bad[0]))} is not '
          f'finite: stopped before it reached the agent')
    rewards = rewards.astype(np.float32)
    self.stats.update(rewards, done)
    return ts.TimeStep(
        step_type=np.where(done, ts.StepType.LAST, ts.StepType.MID).astype(
            np.int32),
        reward=rewards,
        discount=np.where(done, 0.0, 1.0).astype(np.float32),
        observation=observations)

  def _observe_reset(self) -> np.ndarray:
    raise NotImplementedError

  def _act(self, actions: np.ndarray):
    raise NotImplementedError


class ImageBandit(BatchedEnvironment):
  """One-step episodes on images: reward 1 for the image's answer.
  Subclasses implement `_draw()`: new images, with their answers stored in
  `self._answers`."""

  def _observe_reset(self) -> np.ndarray:
    return self._draw()

  def _act(self, actions: np.ndarray):
    rewards = (actions == self._answers).astype(np.float32)
    return rewards, self._draw(), np.ones(self._num_envs, bool)

  def _draw(self) -> np.ndarray:
    raise NotImplementedError


class QuadrantBandit(ImageBandit):
  """The synthetic quadrant task as one-step episodes: reward 1 for naming the
  quadrant of the bright square (4 actions; random play earns 0.25)."""

  def __init__(self, num_envs: int, seed: int = 0):
    super().__init__(num_envs, array_spec.BoundedArraySpec(
        (synthetic.SIZE, synthetic.SIZE, 3), np.uint8, 0, 255),
                     synthetic.NUM_CLASSES)
    self._rng = np.random.default_rng(seed)
    self._answers = np.zeros(num_envs, np.int32)

  def _draw(self) -> np.ndarray:
    images, self._answers = synthetic.quadrant_images(self._num_envs,
                                                      self._rng)
    return images
