"""The RL-for-DARTS search environment: a PPO meta-agent edits a DARTS
supernet's alpha one edge at a time and is rewarded by the supernet's score.

Discrete mode: the observation is softmax(alpha) of both cell types; an action
picks the op of the next edge (its alpha entry is set to the sentinel 1e6, so
its softmax is one-hot); 28 steps (14 edges x 2 cell types); the reward comes
at the last step. Continuous mode: the action in [-1, 1]^|O| is added to the
next edge's alpha scaled by lambda; `passes` passes over the 28 edges; one SGD
step on the weights every `sgd_every` steps (default: each pass, as the
authors' code); optional alpha-gradient features and frame stacking.
The reward is the supernet's score of the alpha (`reward`); what the search
writes is in `artifacts`. Reset redraws alpha as 1e-3 * N(0, 1).

The batched env runs `num_envs` searches in lockstep on one shared supernet
(one SGD step per pass for all of them in continuous mode).
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional

import gin
import numpy as np
from tf_agents.policies import py_tf_eager_policy
from tf_agents.specs import array_spec

from rl_darts.envs import environments
from rl_darts.envs import image_data
from rl_darts.nas_rl import artifacts
from rl_darts.nas_rl import reward as reward_lib

MODES = ('discrete', 'continuous')
REWARDS = ('acc', 'loss', 'nwot')
CELL_ORDER = ('normal', 'reduce')


@gin.configurable
@dataclasses.dataclass
class SearchSettings:
  """The search env's settings (gin: `SearchSettings.mode = 'continuous'`);
  defaults from the paper and the dartsrl code (see gin_configs/nas_rl/)."""

  mode: str = 'discrete'
  reward: str = 'acc'
  checkpoint: Optional[str] = None  # A pretrain_supernet run dir ("ckpt").
  reward_batch: int = 64
  weight_batch: int = 64
  passes: int = 10  # Continuous: passes over the 28 edges per episode.
  step_size: float = 0.01  # Continuous: lambda.
  sgd_every: int = 28  # Continuous: env steps between SGD steps on weights.
  weight_learning_rate: float = 1e-3
  weight_momentum: float = 0.9
  weight_decay: float = 3e-4
  gradient_features: bool = False
  frame_stack: int = 1
  sentinel: float = 1e6
  skip_threshold: float = 1e-3
  alpha_init_stddev: float = 1e-3
  # At the end: the final cell's reward against that of this many episodes
  # of a uniformly random policy, each averaged over the same check batches.
  naswot_ridge: float = 0.0  # nwot: log|det(K + ridge I)|; 0 is the paper's
  # log|K| (Eq. 12, the authors' code), with a singular K scored finitely.
  check_cells: int = 32
  check_batches: int = 4
  # A planted cell ('random', or a JSON file of op names per edge): the
  # supernet's own output there labels the data (nas_rl/planted.py).
  plant: Optional[str] = None
  # The reward forward compiled once (tracing takes about a minute at the
  # paper's scale; each forward then runs 4-5x faster); False: eagerly.
  compiled_forward: bool = True

  def __post_init__(self):
    if self.mode not in MODES:
      raise ValueError(f'unknown search mode {self.mode!r}; allowed: '
                       f'{", ".join(MODES)}')
    if self.reward not in REWARDS:
      raise ValueError(f'unknown reward {self.reward!r}; allowed: '
                       f'{", ".join(REWARDS)}')
    if self.frame_stack < 1 or self.passes < 1 or self.sgd_every < 0:
      raise ValueError(f'frame_stack and passes must be >= 1, sgd_every >= 0; '
                       f'got {self.frame_stack}, {self.passes}, '
                       f'{self.sgd_every}')
    if self.plant and (self.mode, self.reward) not in (
        ('discrete', 'acc'), ('discrete', 'loss')):
      raise ValueError(
          f'SearchSettings.plant needs mode discrete (continuous mode trains '
          f'the weights that label the data) and reward acc or loss (NASWOT '
          f'reads no labels); got {self.mode}, {self.reward}')
    if self.naswot_ridge < 0:
      raise ValueError(f'SearchSettings.naswot_ridge must be >= 0; got '
                       f'{self.naswot_ridge}')
    if self.check_cells < 0 or self.check_batches < 1:
      raise ValueError(f'check_cells must be >= 0 and check_batches >= 1; '
                       f'got {self.check_cells}, {self.check_batches}')
    if self.mode == 'discrete' and (self.gradient_features or
                                    self.frame_stack > 1):
      raise ValueError('gradient features and frame stacking are continuous-'
                       'mode options')


class DartsSearchEnvironment(environments.BatchedEnvironment):
  """`num_envs` RL-for-DARTS searches on one gin-configured `DartsSupernet`."""

  def __init__(self, num_envs: int, seed: int, root_dir: str,
               settings: Optional[SearchSettings] = None,
               data: Optional[image_data.ImageData] = None):
    self.settings = settings or SearchSettings()
    self.root_dir = root_dir
    self.reward = reward_lib.SupernetReward(
        self.settings, data or image_data.load_dataset(), root_dir, seed)
    self.shapes = self.supernet.alpha_shapes()
    self.num_edges, num_ops = self.shapes['normal']
    self.episode_steps = len(CELL_ORDER) * self.num_edges * (
        self.settings.passes if self.settings.mode == 'continuous' else 1)
    self.rng = np.random.default_rng(seed)
    self.check_seed = seed + 3
    frame = 2 * self.num_edges * num_ops * (
        2 if self.settings.gradient_features else 1)
    if self.settings.mode == 'discrete':
      action_spec = array_spec.BoundedArraySpec((), np.int32, 0, num_ops - 1)
    else:
      action_spec = array_spec.BoundedArraySpec((num_ops,), np.float32, -1, 1)
    super().__init__(num_envs, array_spec.ArraySpec(
        (frame * self.settings.frame_stack,), np.float32),
                     action_spec=action_spec)
    self.alpha = self._draw_alpha(self.rng, num_envs)
    self.t = 0
    self.frames: Optional[np.ndarray] = None
    self.last_alpha: Optional[dict[str, np.ndarray]] = None

  @property
  def supernet(self):
    """The supernet whose score is the reward (`reward.supernet`)."""
    return self.reward.supernet

  # Alpha ----------------------------------------------------------------------
  def _draw_alpha(self, rng: np.random.Generator, n: int
                  ) -> dict[str, np.ndarray]:
    return {t: (self.settings.alpha_init_stddev *
                rng.standard_normal((n,) + self.shapes[t])).astype(np.float32)
            for t in CELL_ORDER}

  # Observations -----------------------------------------------------------------
  def _frame(self, i: int) -> np.ndarray:
    alpha = {t: a[i] for t, a in self.alpha.items()}
    probs = reward_lib.probabilities({t: a[None] for t, a in alpha.items()})[0]
    grads = (self.reward.alpha_gradients(alpha)
             if self.settings.gradient_features else None)
    parts = []
    for t in CELL_ORDER:
      parts.append(probs[t].ravel())
      if grads is not None:
        parts.append(grads[t].ravel())
    return np.concatenate(parts).astype(np.float32)

  def _observe(self, reset: np.ndarray) -> np.ndarray:
    """Stacked frames per env; envs in `reset` start a fresh stack."""
    frames = np.stack([self._frame(i) for i in range(self._num_envs)])
    k = self.settings.frame_stack
    if self.frames is None:
      self.frames = np.repeat(frames[:, None], k, axis=1)
    self.frames = np.concatenate([self.frames[:, 1:], frames[:, None]], axis=1)
    self.frames[reset] = frames[reset, None]
    return self.frames.reshape(self._num_envs, -1)

  def _observe_reset(self) -> np.ndarray:
    self.alpha = self._draw_alpha(self.rng, self._num_envs)
    self.t = 0
    self.frames = None
    return self._observe(np.ones(self._num_envs, bool))

  # Steps ------------------------------------------------------------------------
  def _edge(self) -> tuple[str, int]:
    position = self.t % (len(CELL_ORDER) * self.num_edges)
    return CELL_ORDER[position // self.num_edges], position % self.num_edges

  def _apply(self, actions: np.ndarray) -> None:
    """Edits the current edge's alpha of every env by its action."""
    cell_type, edge = self._edge()
    if self.settings.mode == 'discrete':
      rows = np.arange(self._num_envs)
      self.alpha[cell_type][rows, edge, actions] = self.settings.sentinel
    else:
      step = self.settings.step_size * np.clip(actions, -1.0, 1.0)
      self.alpha[cell_type][:, edge] += step.astype(np.float32)
    self.t += 1

  def _act(self, actions: np.ndarray):
    self._apply(actions)
    if (self.settings.mode == 'continuous' and self.settings.sgd_every and
        self.t % self.settings.sgd_every == 0):
      self.reward.train_weights(reward_lib.probabilities(
          {t: a[:1] for t, a in self.alpha.items()})[0])
    none_done = np.zeros(self._num_envs, bool)
    if self.t < self.episode_steps:
      return (np.zeros(self._num_envs, np.float32), self._observe(none_done),
              none_done)
    self.last_alpha = {t: a[0].copy() for t, a in self.alpha.items()}
    self.scored_alpha = {t: a.copy() for t, a in self.alpha.items()}
    rewards = np.array([self.reward.score(p) for p in
                        reward_lib.probabilities(self.alpha)], np.float32)
    return rewards, self._observe_reset(), ~none_done

  def describe(self, index: int) -> str:
    """The env's last scored alpha, saved to nonfinite_alpha.npz."""
    alpha = {t: a[index] for t, a in self.scored_alpha.items()}
    path = os.path.join(self.root_dir, 'nonfinite_alpha.npz')
    artifacts.save_alpha(path, alpha)
    return (f'env {index}, whose alpha is saved in {path} (decoded: '
            f'{artifacts.genotype_of(self, alpha).to_darts_string()})')

  # Run hooks --------------------------------------------------------------------
  def trackables(self) -> dict:
    """The supernet, whose weights define the reward (a resumed search
    scores against the same one), and in continuous mode, which trains it,
    its optimizer."""
    trackables = {'supernet': self.supernet}
    if self.settings.mode == 'continuous':
      trackables['supernet_optimizer'] = self.reward.optimizer
    return trackables

  def record(self, root_dir: str, step: int) -> None:
    """alpha_snapshots/step_<step>.npz: the last finished episode's alpha."""
    if self.last_alpha is not None:
      artifacts.save_alpha(os.path.join(root_dir, 'alpha_snapshots',
                                        f'step_{step:012d}.npz'),
                           self.last_alpha)

  def final_alpha(self, policy) -> dict[str, np.ndarray]:
    """Alpha after one greedy episode of `policy` (a fresh one; the last
    action is applied without the reward and reset a step would bring)."""
    py_policy = py_tf_eager_policy.PyTFEagerPolicy(
        policy, use_tf_function=True, batch_time_steps=False)
    step = self.reset()
    for _ in range(self.episode_steps - 1):
      step = self.step(py_policy.action(step).action)
    self._apply(np.asarray(py_policy.action(step).action,
                           self._action_spec.dtype))
    return {t: a[0].copy() for t, a in self.alpha.items()}

  def random_alphas(self, n: int, seed: int) -> list[dict[str, np.ndarray]]:
    """The alphas of `n` episodes of a uniformly random policy (actions
    drawn uniformly from the action spec; no reward, no weight SGD). Played
    on the envs' own alphas, so it belongs at the end of a search."""
    rng = np.random.default_rng(seed)
    spec = self._action_spec
    alphas = []
    while len(alphas) < n:
      self.alpha = self._draw_alpha(rng, self._num_envs)
      self.t = 0
      for _ in range(self.episode_steps):
        if self.settings.mode == 'discrete':
          actions = rng.integers(spec.minimum, spec.maximum + 1,
                                 self._num_envs)
        else:
          actions = rng.uniform(spec.minimum, spec.maximum,
                                (self._num_envs,) + spec.shape)
        self._apply(actions)
      alphas += [{t: a[i].copy() for t, a in self.alpha.items()}
                 for i in range(self._num_envs)]
    return alphas[:n]

  def finish(self, policy, root_dir: str) -> None:
    """Writes the searched cell and its checks (`artifacts.write_final`)."""
    artifacts.write_final(self, policy, root_dir)
