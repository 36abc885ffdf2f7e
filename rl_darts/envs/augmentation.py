"""Image augmentation for pixel RL: random shifts (DrQ, Kostrikov et al.
2020; PI-SAC's 'random_shifting', the RL-DARTS SAC runs of App. A.3)."""

from __future__ import annotations

import tensorflow as tf


def random_shift(images: tf.Tensor, pad: int) -> tf.Tensor:
  """Each of `images` [N, H, W, C] shifted by its own random offset of up to
  `pad` pixels each way, edges repeated (pad by replication, crop H x W).

  The crop samples whole pixels (nearest, at integer coordinates), so every
  output pixel is an input pixel and uint8 images stay exact.
  """
  if pad < 0:
    raise ValueError(f'random_shift pad must be >= 0; got {pad}')
  if pad == 0:
    return images
  n, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
  # Replication padding: each padded row and column indexes its nearest
  # row or column of the image.
  rows = tf.clip_by_value(tf.range(height + 2 * pad) - pad, 0, height - 1)
  cols = tf.clip_by_value(tf.range(width + 2 * pad) - pad, 0, width - 1)
  padded = tf.gather(tf.gather(images, rows, axis=1), cols, axis=2)
  offsets = tf.random.uniform([n, 2], 0, 2 * pad + 1, dtype=tf.int32)
  span_y, span_x = height + 2 * pad - 1, width + 2 * pad - 1
  y0 = tf.cast(offsets[:, 0], tf.float32)
  x0 = tf.cast(offsets[:, 1], tf.float32)
  boxes = tf.stack([y0 / span_y, x0 / span_x, (y0 + height - 1) / span_y,
                    (x0 + width - 1) / span_x], axis=1)
  shifted = tf.image.crop_and_resize(
      tf.cast(padded, tf.float32), boxes, tf.range(n), [height, width],
      method='nearest')
  return tf.cast(tf.round(shifted), images.dtype)
