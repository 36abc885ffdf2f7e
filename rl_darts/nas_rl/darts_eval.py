"""Training a genotype's DARTS evaluation network from scratch on the whole
training set; test accuracy every epoch.

Defaults are the standard DARTS protocol (Liu et al. 2019): 20 cells, C = 36,
auxiliary head weight 0.4, drop-path 0.2 (scaled up linearly over the epochs),
cutout 16, SGD momentum 0.9, weight decay 3e-4, lr 0.025 cosine to 0, clip 5,
batch 96, 600 epochs (gin_configs/darts_eval/darts.gin). The dartsrl code's
protocol (no auxiliary head, no drop-path, dropout 0.2 after identity skips)
is gin_configs/darts_eval/dartsrl_code.gin.
"""

from __future__ import annotations

import dataclasses

import gin
import tensorflow as tf

from rl_darts.envs import image_data
from rl_darts.nas_rl import supervised
from rl_darts.space import darts_networks


@gin.configurable
@dataclasses.dataclass
class Regularization:
  """What DARTS's evaluation adds to plain SGD."""

  auxiliary_weight: float = 0.4
  drop_path: float = 0.2  # Final drop-path probability (linear in epochs).
  cutout: int = 16


def train(root_dir: str, genotype: str, seed: int = 0) -> list[dict]:
  """Trains DartsNetwork(genotype) (gin-configured); reruns resume. Rows
  carry test_acc per epoch and, labelled as such, best_test_acc so far."""
  settings = supervised.OptimizerSettings()
  regularization = Regularization()
  data = image_data.load_dataset()
  side = min(data.train_images.shape[1:3])
  if regularization.cutout >= side:
    raise ValueError(
        f'Regularization.cutout = {regularization.cutout} blanks most or all '
        f'of every {side}x{side} image; allowed: 0 (off) to {side - 1} '
        f'(DARTS: 16 on 32x32 CIFAR-10; 4 on the 8x8 digits)')
  network = darts_networks.DartsNetwork(genotype)
  image_shape = (2,) + data.train_images.shape[1:]
  network(tf.zeros(image_shape), training=True, drop_prob=tf.constant(0.0))
  print(f'DartsNetwork: {network.count_params():,} parameters '
        f'({network.count_params(auxiliary=True):,} with the auxiliary head)',
        flush=True)
  batches = image_data.Batches(data, data.train_images, data.train_labels,
                               settings.batch_size, seed,
                               cutout=regularization.cutout)

  def loss_fn(model, images, labels, drop_prob):
    outputs = model(images, training=True, drop_prob=drop_prob)
    if isinstance(outputs, tuple):
      logits, aux_logits = outputs
      return (supervised.cross_entropy(labels, logits) +
              regularization.auxiliary_weight *
              supervised.cross_entropy(labels, aux_logits))
    return supervised.cross_entropy(labels, outputs)

  def drop_prob(epoch: int) -> tf.Tensor:
    return tf.constant(regularization.drop_path * epoch / settings.epochs,
                       tf.float32)

  def evaluate() -> dict[str, float]:
    return {'test_acc': supervised.accuracy(
        network, data, data.test_images, data.test_labels, 256)}

  return supervised.train_classifier(root_dir, network, batches, evaluate,
                                     settings, loss_fn, drop_prob,
                                     keep_best='test_acc', save_best=False)
