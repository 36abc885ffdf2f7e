"""Pretraining the DARTS search supernet for the "ckpt" search variants.

Weights only: alpha is drawn once as 1e-3 * N(0, 1) and kept (near-uniform
mixing); trained on the weight split, the best epoch by top-1 accuracy on the
reward split is kept under best/ (the search env loads it with
`SearchSettings.checkpoint = DIR`). Settings: `OptimizerSettings` (50 epochs,
batch 64, SGD momentum 0.9, weight decay 3e-4, cosine lr 0.025 -> 0.001, clip
5: the dartsrl code's).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from rl_darts import darts_networks
from rl_darts import image_data
from rl_darts import supervised


def pretrain(root_dir: str, seed: int = 0) -> list[dict]:
  """Pretrains the gin-configured DartsSupernet; reruns resume."""
  settings = supervised.OptimizerSettings()
  data = image_data.load_dataset()
  weights, rewards = image_data.weight_reward_split(data, root_dir)
  supernet = darts_networks.DartsSupernet()
  rng = np.random.default_rng(seed)
  probs = {t: tf.nn.softmax(1e-3 * rng.standard_normal(shape).astype(
      np.float32)) for t, shape in supernet.alpha_shapes().items()}
  supernet(tf.zeros((1,) + data.train_images.shape[1:]), probs)
  batches = image_data.Batches(data, data.train_images[weights],
                               data.train_labels[weights],
                               settings.batch_size, seed)

  def loss_fn(model, images, labels, unused_extra):
    return supervised.cross_entropy(labels, model(images, probs,
                                                  training=True))

  def evaluate() -> dict[str, float]:
    return {'valid_acc': supervised.accuracy(
        supernet, data, data.train_images[rewards], data.train_labels[rewards],
        256, probs=probs)}

  return supervised.train_classifier(root_dir, supernet, batches, evaluate,
                                     settings, loss_fn, keep_best='valid_acc')
