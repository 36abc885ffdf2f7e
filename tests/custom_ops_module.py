"""A user's op module, imported from a gin file in test_networks.py."""

import tensorflow as tf

from rl_darts.space import ops


class Conv7x7Elu(tf.keras.layers.Layer):

  def __init__(self, channels: int, stride: int):
    super().__init__()
    self.conv = tf.keras.layers.Conv2D(channels, 7, stride, padding='same')

  def call(self, x):
    return tf.nn.elu(self.conv(x))


ops.register_op('Conv7x7Elu', Conv7x7Elu)
