"""DeepMind Control Suite tasks from pixels, as TF-Agents environments
(RL-DARTS paper App. A.3: SAC from 64x64 pixels, frame stack 3).

Each agent step repeats the action `action_repeat` times in the physics
(rewards summed; rendered once, after the last), and the observation stacks
the last `frame_stack` frames along the channels (64x64x9 for 3 frames).
Episodes end by the suite's time limit with discount 1 (a truncation, which
SAC bootstraps through). Frames come from MuJoCo's offscreen renderer: EGL by
default (Mesa's software EGL on a CPU machine), or whatever `MUJOCO_GL` names.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

import gin
import numpy as np
from tf_agents.environments import py_environment
from tf_agents.specs import array_spec
from tf_agents.trajectories import time_step as ts

# PlaNet's action repeats (Hafner et al. 2019), which SAC-AE and DrQ kept.
ACTION_REPEATS = {('cartpole', 'swingup'): 8, ('reacher', 'easy'): 4,
                  ('cheetah', 'run'): 4, ('finger', 'spin'): 2,
                  ('ball_in_cup', 'catch'): 4, ('walker', 'walk'): 2}
RENDER_HELP = ('MuJoCo cannot render offscreen here ({error!r}). Install an '
               'offscreen GL: Mesa\'s EGL (Debian: apt-get install libegl1 '
               'libgl1-mesa-dri; MUJOCO_GL=egl, the default) or OSMesa '
               '(apt-get install libosmesa6; MUJOCO_GL=osmesa).')


class RendererError(RuntimeError):
  """MuJoCo cannot render offscreen on this machine."""


def _suite():
  """dm_control's suite, with MuJoCo's GL backend defaulting to EGL."""
  os.environ.setdefault('MUJOCO_GL', 'egl')
  try:  # dm_control loads the GL backend on import.
    from dm_control import suite  # pylint: disable=g-import-not-at-top
  except Exception as error:  # GL errors come in several types.
    raise RendererError(RENDER_HELP.format(error=error)) from error
  return suite


def tasks() -> list[tuple[str, str]]:
  """Every (domain, task) of the suite."""
  return list(_suite().ALL_TASKS)


@gin.configurable
@dataclasses.dataclass
class ControlTask:
  """A suite task from pixels; `action_repeat=None` takes the task's in
  ACTION_REPEATS (PlaNet's), else 4."""

  domain: str = 'cheetah'
  task: str = 'run'
  image_size: int = 64
  frame_stack: int = 3
  action_repeat: Optional[int] = None
  camera_id: int = 0

  def __post_init__(self):
    if (self.domain, self.task) not in tasks():
      raise ValueError(
          f'unknown DM-Control task {self.domain}-{self.task}; allowed: '
          f'{", ".join(f"{d}-{t}" for d, t in tasks())}')
    if self.image_size < 8 or self.frame_stack < 1 or self.repeat < 1:
      raise ValueError(f'need image_size >= 8, frame_stack >= 1 and '
                       f'action_repeat >= 1; got {self.image_size}, '
                       f'{self.frame_stack}, {self.repeat}')

  @property
  def name(self) -> str:
    return f'{self.domain}-{self.task}'

  @property
  def repeat(self) -> int:
    if self.action_repeat is not None:
      return self.action_repeat
    return ACTION_REPEATS.get((self.domain, self.task), 4)

  def make(self, seed: int) -> 'ControlEnvironment':
    return ControlEnvironment(self, seed)


class ControlEnvironment(py_environment.PyEnvironment):
  """One suite task stepped from pixels (see the module docstring)."""

  def __init__(self, task: ControlTask, seed: int):
    super().__init__(handle_auto_reset=True)  # A step after LAST resets.
    self._task = task
    self._env = _suite().load(task.domain, task.task,
                              task_kwargs={'random': seed})
    try:
      self._render()
    except Exception as error:  # GL errors come in several types.
      raise RendererError(RENDER_HELP.format(error=error)) from error
    spec = self._env.action_spec()
    self._action_spec = array_spec.BoundedArraySpec(
        spec.shape, np.float32, spec.minimum.astype(np.float32),
        spec.maximum.astype(np.float32), name='action')
    size = task.image_size
    self._observation_spec = array_spec.BoundedArraySpec(
        (size, size, 3 * task.frame_stack), np.uint8, 0, 255,
        name='pixels')
    self._frames: list[np.ndarray] = []

  def observation_spec(self) -> array_spec.BoundedArraySpec:
    return self._observation_spec

  def action_spec(self) -> array_spec.BoundedArraySpec:
    return self._action_spec

  def _render(self) -> np.ndarray:
    size = self._task.image_size
    return self._env.physics.render(size, size,
                                    camera_id=self._task.camera_id)

  def _observation(self) -> np.ndarray:
    return np.concatenate(self._frames, axis=-1)

  def _reset(self) -> ts.TimeStep:
    self._env.reset()
    self._frames = [self._render()] * self._task.frame_stack
    return ts.restart(self._observation())

  def _step(self, action: np.ndarray) -> ts.TimeStep:
    action = np.asarray(action, np.float32)
    if action.shape != self._action_spec.shape or not np.isfinite(
        action).all():
      raise ValueError(f'action {action!r} does not fit the action spec '
                       f'{self._action_spec}')
    reward = 0.0
    for _ in range(self._task.repeat):
      step = self._env.step(action)
      reward += step.reward or 0.0
      if step.last():
        break
    self._frames = self._frames[1:] + [self._render()]
    if step.last():  # The suite's time limit: a truncation (discount 1).
      return ts.truncation(self._observation(), np.float32(reward),
                           np.float32(step.discount))
    return ts.transition(self._observation(), np.float32(reward))
