"""The TF-Agents PPOClipAgent over a gin-chosen encoder.

Hyperparameters are gin bindings (see gin_configs/ppo/); defaults are the Procgen
PPO standard (Cobbe et al. 2020). Epochs are applied once, by the learner: the
agent itself runs one pass per minibatch (the authors' code doubled them).
"""

from __future__ import annotations

from typing import Callable, Optional

import gin
import tensorflow as tf
from tf_agents.agents.ppo import ppo_clip_agent
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import time_step as ts

from rl_darts import networks
from rl_darts.ppo import networks as ppo_networks


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
               networks_fn: Callable = ppo_networks.shared_encoder
               ) -> ppo_clip_agent.PPOClipAgent:
  """PPO-clip with GAE; `networks_fn(observation_spec, action_spec)` makes
  the actor and value networks (default: one shared gin-chosen encoder)."""
  actor, value = networks_fn(time_step_spec.observation, action_spec)
  agent = ppo_clip_agent.PPOClipAgent(
      time_step_spec, action_spec,
      optimizer=tf.keras.optimizers.Adam(learning_rate, epsilon=adam_epsilon),
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
      train_step_counter=train_step)
  agent.initialize()
  return agent


def encoder_of(agent: ppo_clip_agent.PPOClipAgent
               ) -> Optional[networks.Encoder]:
  """The Keras encoder both heads share (None without one)."""
  shared = getattr(agent.actor_net, 'shared', None)
  return shared.encoder if shared is not None else None
