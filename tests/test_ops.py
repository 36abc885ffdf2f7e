"""Op registry, op shapes and the named search spaces."""

import numpy as np
import pytest
import tensorflow as tf

from rl_darts.space import ops


@pytest.mark.parametrize('space', ['classic', 'classic_no_relu', 'micro',
                                   'darts', 's2', 's3', 's4'])
@pytest.mark.parametrize('stride', [1, 2])
def test_every_op_keeps_channels_and_strides(space, stride):
  space = ops.get_space(space)
  x = tf.random.normal([2, 9, 9, 4])
  for cell_type in space.cell_types:
    for name in space.ops(cell_type):
      y = ops.make_op(name, 4, stride)(x, training=True)
      assert y.shape == (2, -(-9 // stride), -(-9 // stride), 4), name


def test_space_op_lists_match_the_papers():
  assert ops.get_space('classic').normal_ops == (
      'Conv3x3Relu', 'DilConv3x3Relu', 'Conv5x5Relu', 'DilConv5x5Relu', 'Skip',
      'Zero')
  assert ops.get_space('classic').reduction_ops == (
      'Conv3x3', 'MaxPool3x3', 'AveragePool3x3', 'Skip', 'Zero')
  assert ops.get_space('micro').reduction_ops is None
  assert ops.get_space('darts').normal_ops[0] == 'none'
  assert ops.get_space('s4').ops('reduce') == ('noise', 'sep_conv_3x3')
  assert ops.get_space('s2').zero_op is None


def test_unknown_op_and_space_list_the_known_ones():
  with pytest.raises(ValueError, match=r"unknown op 'Conv9x9'.*Conv3x3Relu"):
    ops.make_op('Conv9x9', 4, 1)
  with pytest.raises(ValueError, match=r"unknown search space 'nope'.*classic"):
    ops.get_space('nope')
  with pytest.raises(ValueError, match=r"unknown op 'Bad' in normal_ops"):
    ops.SearchSpace('mine', ('Conv3x3', 'Bad'))


def test_rl_darts_parameter_free_ops_average_pool_when_strided():
  x = tf.random.normal([1, 8, 8, 2])
  pooled = tf.nn.avg_pool2d(x, 3, 2, 'SAME')
  np.testing.assert_allclose(ops.make_op('Skip', 2, 2)(x), pooled)
  np.testing.assert_allclose(ops.make_op('Tanh', 2, 2)(x), tf.tanh(pooled))
  assert not np.any(ops.make_op('Zero', 2, 2)(x))


@pytest.mark.parametrize('size', [10, 9])
@pytest.mark.parametrize('name', ['DilConv3x3Relu', 'DilConv5x5Relu',
                                  'dil_conv_3x3', 'dil_conv_5x5'])
def test_dilated_strided_conv_equals_subsampled_dilated_conv(name, size):
  """Stride 2 with dilation 2 is DARTS's (PyTorch's) padded conv: the full-
  resolution dilated conv at every other pixel."""
  x = tf.random.normal([2, size, size, 4])
  op = ops.make_op(name, 4, 2)
  y = op(x, training=False)
  if name.startswith('Dil'):
    full = tf.nn.relu(tf.nn.conv2d(x, op.kernel, 1, 'SAME', dilations=2) +
                      op.bias)[:, ::2, ::2]
  else:
    full = op.bn(op.pointwise(tf.nn.depthwise_conv2d(
        tf.nn.relu(x), op.depthwise.depthwise_kernel, [1, 1, 1, 1], 'SAME',
        dilations=[2, 2])[:, ::2, ::2]), training=False)
  assert y.shape == (2, -(-size // 2), -(-size // 2), 4)
  np.testing.assert_allclose(y, full, atol=1e-5)
  with pytest.raises(ValueError, match='stride 2 and dilation 3'):
    ops.DilConv(4, 2, 3, 3)


@pytest.mark.parametrize('size', [10, 9])
@pytest.mark.parametrize('kernel_size', [3, 5])
def test_native_dilated_depthwise_matches_tfs_form_with_its_gradient(
    kernel_size, size):
  """The oneDNN kernel's output, and the gradient of TF's form (the native
  kernel's own gradient ignores dilation here)."""
  if not ops._native_dilation():  # pylint: disable=protected-access
    pytest.skip('no depthwise kernel here dilates natively')
  x = tf.random.normal([2, size, size, 4])
  kernel = tf.random.normal([kernel_size, kernel_size, 4, 1])
  dy = tf.random.normal([2, size, size, 4])
  results = []
  for conv in (ops.dilated_depthwise, lambda x, k, d: tf.nn.depthwise_conv2d(
      x, k, [1, 1, 1, 1], 'SAME', dilations=[d, d])):
    with tf.GradientTape() as tape:
      tape.watch([x, kernel])
      y = conv(x, kernel, 2)
    results.append([y, *tape.gradient(y, [x, kernel], output_gradients=dy)])
  for native, reference in zip(*results):
    np.testing.assert_allclose(native, reference, rtol=1e-5, atol=1e-4)


def test_noise_op_draws_fresh_standard_normal():
  op = ops.make_op('noise', 8, 2)
  x = tf.zeros([4, 16, 16, 8])
  a, b = op(x).numpy(), op(x).numpy()
  assert a.shape == (4, 8, 8, 8)
  assert not np.allclose(a, b)
  assert abs(a.mean()) < 0.1 and abs(a.std() - 1.0) < 0.1


def test_factorized_reduce_matches_darts_on_even_and_odd_sizes():
  op = ops.FactorizedReduce(4)
  for size in (8, 7):
    assert op(tf.random.normal([1, size, size, 4])).shape[1] == -(-size // 2)
