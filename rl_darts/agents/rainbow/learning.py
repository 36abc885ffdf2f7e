"""Rainbow's learner: categorical double Q-learning on prioritized n-step
transitions sampled from Reverb, alpha and weights trained on the same loss.

The loss is trfl's categorical distributional double Q-learning (Hessel et al.
2018): the online network picks the next action, the target network gives its
distribution. Each sample's loss is weighted by its importance weight
(1 / p)^beta divided by the batch maximum, and |loss| becomes its new priority
(the authors' code). The target network, which holds its own copy of alpha, is
copied from the online one every `target_update_period` learner steps.
"""

from __future__ import annotations

import math

from typing import Optional

import numpy as np
import reverb
import sonnet as snt
import tensorflow as tf
import trfl

from rl_darts.agents import acme_compat  # pylint: disable=unused-import
import acme  # pylint: disable=g-bad-import-order
from acme import datasets as acme_datasets

from rl_darts.agents import gradients as gradients_lib
from rl_darts.agents.rainbow import networks as rainbow_networks


def replay_dataset(address: str, table: str, batch_size: int
                   ) -> tf.data.Dataset:
  """Acme's Reverb dataset of prioritized transitions, sized for few cores
  (Acme's default of 12 parallel calls only adds contention here)."""
  return acme_datasets.make_reverb_dataset(
      address, batch_size=batch_size, prefetch_size=1, table=table,
      num_parallel_calls=1)


class RainbowLearner(acme.Learner):
  """One SGD step per `step()`: loss, priorities back to Reverb, target copy.
  With `gradient_chunks` k, the batch's gradient is accumulated over k
  chunks (the same step, the activation memory of one chunk)."""

  def __init__(self, network: rainbow_networks.DuelingC51,
               target_network: rainbow_networks.DuelingC51,
               dataset: tf.data.Dataset, client: reverb.Client, table: str,
               discount: float, learning_rate: float,
               importance_sampling_exponent: float,
               target_update_period: int, adam_epsilon: float = 1e-8,
               max_gradient_norm: Optional[float] = None,
               gradient_chunks: int = 1):
    self.network, self.target_network = network, target_network
    self.client, self.table = client, table
    self.discount = discount
    self.importance_sampling_exponent = importance_sampling_exponent
    self.target_update_period = target_update_period
    self.max_gradient_norm = max_gradient_norm
    self.gradient_chunks = gradient_chunks
    self.optimizer = snt.optimizers.Adam(learning_rate, epsilon=adam_epsilon)
    # Slots exist before a checkpoint restore (as Acme's DQN learner does).
    self.optimizer._initialize(network.trainable_variables)  # pylint: disable=protected-access
    self.num_steps = tf.Variable(0, dtype=tf.int64, name='learner_steps')
    self._iterator = iter(dataset)
    self.update_target()

  @tf.function(autograph=False)
  def _step(self) -> dict[str, tf.Tensor]:
    sample = next(self._iterator)
    loss, losses, gradients = self.loss_gradients(sample)
    variables = self.network.trainable_variables
    if self.max_gradient_norm is not None:
      gradients, _ = tf.clip_by_global_norm(gradients, self.max_gradient_norm)
    self.optimizer.apply(gradients, variables)
    self.num_steps.assign_add(1)
    tf.cond(self.num_steps % self.target_update_period == 0,
            self.update_target, lambda: None)
    return {'loss': loss, 'keys': sample.info.key,
            'priorities': tf.cast(tf.abs(losses), tf.float64)}

  def loss_gradients(self, sample) -> tuple[tf.Tensor, tf.Tensor, list]:
    """The batch's weighted loss, its per-sample losses and the loss's
    gradient, summed over `gradient_chunks` chunks of the batch (exact: the
    targets and importance weights come from the whole batch first)."""
    transitions = sample.data
    atoms = self.network.atoms
    # Bootstrap targets need no gradient: computed outside the tape.
    logits_t = self.target_network(transitions.next_observation)
    q_t_selector = self.network.q_values(
        self.network(transitions.next_observation))
    rewards = tf.clip_by_value(transitions.reward, -1.0, 1.0)
    pcontinues = transitions.discount * self.discount  # Adder: one gamma short.
    weights = tf.cast(1.0 / sample.info.probability, tf.float32) ** (
        self.importance_sampling_exponent)
    weights /= tf.reduce_max(weights)
    batch = (transitions.observation, transitions.action, rewards, pcontinues,
             logits_t, q_t_selector, weights)
    variables = self.network.trainable_variables
    size = tf.cast(tf.shape(weights)[0], tf.float32)

    def chunk_gradients(chunk):
      observations, actions, r, p, target_logits, selector, w = chunk
      with tf.GradientTape() as tape:
        logits_tm1 = self.network(observations, training=True)
        losses, _ = trfl.categorical_dist_double_qlearning(
            atoms, logits_tm1, actions, r, p, atoms, target_logits, selector)
        loss = tf.reduce_sum(losses * w) / size  # Its share of the mean.
      return tape.gradient(loss, variables), losses

    gradients, all_losses = gradients_lib.accumulate(
        batch, self.gradient_chunks, chunk_gradients)
    losses = tf.reshape(all_losses, [-1])
    return tf.reduce_mean(losses * weights), losses, gradients

  def update_target(self) -> None:
    rainbow_networks.copy_variables(self.network, self.target_network)

  def step(self) -> float:
    """One learner step; returns its loss (priorities are updated only when
    it is finite: the caller stops the run on a NaN or infinite loss)."""
    result = self._step()
    loss = float(result['loss'].numpy())
    if math.isfinite(loss):
      self.client.mutate_priorities(self.table, updates=dict(zip(
          result['keys'].numpy(), result['priorities'].numpy())))
    return loss

  def get_variables(self, names: list[str]) -> list[list[np.ndarray]]:
    del names
    return [[v.numpy() for v in self.network.variables]]
