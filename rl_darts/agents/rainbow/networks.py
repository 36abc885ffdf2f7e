"""Rainbow's Q-network: a gin-chosen encoder under dueling C51 heads.

The encoder (supernet, discrete network or IMPALA-CNN, `networks.make_encoder`)
maps images to 256 features; a value MLP and an advantage MLP (512 hidden
units each, as in the authors' code) give per-atom logits, combined as
V + A - mean_a A (Wang et al. 2016; Hessel et al. 2018 combine in logit space).

The untrained network predicts a return of `initial_return` (zero: nothing
earned yet), not the middle of the support. A uniform start on [0, 1] predicts
0.5 for every state while a Procgen return divided by the game's maximum is a
few hundredths: every non-terminal target then bootstraps about 0.5 and every
terminal one about 0, a survival bonus some 30 times a reward that takes
hundreds of target updates to decay (measured: starpilot under the paper's
schedule learns to dodge instead of shooting, see WORKSPACE.md).
"""

from __future__ import annotations

from typing import Optional

import gin
import numpy as np
import tensorflow as tf

from rl_darts.space import networks
from rl_darts.space import tracing


def _mlp(hidden: int, outputs: int, bias: Optional[np.ndarray] = None
         ) -> tf.keras.Sequential:
  """Two dense layers; the output layer's bias starts at `bias` (or zeros)."""
  initializer = 'zeros' if bias is None else tf.keras.initializers.Constant(bias)
  return tf.keras.Sequential([
      tf.keras.layers.Dense(hidden, activation='relu'),
      tf.keras.layers.Dense(outputs, bias_initializer=initializer)])


def _peak_bias(atoms: np.ndarray, value: float, mass: float) -> np.ndarray:
  """Logits whose softmax puts `mass` on the atom nearest `value` and
  spreads the rest evenly."""
  bias = np.zeros(len(atoms), np.float32)
  bias[np.argmin(np.abs(atoms - value))] = np.log(
      mass * (len(atoms) - 1) / (1.0 - mass))
  return bias


@gin.configurable
class DuelingC51(tf.keras.Model):
  """Q-value distributions over `num_atoms` atoms on [v_min, v_max].

  Paper App. F.2: 51 atoms on [0, 1] (rewards are divided by the game's
  maximum return). The value head's output bias starts with `initial_mass` of
  every distribution on the atom nearest `initial_return` (None: uniform).
  """

  def __init__(self, num_actions: int, num_atoms: int = 51,
               v_min: float = 0.0, v_max: float = 1.0, hidden_units: int = 512,
               initial_return: Optional[float] = 0.0,
               initial_mass: float = 0.99):
    super().__init__(name='dueling_c51')
    if num_atoms < 2 or v_max <= v_min:
      raise ValueError(f'DuelingC51 needs num_atoms >= 2 and v_max > v_min; '
                       f'got {num_atoms} atoms on [{v_min}, {v_max}]')
    if not 1.0 / num_atoms <= initial_mass < 1.0:
      raise ValueError(f'DuelingC51.initial_mass must be in [1/num_atoms, 1); '
                       f'got {initial_mass}')
    self.num_actions, self.num_atoms = num_actions, num_atoms
    atoms = np.linspace(v_min, v_max, num_atoms)
    self.atoms = tf.constant(atoms, tf.float32)
    self.encoder = networks.make_encoder()
    self.value = _mlp(hidden_units, num_atoms, bias=None if initial_return is None
                      else _peak_bias(atoms, initial_return, initial_mass))
    self.advantage = _mlp(hidden_units, num_actions * num_atoms)

  @tracing.no_autograph
  def call(self, observations: tf.Tensor, training: Optional[bool] = None
           ) -> tf.Tensor:
    """Logits [B, num_actions, num_atoms]."""
    features = self.encoder(observations, training=training)
    value = self.value(features)[:, None, :]
    advantage = tf.reshape(self.advantage(features),
                           [-1, self.num_actions, self.num_atoms])
    return value + advantage - tf.reduce_mean(advantage, axis=1, keepdims=True)

  def q_values(self, logits: tf.Tensor) -> tf.Tensor:
    """Expected return per action, [B, num_actions]."""
    return tf.reduce_sum(tf.nn.softmax(logits) * self.atoms, axis=-1)


def build(observation_spec, num_actions: int) -> DuelingC51:
  """A gin-configured DuelingC51 with its variables created."""
  network = DuelingC51(num_actions)
  network(tf.zeros((1,) + tuple(observation_spec.shape),
                   observation_spec.dtype))
  return network


def copy_variables(source: tf.keras.Model, target: tf.keras.Model) -> None:
  """Target network update: every variable of `source` into `target`."""
  for s, t in zip(source.variables, target.variables, strict=True):
    if s.shape != t.shape:
      raise ValueError(f'target network mismatch: {s.name} {s.shape} vs '
                       f'{t.name} {t.shape}')
    t.assign(s)
