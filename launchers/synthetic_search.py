r"""Searches a supernet on the synthetic quadrant task, then discretizes it.

Weights and alpha train jointly with one optimizer on one loss (RL-DARTS Eq. 2),
here a cross-entropy in place of the RL loss. Writes under --root_dir: alpha.csv,
metrics.csv, TensorBoard (tb/), genotypes/ (every distinct discretized cell met),
genotype.json, cell diagrams (PNG, SVG), alpha.png and checkpoints (a rerun of
the same command resumes).

  python -m launchers.synthetic_search \
      --gin_configs=gin_configs/synthetic_search.gin --root_dir=runs/demo
"""

import os
import time

from absl import app
from absl import flags
import gin
import numpy as np
import tensorflow as tf

from launchers import common
from rl_darts.envs import synthetic
from rl_darts.runtime import runs
from rl_darts.space import networks

flags.DEFINE_string('root_dir', None, 'Where the run writes; reruns resume.')
FLAGS = flags.FLAGS


@gin.configurable
def synthetic_search(root_dir: str, num_steps: int = 60, batch_size: int = 32,
                     learning_rate: float = 3e-3, record_every: int = 5,
                     checkpoint_every: int = 20, seed: int = 0) -> str:
  """Runs (or resumes) the search; returns the final genotype's path."""
  encoder = networks.make_encoder()
  if not isinstance(encoder, networks.Supernet):
    raise ValueError(f'synthetic_search searches a supernet, got '
                     f'{type(encoder).__name__}: bind make_encoder.network = '
                     f'@Supernet')
  classifier = tf.keras.layers.Dense(synthetic.NUM_CLASSES)
  optimizer = runs.keras_optimizer('Adam', learning_rate)
  log = runs.RunLog(root_dir, encoder,
                    ['step', 'loss', 'accuracy', 'samples_per_s'], num_steps,
                    'train', unit='step', counter='train_steps',
                    shown=('loss', 'accuracy'), encoder=encoder,
                    classifier=classifier, optimizer=optimizer)

  @tf.function(autograph=False)
  def train_step(images, labels):
    with tf.GradientTape() as tape:
      logits = classifier(encoder(images, training=True))
      loss = tf.reduce_mean(
          tf.keras.losses.sparse_categorical_crossentropy(labels, logits,
                                                          from_logits=True))
    variables = encoder.trainable_variables + classifier.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    accuracy = tf.reduce_mean(tf.cast(
        tf.equal(tf.argmax(logits, -1, tf.int32), labels), tf.float32))
    return loss, accuracy

  for step in range(log.start + 1, num_steps + 1):
    # One generator per step: a resumed run sees the batches it would have.
    rng = np.random.default_rng([seed, step])
    images, labels = synthetic.quadrant_images(batch_size, rng)
    began = time.monotonic()
    loss, accuracy = (float(v) for v in train_step(images, labels))
    log.counter.assign(step)
    last = step == num_steps
    log.write({'loss': loss, 'accuracy': accuracy,
               'samples_per_s': batch_size / (time.monotonic() - began)},
              record_alpha=step % record_every == 0 or last,
              checkpoint=step % checkpoint_every == 0 or last)
  log.finish()
  return os.path.join(root_dir, 'genotype.json')


def main(argv):
  del argv
  common.parse_gin()
  seed = common.seed_run(FLAGS.root_dir)
  with common.user_errors():
    synthetic_search(FLAGS.root_dir, seed=seed)
  print(f'Wrote genotype, diagrams, alpha plot and curves to '
        f'{os.path.abspath(FLAGS.root_dir)}')


if __name__ == '__main__':
  app.run(main)
