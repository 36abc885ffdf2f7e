"""TF-Agents' SAC with its batch trained in chunks (gradient accumulation).

SAC's step makes three updates in turn: the critics, then the actor against
the updated critics, then the temperature. With `gradient_chunks` k, each of
them takes the gradient of its batch-mean loss as the sum over k chunks of
the batch of each chunk's mean over k, one chunk at a time
(`rl_darts.agents.gradients.accumulate`), and then one optimizer step, so
only one chunk's activations are alive at once. The same update as the whole
batch's, except that the actions each loss samples from the policy are drawn
chunk by chunk: the same distribution, other random numbers.
"""

from __future__ import annotations

from typing import Callable, Sequence

import tensorflow as tf
from tf_agents.agents import tf_agent
from tf_agents.agents.sac import sac_agent
from tf_agents.utils import object_identity

from rl_darts.agents import gradients as gradients_lib


class ChunkedSacAgent(gradients_lib.ChunkedAgent, sac_agent.SacAgent):
  """SacAgent whose every batch trains as `gradient_chunks` chunks (1:
  TF-Agents' own step); without per-sample weights."""

  def _chunked_train(self, experience, weights):
    if weights is not None:
      raise ValueError('gradient chunks take no per-sample weights')
    time_steps, policy_steps, next_time_steps = self._as_transition(
        experience)
    batch = (time_steps, policy_steps.action, next_time_steps)
    critics = list(object_identity.ObjectIdentitySet(
        self._critic_network_1.trainable_variables +
        self._critic_network_2.trainable_variables))
    critic_loss = self._update(
        batch, critics, self._critic_optimizer,
        lambda steps, actions, next_steps: self._critic_loss_weight *
        self.critic_loss(steps, actions, next_steps,
                         td_errors_loss_fn=self._td_errors_loss_fn,
                         gamma=self._gamma,
                         reward_scale_factor=self._reward_scale_factor,
                         training=True))
    actor_loss = self._update(
        batch, self._actor_network.trainable_variables, self._actor_optimizer,
        lambda steps, *_: self._actor_loss_weight * self.actor_loss(
            steps, training=True))
    alpha_loss = self._update(
        batch, [self._log_alpha], self._alpha_optimizer,
        lambda steps, *_: self._alpha_loss_weight * self.alpha_loss(
            steps, training=True))
    self.train_step_counter.assign_add(1)
    self._update_target()
    return tf_agent.LossInfo(
        loss=critic_loss + actor_loss + alpha_loss,
        extra=sac_agent.SacLossInfo(critic_loss=critic_loss,
                                    actor_loss=actor_loss,
                                    alpha_loss=alpha_loss))

  def _update(self, batch, variables: Sequence[tf.Variable],
              optimizer, loss_fn: Callable[..., tf.Tensor]) -> tf.Tensor:
    """One optimizer step on `variables` with the chunks' summed gradient of
    `loss_fn(*chunk)`; the batch's mean loss."""
    def chunk_gradients(chunk):
      with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(variables)
        loss = loss_fn(*chunk)
        share = loss / self.gradient_chunks
      return tape.gradient(share, variables), loss

    total, losses = gradients_lib.accumulate(batch, self.gradient_chunks,
                                             chunk_gradients)
    self._apply_gradients(total, variables, optimizer)
    return tf.reduce_mean(losses)
