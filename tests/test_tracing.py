"""tracing.no_autograph: a Keras call traced as plain Python, its signature
kept for Keras."""

import pytest
import tensorflow as tf

from rl_darts.space import tracing


class _Branchy(tf.keras.layers.Layer):
  """Branches in Python on a tensor: only AutoGraph can trace that."""

  def call(self, x, training=None):
    self.training_seen = training
    if tf.reduce_sum(x) > 0:
      return x
    return -x


class _Plain(_Branchy):
  call = tracing.no_autograph(_Branchy.call)


def test_autograph_converts_the_undecorated_call():
  layer = _Branchy()
  traced = tf.function(lambda x: layer(x, training=True))
  assert traced(tf.constant([-2.0])).numpy().tolist() == [2.0]
  assert layer.training_seen is True


def test_no_autograph_traces_plain_python_and_keeps_the_signature():
  layer = _Plain()
  assert layer._call_spec.arg_names == ['x', 'training']  # pylint: disable=protected-access
  traced = tf.function(lambda x: layer(x, training=True))
  with pytest.raises(TypeError, match='as a Python .bool. is not allowed'):
    traced(tf.constant([-2.0]))
  assert layer.training_seen is True  # Keras passed it by name.
  assert layer(tf.constant([-2.0])).numpy().tolist() == [2.0]  # Eagerly.
