"""Pixel SAC's actor and critics around one shared encoder (RL-DARTS App. A.3).

The encoder is shared the way pixel SAC shares it (SAC-AE, Yarats et al.
2019; DrQ, Kostrikov et al. 2020): both Q heads read one encoder, which only
the critic loss trains (a supernet's alpha included: alpha trains with the
critic loss); the actor reads its features through a stop-gradient and does
not own its variables; the target critics share a second encoder, which the
soft target update follows.
"""

from __future__ import annotations

from typing import Sequence

import tensorflow as tf
from tf_agents.agents.sac import tanh_normal_projection_network
from tf_agents.networks import network
from tf_agents.utils import nest_utils

from rl_darts.space import tracing


def _mlp(units: Sequence[int]) -> list[tf.keras.layers.Layer]:
  return [tf.keras.layers.Dense(u, activation='relu') for u in units]


class PixelCritic(network.Network):
  """Q(s, a): the encoder's features of s, concatenated with a, then an MLP."""

  def __init__(self, input_tensor_spec, encoder: tf.keras.Model,
               hidden_units: Sequence[int] = (1024, 1024),
               name: str = 'PixelCritic'):
    super().__init__(input_tensor_spec, state_spec=(), name=name)
    self.encoder = encoder
    self._layers = _mlp(hidden_units) + [tf.keras.layers.Dense(1)]

  @tracing.no_autograph
  def call(self, inputs, step_type=(), network_state=(), training=False):
    del step_type  # Unused: Q has no state.
    observations, actions = inputs
    x = tf.concat([self.encoder(observations, training=training),
                   tf.cast(actions, tf.float32)], axis=-1)
    for layer in self._layers:
      x = layer(x, training=training)
    return tf.squeeze(x, -1), network_state


class PixelActor(network.DistributionNetwork):
  """A tanh-squashed Gaussian over actions from the critic's encoder features
  (stop-gradient; the encoder's variables are not the actor's)."""

  def __init__(self, input_tensor_spec, output_tensor_spec,
               encoder: tf.keras.Model,
               hidden_units: Sequence[int] = (1024, 1024),
               name: str = 'PixelActor'):
    projection = tanh_normal_projection_network.TanhNormalProjectionNetwork(
        output_tensor_spec)
    super().__init__(input_tensor_spec, state_spec=(),
                     output_spec=projection.output_spec, name=name)
    # A closure, which Keras does not track: the critic owns the encoder.
    self._features = lambda images, training: tf.stop_gradient(
        encoder(images, training=training))
    self._layers = _mlp(hidden_units)
    self._projection = projection

  @tracing.no_autograph
  def call(self, observations, step_type=(), network_state=(),
           training=False):
    del step_type  # Unused: the policy has no state.
    outer_rank = nest_utils.get_outer_rank(observations,
                                           self.input_tensor_spec)
    batch_shape = tf.shape(observations)[:outer_rank]
    images = tf.reshape(observations, tf.concat(
        [[-1], tf.shape(observations)[outer_rank:]], 0))
    x = self._features(images, training)
    for layer in self._layers:
      x = layer(x, training=training)
    x = tf.reshape(x, tf.concat([batch_shape, tf.shape(x)[1:]], 0))
    distribution, _ = self._projection(x, outer_rank=outer_rank)
    return distribution, network_state
