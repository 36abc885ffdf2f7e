"""PPO's actor and value networks, chosen by gin (`make_agent.networks`).

`shared_encoder` (the default): one image encoder (supernet, discrete network
or IMPALA-CNN) that both heads call, as in the RL-DARTS code: alpha gets
gradients from the policy, value and entropy losses alike.
`separate_mlps`: an actor MLP and a critic MLP on vector observations, as the
PPO meta-agent of the RL-for-DARTS paper (Stable-Baselines3's MlpPolicy).
"""

from __future__ import annotations

from typing import Sequence

import gin
import tensorflow as tf
from tf_agents.networks import actor_distribution_network
from tf_agents.networks import categorical_projection_network
from tf_agents.networks import network
from tf_agents.networks import normal_projection_network
from tf_agents.networks import value_network
from tf_agents.networks import utils
from tf_agents.specs import tensor_spec
from tf_agents.utils import nest_utils

from rl_darts.space import networks
from rl_darts.space import tracing


class _FeatureCache:
  """Encoder outputs per observation tensor of the graph being traced.

  TF-Agents' PPO runs the actor and the value network on the same observation
  tensor, both when collecting and in the loss: with one shared encoder that
  computes the same features twice. Within one traced graph, the second call
  reuses the first's output (identical math, half the encoder work; gradients
  flow through both heads). Unless the encoder has layers that behave
  differently in training (BN, dropout), the training flag does not split
  entries (PPO asks for values with training=False and for the policy with
  training=True). This holds as long as no weight update happens
  between two encodings of one observation tensor in one graph: true for
  PPO's loss with the agent's own epochs at 1 (`agent.make_agent`). Eager
  calls are never cached.
  """

  def __init__(self, training_matters: bool):
    self.training_matters = training_matters
    self.graph = None
    self.entries: dict = {}

  def get(self, observation: tf.Tensor, training, compute):
    if tf.executing_eagerly():
      return compute()
    graph = tf.compat.v1.get_default_graph()
    if graph is not self.graph:
      self.graph, self.entries = graph, {}
    key = observation.ref()
    if self.training_matters:  # The heads may ask in different modes.
      key = (key, training if isinstance(training, bool) else id(training))
    if key not in self.entries:
      self.entries[key] = compute()
    return self.entries[key]


class SharedEncoder(network.Network):
  """Applies a Keras encoder to observations of any outer rank ([B] or [B, T]),
  once per observation tensor however many heads ask (see _FeatureCache)."""

  def __init__(self, observation_spec: tensor_spec.TensorSpec,
               encoder: networks.Encoder, name: str = 'SharedEncoder'):
    super().__init__(input_tensor_spec=observation_spec, state_spec=(),
                     name=name)
    self.encoder = encoder
    self._features = _FeatureCache(training_matters=any(
        isinstance(m, (tf.keras.layers.BatchNormalization,
                       tf.keras.layers.Dropout)) for m in encoder.submodules))

  @tracing.no_autograph
  def call(self, observation, step_type=None, network_state=(),
           training=False):
    del step_type
    outer_rank = nest_utils.get_outer_rank(observation, self.input_tensor_spec)
    squash = utils.BatchSquash(outer_rank)

    def encode():
      features = self.encoder(squash.flatten(observation), training=training)
      return squash.unflatten(features)

    return self._features.get(observation, training, encode), network_state


class ActorNetwork(network.DistributionNetwork):
  """Encoder features -> categorical policy over the actions."""

  def __init__(self, shared: SharedEncoder,
               action_spec: tensor_spec.BoundedTensorSpec,
               name: str = 'ActorNetwork'):
    projection = categorical_projection_network.CategoricalProjectionNetwork(
        action_spec, logits_init_output_factor=0.01)
    super().__init__(input_tensor_spec=shared.input_tensor_spec, state_spec=(),
                     output_spec=projection.output_spec, name=name)
    self.shared, self.projection = shared, projection

  @tracing.no_autograph
  def call(self, observation, step_type=None, network_state=(),
           training=False, mask=None):
    features, network_state = self.shared(observation, step_type,
                                          network_state, training=training)
    outer_rank = nest_utils.get_outer_rank(observation, self.input_tensor_spec)
    distribution, _ = self.projection(features, outer_rank, training=training)
    return distribution, network_state


class ValueNetwork(network.Network):
  """Encoder features -> state value."""

  def __init__(self, shared: SharedEncoder, name: str = 'ValueNetwork'):
    super().__init__(input_tensor_spec=shared.input_tensor_spec, state_spec=(),
                     name=name)
    self.shared = shared
    self.head = tf.keras.layers.Dense(
        1, kernel_initializer=tf.keras.initializers.Orthogonal(1.0))

  @tracing.no_autograph
  def call(self, observation, step_type=None, network_state=(),
           training=False):
    features, network_state = self.shared(observation, step_type,
                                          network_state, training=training)
    return tf.squeeze(self.head(features, training=training), -1), network_state


@gin.configurable
def shared_encoder(observation_spec: tensor_spec.TensorSpec,
                   action_spec: tensor_spec.BoundedTensorSpec
                   ) -> tuple[ActorNetwork, ValueNetwork]:
  """Policy and value heads over one gin-chosen encoder."""
  shared = SharedEncoder(observation_spec, networks.make_encoder())
  return ActorNetwork(shared, action_spec), ValueNetwork(shared)


def _gaussian_projection(action_spec: tensor_spec.BoundedTensorSpec):
  """A Normal around the unsquashed mean with a state-independent std that
  starts at 1 (log-std 0), as Stable-Baselines3; the env clips actions."""
  return normal_projection_network.NormalProjectionNetwork(
      action_spec, mean_transform=None, std_transform=tf.exp,
      state_dependent_std=False, init_means_output_factor=0.01)


@gin.configurable
def separate_mlps(observation_spec: tensor_spec.TensorSpec,
                  action_spec: tensor_spec.BoundedTensorSpec,
                  layers: Sequence[int] = (64, 64),
                  activation=tf.nn.tanh):
  """An actor and a critic MLP with no shared layers (64-64 tanh: the
  RL-for-DARTS meta-agent); categorical or Gaussian by the action spec."""
  actor = actor_distribution_network.ActorDistributionNetwork(
      observation_spec, action_spec, fc_layer_params=tuple(layers),
      activation_fn=activation,
      discrete_projection_net=lambda spec: (
          categorical_projection_network.CategoricalProjectionNetwork(
              spec, logits_init_output_factor=0.01)),
      continuous_projection_net=_gaussian_projection)
  critic = value_network.ValueNetwork(
      observation_spec, fc_layer_params=tuple(layers),
      activation_fn=activation)
  return actor, critic
