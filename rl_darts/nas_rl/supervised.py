"""One supervised training loop for DARTS's CIFAR networks: pretraining the
search supernet and training a genotype's evaluation network.

SGD with momentum, L2 weight decay added to the gradients (PyTorch's SGD
`weight_decay`), gradient-norm clipping, a cosine learning rate per epoch;
an evaluation pass per epoch; metrics.csv, TensorBoard and a progress line;
a checkpoint after every epoch (a rerun resumes at the next epoch) and,
optionally, the best epoch's weights under best/.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from typing import Callable, Optional

import gin
import numpy as np
import tensorflow as tf

from rl_darts.envs import image_data
from rl_darts.runtime import runs

LossFn = Callable[[tf.keras.Model, tf.Tensor, tf.Tensor, tf.Tensor], tf.Tensor]


def cross_entropy(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
  """Mean cross-entropy to integer labels, or to distributions [N, classes]
  (a planted search's labels)."""
  if len(labels.shape) == 2:
    return tf.reduce_mean(tf.keras.losses.categorical_crossentropy(
        labels, logits, from_logits=True))
  return tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(
      labels, logits, from_logits=True))


def train_step_fn(model: tf.keras.Model,
                  optimizer: tf.keras.optimizers.Optimizer,
                  weight_decay: float, clip_norm: Optional[float],
                  loss_fn: LossFn):
  """A compiled SGD step: `step(images, labels, extra)` -> loss, where
  `loss_fn(model, images, labels, extra)` computes the training loss. The
  model must be built (the optimizer's slots are made here, outside)."""
  optimizer.build(model.trainable_variables)

  @tf.function(autograph=False)
  def step(images, labels, extra):
    variables = model.trainable_variables
    with tf.GradientTape() as tape:
      loss = loss_fn(model, images, labels, extra)
    gradients = tape.gradient(loss, variables)
    gradients = [g + weight_decay * v for g, v in zip(gradients, variables)]
    if clip_norm is not None:
      gradients, _ = tf.clip_by_global_norm(gradients, clip_norm)
    optimizer.apply_gradients(zip(gradients, variables))
    return loss

  return step


def cosine_lr(epoch: int, epochs: int, lr: float, lr_min: float) -> float:
  """PyTorch's CosineAnnealingLR stepped once per epoch."""
  return lr_min + 0.5 * (lr - lr_min) * (1 + math.cos(math.pi * epoch / epochs))


@gin.configurable
@dataclasses.dataclass
class OptimizerSettings:
  """SGD settings; defaults are DARTS's (Liu et al. 2019)."""

  epochs: int = 50
  batch_size: int = 64
  learning_rate: float = 0.025
  learning_rate_min: float = 0.001
  momentum: float = 0.9
  weight_decay: float = 3e-4
  grad_clip: Optional[float] = 5.0

  def __post_init__(self):
    if self.epochs < 1 or self.batch_size < 1:
      raise ValueError(f'epochs and batch_size must be >= 1; got '
                       f'{self.epochs}, {self.batch_size}')


def accuracy(model: tf.keras.Model, data: image_data.ImageData,
             images: np.ndarray, labels: np.ndarray, batch_size: int,
             **call_kwargs) -> float:
  """Top-1 accuracy in inference mode."""
  correct = 0
  for x, y in image_data.epoch_batches(data, images, labels, batch_size):
    logits = model(x, training=False, **call_kwargs)
    correct += int(np.sum(np.argmax(logits, -1) == y))
  return correct / len(labels)


def train_classifier(root_dir: str, model: tf.keras.Model,
                     batches: image_data.Batches,
                     evaluate: Callable[[], dict[str, float]],
                     settings: OptimizerSettings, loss_fn: LossFn,
                     extra: Callable[[int], tf.Tensor] = lambda e: tf.zeros(()),
                     keep_best: Optional[str] = None,
                     save_best: bool = True) -> list[dict]:
  """Trains for `settings.epochs` epochs of `batches`; `evaluate()` gives the
  epoch's evaluation metrics; `extra(epoch)` is passed to `loss_fn` (e.g.
  the drop-path probability). With `keep_best`, rows also carry the best
  value of that metric so far and, with `save_best`, that epoch's weights
  are kept under best/. Returns the metrics rows of the epochs run now."""
  optimizer = runs.keras_optimizer('SGD', settings.learning_rate,
                                   momentum=settings.momentum)
  best = tf.Variable(-np.inf, dtype=tf.float64, name='best')
  log = runs.RunLog(root_dir, None, None, settings.epochs, None,
                    unit='epoch', counter='epoch',
                    shown=('train_loss', keep_best), model=model,
                    optimizer=optimizer, best=best)
  best_saver = (tf.train.CheckpointManager(
      tf.train.Checkpoint(model=model), os.path.join(root_dir, 'best'), 1)
                if keep_best and save_best else None)
  step = train_step_fn(model, optimizer, settings.weight_decay,
                       settings.grad_clip, loss_fn)
  rows = []
  for epoch in range(log.start, settings.epochs):
    began = time.monotonic()
    lr = cosine_lr(epoch, settings.epochs, settings.learning_rate,
                   settings.learning_rate_min)
    optimizer.learning_rate.assign(lr)
    losses = [float(step(*map(tf.constant, next(batches)), extra(epoch)))
              for _ in range(batches.batches_per_epoch)]
    row = {'epoch': epoch + 1, 'learning_rate': lr,
           'train_loss': float(np.mean(losses)), **evaluate()}
    log.counter.assign(epoch + 1)
    log.check_finite(row)
    if keep_best:
      if row[keep_best] > best.numpy():
        best.assign(row[keep_best])
        if best_saver is not None:
          best_saver.save(checkpoint_number=epoch + 1)
      row[f'best_{keep_best}'] = float(best.numpy())
    row['seconds'] = time.monotonic() - began
    log.write(row, checkpoint=True)
    rows.append({'step': epoch + 1, **row})
  log.close()
  return rows
