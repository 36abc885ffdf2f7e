r"""The fused mixing kernel against the TF ops, alternating in one process.

  python bench/fused_ab.py                                   # Micro, train step
  python bench/fused_ab.py --encoder=classic_16x3 --rounds=8
  python bench/fused_ab.py --forward --batch=16              # acting

Separate runs on a shared machine differ by more than the effects measured
here, so both variants of one encoder are built in this process (the kernel is
chosen when a step is traced) and their train steps, or forward passes, are
timed in turn, `--rounds` times (16 by default here). The table gives each
variant's median and best samples/s and every round's value.
"""

from __future__ import annotations

import contextlib
import statistics
from typing import Callable

from absl import app
from absl import flags

import harness

flags.DEFINE_string('encoder', 'micro_16x3', 'Encoder to measure.')
flags.DEFINE_integer('batch', 256, 'Samples per step.', lower_bound=1)
flags.DEFINE_bool('forward', False, 'Time forward passes, not train steps.')
FLAGS = flags.FLAGS

VARIANTS = ('fused', 'tf_ops')
DEFAULT_ROUNDS = 16  # Here, where `--rounds` is not given.


def table(rates: dict[str, list[float]]) -> list[str]:
  """One line per variant: median, best, ratio of medians to the first
  variant's, and every round."""
  first = statistics.median(next(iter(rates.values())))
  lines = [f'{"variant":10s} {"median":>8s} {"best":>8s} {"vs first":>9s}  '
           'per round (samples/s)']
  for name, values in rates.items():
    median = statistics.median(values)
    lines.append(f'{name:10s} {median:8.0f} {max(values):8.0f} '
                 f'{median / first:8.2f}x  '
                 + ' '.join(f'{v:.0f}' for v in values))
  return lines


def _step(name: str, batch: int, forward: bool,
          kernel: bool) -> Callable[[], object]:
  """A traced train step (or forward pass) of a new encoder `name`."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from rl_darts.fast import fused  # pylint: disable=g-import-not-at-top
  from rl_darts.space import networks  # pylint: disable=g-import-not-at-top
  harness.parse_gin(name, '')
  encoder = networks.make_encoder()
  images = tf.constant(np.random.default_rng(0).integers(
      0, 256, (batch, 64, 64, 3), np.uint8))
  optimizer = tf.keras.optimizers.Adam(1e-4)

  @tf.function
  def step():
    if forward:
      return tf.reduce_sum(encoder(images))
    with tf.GradientTape() as tape:
      loss = tf.reduce_mean(tf.square(encoder(images, training=True)))
    variables = encoder.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return loss

  with contextlib.nullcontext() if kernel else fused.disabled():
    step()  # Traces (and warms up) with the kernel or without.
  step()
  return lambda: step().numpy()


def main(argv: list[str]) -> None:
  del argv
  from rl_darts.fast import fused  # pylint: disable=g-import-not-at-top
  harness.check_names([FLAGS.encoder], list(harness.ENCODERS))
  if not fused.available():
    raise app.UsageError(f'the fused kernel is not available ({fused.LIBRARY}'
                         ' missing, failed to load, or a GPU is visible); '
                         'build it with `make setup`')
  rounds = FLAGS.rounds if FLAGS['rounds'].present else DEFAULT_ROUNDS
  steps = {variant: (_step(FLAGS.encoder, FLAGS.batch, FLAGS.forward,
                           variant == 'fused'), FLAGS.batch)
           for variant in VARIANTS}
  what = 'forward passes' if FLAGS.forward else 'train steps'
  print(f'{FLAGS.encoder}, {what} at batch {FLAGS.batch}, {rounds} '
        'alternating rounds')
  print('\n'.join(table(harness.alternate(steps, rounds))))


if __name__ == '__main__':
  app.run(main)
