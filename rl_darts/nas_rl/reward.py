"""The RL-for-DARTS reward: a DARTS supernet's score of an alpha.

The supernet's weights come from a pretraining run ("ckpt" rows) or start
random, and in continuous mode train by SGD on the weight split while the
search runs. An alpha is scored on a batch of the reward split in inference
mode: accuracy, loss (negative cross-entropy) or NASWOT, with ops weighted
<= `skip_threshold` skipped (`masked`), as in the authors' code. With a
plant (`SearchSettings.plant`), the supernet's own output at the plant labels
the data (`planted`).
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import tensorflow as tf

from rl_darts.envs import image_data
from rl_darts.nas_rl import masked
from rl_darts.nas_rl import planted
from rl_darts.nas_rl import pretrain
from rl_darts.nas_rl import supervised
from rl_darts.runtime import runs
from rl_darts.space import darts_networks
from rl_darts.space import naswot

Alpha = dict[str, np.ndarray]  # Per cell type: [envs, edges, ops] or one env's.


def probabilities(alpha: Alpha) -> list[Alpha]:
  """softmax(alpha) per env (alpha's first axis) and cell type."""
  probs = {t: tf.nn.softmax(a.astype(np.float64), axis=-1).numpy()
           for t, a in alpha.items()}
  return [{t: p[i].astype(np.float32) for t, p in probs.items()}
          for i in range(len(probs['normal']))]


def _supernet_loss(model, images, labels, probs) -> tf.Tensor:
  return supervised.cross_entropy(labels, model(images, probs, training=True))


class SupernetReward:
  """The gin-configured `DartsSupernet`, its weight and reward batches, and
  the scores of alphas on them (`settings`: the search's `SearchSettings`)."""

  def __init__(self, settings, data: image_data.ImageData, root_dir: str,
               seed: int):
    self.settings = settings
    self.supernet = darts_networks.DartsSupernet()
    image_shape = data.train_images.shape[1:]
    self.supernet(np.zeros((1,) + image_shape, np.float32), probabilities(
        {t: np.zeros((1,) + s, np.float32)
         for t, s in self.supernet.alpha_shapes().items()})[0])
    self.optimizer = runs.keras_optimizer(
        'SGD', settings.weight_learning_rate,
        momentum=settings.weight_momentum)
    self._sgd_step = supervised.train_step_fn(
        self.supernet, self.optimizer, settings.weight_decay, None,
        _supernet_loss)
    if settings.checkpoint:
      pretrain.restore(self.supernet, data, settings.checkpoint)
    self.plant = None
    if settings.plant:
      self.plant = planted.plant_for(settings.plant, self.supernet.space,
                                     self.supernet.num_edges, seed, root_dir)
      plant_probs = planted.one_hot(self.plant, self.supernet.alpha_shapes())
      data = planted.labelled(data, lambda images: tf.nn.softmax(
          self.forward(images, plant_probs)[0]).numpy())
    weights, rewards = image_data.weight_reward_split(data, root_dir)
    images, labels = data.train_images, data.train_labels
    self.weight_batches = image_data.Batches(
        data, images[weights], labels[weights], settings.weight_batch,
        seed + 1)
    self.reward_batches = image_data.Batches(
        data, images[rewards], labels[rewards], settings.reward_batch,
        seed + 2, augment=False)

  def score(self, probs: Alpha,
            batch: Optional[tuple[np.ndarray, np.ndarray]] = None) -> float:
    """The reward of one alpha's probabilities on `batch` (default: the
    next reward batch)."""
    images, labels = batch if batch is not None else next(self.reward_batches)
    record = self.settings.reward == 'nwot'
    logits, kernel = self.forward(images, probs, record)
    if record:
      return naswot.score_kernel(None if kernel is None else kernel.numpy(),
                                 self.settings.naswot_ridge)
    if self.settings.reward == 'acc':
      classes = labels if labels.ndim == 1 else np.argmax(labels, -1)
      return float(np.mean(np.argmax(logits, -1) == classes))
    return -float(supervised.cross_entropy(labels, logits))

  def forward(self, images: np.ndarray, probs: Alpha, record: bool = False
              ) -> tuple[tf.Tensor, Optional[tf.Tensor]]:
    """Inference logits, skipping ops weighted <= the threshold, and with
    `record`, NASWOT's K: one compiled forward serves every alpha (see
    `masked`; one for alphas with at most one op per edge, the discrete
    searches', and one for the others), or an eager one."""
    active = {t: p > self.settings.skip_threshold for t, p in probs.items()}
    probs = {t: tf.constant(p) for t, p in probs.items()}
    if not self.settings.compiled_forward:
      return self._recorded_forward(tf.constant(images), probs, active,
                                    record)
    if all((a.sum(-1) <= 1).all() for a in active.values()):
      guards = {t: np.where(a.any(-1), a.argmax(-1), -1).astype(np.int32)
                for t, a in active.items()}  # One op per edge (discrete).
    else:
      guards = active
    return self.compiled_forward(
        tf.constant(images), probs,
        {t: tf.constant(g) for t, g in guards.items()}, record)

  def _recorded_forward(self, images: tf.Tensor, probs: dict, active: dict,
                        record: bool) -> tuple[tf.Tensor, Optional[tf.Tensor]]:
    if not record:
      return masked.logits(self.supernet, images, probs, active), None
    with naswot.recording() as codes:
      logits = masked.logits(self.supernet, images, probs, active)
    return logits, codes.kernel

  @tf.function(autograph=False)  # The cells' loops are Python's.
  def compiled_forward(self, images: tf.Tensor, probs: dict, active: dict,
                       record: bool):
    return self._recorded_forward(images, probs, active, record)

  def alpha_gradients(self, alpha: Alpha) -> Alpha:
    """d(mean CE on a reward batch) / d(raw alpha), per cell type."""
    images, labels = next(self.reward_batches)
    grads = self._compiled_alpha_gradients(
        tf.constant(images), tf.constant(labels),
        {t: tf.constant(a) for t, a in alpha.items()})
    return {t: g.numpy() for t, g in grads.items()}

  @tf.function(autograph=False)
  def _compiled_alpha_gradients(self, images: tf.Tensor, labels: tf.Tensor,
                                alpha: dict) -> dict:
    with tf.GradientTape() as tape:
      tape.watch(alpha)
      probs = {t: tf.nn.softmax(a, axis=-1) for t, a in alpha.items()}
      loss = supervised.cross_entropy(
          labels, self.supernet(images, probs, training=False))
    return tape.gradient(loss, alpha)

  def train_weights(self, probs: Alpha) -> float:
    """One SGD step on the weights (weight split, CE) at `probs`."""
    images, labels = next(self.weight_batches)
    return float(self._sgd_step(
        tf.constant(images), tf.constant(labels),
        {t: tf.constant(p) for t, p in probs.items()}))
