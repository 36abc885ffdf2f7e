"""The TF-Agents PPOClipAgent over a gin-chosen encoder.

Hyperparameters are gin bindings (see gin_configs/ppo/); defaults are the Procgen
PPO standard (Cobbe et al. 2020). Epochs are applied once, by the learner: the
agent itself runs one pass per minibatch (the authors' code doubled them).

`ChunkedPPOAgent` trains a minibatch of B samples as k chunks of B / k with one
optimizer step: the same update as one pass of B (the loss is a mean over
samples, advantages are normalized over the whole minibatch, the encoders keep
no batch statistics), in the memory of one chunk's activations.
"""

from __future__ import annotations

from typing import Callable, Optional

import gin
import tensorflow as tf
from tf_agents.agents import tf_agent
from tf_agents.agents.ppo import ppo_agent
from tf_agents.agents.ppo import ppo_clip_agent
from tf_agents.agents.ppo import ppo_utils
from tf_agents.networks import network
from tf_agents.utils import common
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

from rl_darts.agents import gradients as gradients_lib
from rl_darts.agents.ppo import networks as ppo_networks
from rl_darts.runtime import runs
from rl_darts.space import networks


class ChunkedPPOAgent(gradients_lib.ChunkedAgent,
                      ppo_clip_agent.PPOClipAgent):
  """PPO-clip whose every minibatch trains as `gradient_chunks` chunks with
  one optimizer step (exact gradient accumulation; 1: TF-Agents' own step).
  Supports what this project's PPO uses: the clipped loss without a KL
  penalty, and no normalizer updates in training."""

  def _chunked_train(self, experience, weights):
    if self._initial_adaptive_kl_beta > 0 or self.update_normalizers_in_train:
      raise ValueError('gradient chunks support neither an adaptive KL '
                       'penalty nor normalizer updates in training')
    loss_info = None
    for _ in range(self._num_epochs):
      gradients, loss_info = self.minibatch_gradients(experience, weights)
      variables = self.variables_to_train()
      if self._gradient_clipping > 0:
        gradients, _ = tf.clip_by_global_norm(gradients,
                                              self._gradient_clipping)
      self._optimizer.apply_gradients(zip(gradients, variables))
      self.train_step_counter.assign_add(1)
    return loss_info

  def variables_to_train(self) -> list[tf.Variable]:
    """The actor's and value network's weights, each once, sorted by name
    (TF-Agents' order)."""
    unique = {id(v): v for v in (self._actor_net.trainable_weights +
                                 self._value_net.trainable_weights)}
    return sorted(unique.values(), key=lambda v: v.name)

  def minibatch_gradients(self, experience, weights=None
                          ) -> tuple[list[tf.Tensor], tf_agent.LossInfo]:
    """The gradient of the minibatch's PPO loss as the sum over its chunks
    of each chunk's loss over `gradient_chunks`, and the chunks' mean loss
    (TF-Agents' own inputs to `get_loss`, computed as its `_train` does)."""
    experience = self._as_trajectory(experience)
    mask = ppo_utils.make_trajectory_mask(experience)
    weights = mask if weights is None else weights * mask
    old_parameters = experience.policy_info['dist_params']
    old_distribution = ppo_utils.distribution_from_spec(
        self._action_distribution_spec, old_parameters,
        legacy_distribution_network=isinstance(
            self._actor_net, network.DistributionNetwork))
    inputs = {
        'time_steps': ts.TimeStep(experience.step_type, experience.reward,
                                  experience.discount, experience.observation),
        'actions': experience.action,
        'act_log_probs': common.log_probability(
            old_distribution, experience.action, self._action_spec),
        'returns': experience.policy_info['return'],
        # Over the whole minibatch, as one pass of it normalizes them.
        'normalized_advantages': ppo_agent._normalize_advantages(  # pylint: disable=protected-access
            experience.policy_info['advantage'], variance_epsilon=1e-8),
        'action_distribution_parameters': old_parameters,
        'weights': weights,
        'old_value_predictions': experience.policy_info['value_prediction']}
    size = weights.shape[0]
    if size is not None and size % self.gradient_chunks:
      raise ValueError(f'gradient_chunks {self.gradient_chunks} does not '
                       f'divide the minibatch of {size}')
    variables = self.variables_to_train()

    def chunk_gradients(chunk):
      with tf.GradientTape() as tape:
        loss_info = self.get_loss(
            train_step=self.train_step_counter, debug_summaries=False,
            training=True, **chunk)
        loss = loss_info.loss / self.gradient_chunks
      return tape.gradient(loss, variables), loss_info

    total, losses = gradients_lib.accumulate(inputs, self.gradient_chunks,
                                             chunk_gradients)
    return total, tf.nest.map_structure(
        lambda x: tf.reduce_mean(x, axis=0), losses)


@gin.configurable
def make_agent(time_step_spec: ts.TimeStep,
               action_spec: tensor_spec.BoundedTensorSpec,
               train_step: tf.Variable,
               learning_rate: float = 5e-4,
               adam_epsilon: float = 1e-5,
               discount: float = 0.999,
               gae_lambda: float = 0.95,
               clip_ratio: float = 0.2,
               entropy_coef: float = 0.01,
               value_coef: float = 0.5,
               grad_norm_clip: float = 0.5,
               value_clipping: float | None = 0.2,
               networks_fn: Callable = ppo_networks.shared_encoder,
               gradient_chunks: int = 1) -> ChunkedPPOAgent:
  """PPO-clip with GAE; `networks_fn(observation_spec, action_spec)` makes
  the actor and value networks (default: one shared gin-chosen encoder);
  each minibatch trains as `gradient_chunks` chunks (`ChunkedPPOAgent`)."""
  actor, value = networks_fn(time_step_spec.observation, action_spec)
  agent = ChunkedPPOAgent(
      time_step_spec, action_spec,
      optimizer=runs.keras_optimizer('Adam', learning_rate,
                                     epsilon=adam_epsilon),
      actor_net=actor, value_net=value,
      importance_ratio_clipping=clip_ratio,
      lambda_value=gae_lambda,
      discount_factor=discount,
      entropy_regularization=entropy_coef,
      value_pred_loss_coef=value_coef,
      gradient_clipping=grad_norm_clip,
      value_clipping=value_clipping,
      num_epochs=1,  # The learner runs the epochs.
      use_gae=True,
      use_td_lambda_return=True,
      normalize_rewards=False,  # Rewards are scaled by the return std instead.
      normalize_observations=False,
      compute_value_and_advantage_in_train=False,
      update_normalizers_in_train=False,
      train_step_counter=train_step,
      gradient_chunks=gradient_chunks)
  agent.initialize()
  return agent


def encoder_of(agent: ppo_clip_agent.PPOClipAgent
               ) -> Optional[networks.Encoder]:
  """The Keras encoder both heads share (None without one)."""
  shared = getattr(agent.actor_net, 'shared', None)
  return shared.encoder if shared is not None else None
