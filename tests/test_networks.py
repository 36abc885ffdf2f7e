"""Supernet, discrete network and IMPALA-CNN: shapes, gradients, equivalence."""

import dataclasses

import gin
import numpy as np
import pytest
import tensorflow as tf

from rl_darts.fast import cells as fast_cells
from rl_darts.fast import fused
from rl_darts.space import cells
from rl_darts.space import genotypes
from rl_darts.space import networks
from rl_darts.space import ops


def _images(batch=2, dtype=np.uint8, seed=0):
  rng = np.random.default_rng(seed)
  if dtype == np.uint8:
    return rng.integers(0, 256, (batch, 64, 64, 3), dtype=np.uint8)
  return rng.random((batch, 64, 64, 3), dtype=np.float32)


def _block_outputs(net, images):
  """Spatial shape after every block."""
  x = networks.scale_images(images)
  probs = net.mixing_probs()
  if net.stem is not None:
    x = net.stem(x)
  shapes = []
  for block in net.blocks:
    for kind, layer in block:
      x = (layer([x], probs=probs.get(kind)) if kind in ops.CELL_TYPES
           else layer(x))
    shapes.append(tuple(x.shape[1:]))
  return shapes


@pytest.mark.parametrize('make', [
    lambda: networks.Supernet('classic', depths=(4, 4, 4)),
    lambda: networks.Supernet('micro', depths=(4, 4, 4), normal_cells=2),
    lambda: networks.ImpalaCNN(depths=(4, 8, 8)),
])
def test_64x64_becomes_8x8_after_three_blocks(make):
  net = make()
  shapes = _block_outputs(net, _images())
  assert [s[:2] for s in shapes] == [(32, 32), (16, 16), (8, 8)]
  assert net(_images()).shape == (2, 256)


def test_five_blocks_reach_2x2_and_per_block_depths():
  net = networks.Supernet('classic', depths=(4, 4, 8, 8, 8),
                          normal_cells=[1, 0, 1, 0, 2], num_nodes=2)
  shapes = _block_outputs(net, _images(1))
  assert shapes[-1] == (2, 2, 8)
  assert [sum(k == 'normal' for k, _ in b) for b in net.blocks] == [1, 0, 1, 0, 2]


def test_uint8_input_is_scaled_like_float_input():
  net = networks.Supernet('micro', depths=(4,), normal_cells=1)
  images = _images()
  np.testing.assert_allclose(net(images), net(images.astype(np.float32) / 255),
                             atol=1e-6)


def test_reduction_cells_stride_only_edges_from_the_input():
  cell = cells.supernet_cell(4, ops.get_space('classic').ops('reduce'), 1, 3,
                             reduction=True)
  probs = tf.fill([6, 5], 0.2)
  assert cell([tf.zeros([1, 16, 16, 4])], probs=probs).shape == (1, 8, 8, 4)
  strides = {key: layer.stride for key, layer in cell.op_layers.items()}
  assert strides['0_2_Conv3x3'] == 2 and strides['1_2_Conv3x3'] == 1


SPACE_CELLS = [(name, cell_type) for name in ops.known_spaces()
               for cell_type in ops.get_space(name).cell_types]
# Cells with elementwise shared outputs (Micro's ReLU, Tanh and Skip, Classic
# normal's unfolded Skip; Classic-no-ReLU folds its Skip into linear convs):
# the only ones the C++ kernel serves, so the only ones run without it too.
KERNEL_CELLS = [('micro', 'normal'), ('classic', 'normal')]


def _cell_forwards(cell, inputs, probs, upstream):
  """Output and gradients (inputs, probs, every weight) of the fast and the
  reference forward of one cell."""
  results = []
  for path in cells.FORWARD_PATHS:
    cell.forward_path = path
    with tf.GradientTape() as tape:
      tape.watch([*inputs, probs])
      y = cell(inputs, probs=probs, training=True)
      loss = tf.reduce_sum(y * upstream)
    results.append([y, *tape.gradient(
        loss, [*inputs, probs, *cell.trainable_weights],
        unconnected_gradients=tf.UnconnectedGradients.ZERO)])
  cell.forward_path = 'fast'
  return results


def _assert_equal_forwards(results):
  for fast, reference in zip(*results):  # Float32 sums in another order.
    np.testing.assert_allclose(fast, reference, rtol=1e-5,
                               atol=1e-5 * max(np.abs(reference).max(), 1e-6))


def _deterministic_noise(cell):
  """S4's noise op, made a fixed function so two forwards can be compared."""
  for layer in cell.op_layers.values():
    if isinstance(layer, ops.Noise):
      layer.fn = lambda x, stride: tf.sin(x[:, ::stride, ::stride, :])


@pytest.mark.parametrize('size', [8, 7])
@pytest.mark.parametrize('space_name, cell_type, kernel', [
    *[(*cell, 'fused') for cell in SPACE_CELLS],
    *[(*cell, 'tf_ops') for cell in KERNEL_CELLS]])
def test_fast_supernet_cell_equals_the_reference(space_name, cell_type, kernel,
                                                 size, monkeypatch):
  """The fast forward (one conv per shape, kernels scaled by p, skips folded
  into linear convs, GEMM gradients or the fused kernel for shared outputs)
  computes the reference's MixedOp sums, with the same gradients for the
  input, the probabilities and every weight."""
  monkeypatch.setattr(fused, '_ENABLED', [kernel == 'fused'])
  mixes, mix = [], fused.mix
  monkeypatch.setattr(fused, 'mix', lambda *a: mixes.append(a) or mix(*a))
  num_nodes, reduction = 3, cell_type == 'reduce'
  cell = cells.supernet_cell(4, ops.get_space(space_name).ops(cell_type), 1,
                             num_nodes, reduction=reduction)
  _deterministic_noise(cell)
  x = tf.random.stateless_normal([2, size, size, 4], seed=[1, 2])
  logits = tf.random.stateless_normal(
      [len(genotypes.cell_edges(1, num_nodes)), len(cell.edge_ops[(0, 0)])],
      seed=[3, 4])
  probs = tf.nn.softmax(logits)
  cell([x], probs=probs)  # Builds.
  for i, weight in enumerate(cell.weights):  # Bias and skip weights matter too.
    weight.assign(tf.random.stateless_normal(weight.shape, seed=[5, i]))
  upstream = tf.random.stateless_normal(cell([x], probs=probs).shape,
                                        seed=[7, 8])
  _assert_equal_forwards(_cell_forwards(cell, [x], probs, upstream))
  # Edges from a node add in the sums pending for their targets.
  uses_kernel = (space_name, cell_type) in KERNEL_CELLS and kernel == 'fused'
  assert bool(mixes) == uses_kernel
  assert all(bool(args[4]) for args in mixes[1:num_nodes])


@pytest.mark.parametrize('space_name, cell_type', SPACE_CELLS)
def test_fast_discrete_cell_equals_the_reference(space_name, cell_type):
  """A genotype's cell: the fast forward (one conv per shape, shared
  parameter-free outputs) sums the same op outputs as the reference."""
  space = ops.get_space(space_name)
  ops_names = space.ops(cell_type)
  nodes = genotypes.discretize_cell(
      np.random.default_rng(2).dirichlet(np.ones(len(ops_names)), size=6),
      ops_names, 1, 2, space.zero_op)
  cell = cells.discrete_cell(4, nodes, 1, reduction=cell_type == 'reduce')
  _deterministic_noise(cell)
  x = tf.random.stateless_normal([2, 8, 8, 4], seed=[1, 2])
  cell([x])
  upstream = tf.random.stateless_normal(cell([x]).shape, seed=[7, 8])
  _assert_equal_forwards(_cell_forwards(cell, [x], tf.zeros([1]), upstream))


def test_two_input_darts_cells_have_equal_forwards():
  """DARTS's two-input cells (ReLU-conv-BN or factorized-reduce inputs,
  concatenated output): fast and reference agree, supernet and discrete."""
  space = ops.get_space('darts')
  probs = tf.nn.softmax(tf.random.stateless_normal([14, 8], seed=[1, 1]))
  s0 = tf.random.stateless_normal([2, 16, 16, 6], seed=[2, 2])
  s1 = tf.random.stateless_normal([2, 8, 8, 5], seed=[3, 3])
  supernet = cells.supernet_cell(8, space.ops('reduce'), num_inputs=2,
                                 num_nodes=4, reduction=True, output='concat',
                                 preprocess='relu_conv_bn', reduction_prev=True)
  nodes = genotypes.discretize_cell(probs.numpy(), space.ops('reduce'), 2, 2,
                                   space.zero_op)
  discrete = cells.discrete_cell(8, nodes, 2, reduction=True, output='concat',
                                 preprocess='relu_conv_bn', reduction_prev=True)
  for cell in (supernet, discrete):
    upstream = tf.random.stateless_normal(
        cell([s0, s1], probs=probs).shape, seed=[4, 4])
    _assert_equal_forwards(_cell_forwards(cell, [s0, s1], probs, upstream))


def test_cell_forward_is_chosen_by_gin():
  gin.parse_config("cell_forward.path = 'reference'")
  try:
    cell = cells.supernet_cell(4, ops.get_space('micro').ops('normal'), 1, 2)
    assert cell.forward_path == 'reference'
    gin.parse_config("cell_forward.path = 'compiled'")
    with pytest.raises(ValueError, match="'compiled'.*fast, reference"):
      cells.supernet_cell(4, ops.get_space('micro').ops('normal'), 1, 2)
  finally:
    gin.clear_config()
  assert cells.supernet_cell(4, ('Skip',), 1, 2).forward_path == 'fast'


@pytest.mark.parametrize('space_name', ['classic', 'micro'])
def test_supernet_on_the_reference_path_equals_the_fast_one(space_name):
  """Whole encoders: a supernet built with `cell_forward.path = 'reference'`
  computes what the default (fast) one does from the same weights."""
  images = _images(2, np.float32)
  fast = networks.Supernet(space_name, depths=(4, 4))
  gin.parse_config("cell_forward.path = 'reference'")
  try:
    reference = networks.Supernet(space_name, depths=(4, 4))
  finally:
    gin.clear_config()
  fast(images)
  reference(images)
  assert networks.copy_weights(fast, reference) == (
      len(reference.weights) - len(reference.alpha))
  for cell_type, alpha in fast.alpha.items():
    alpha.assign(tf.random.stateless_normal(alpha.shape, seed=[0, 1]))
    reference.alpha[cell_type].assign(alpha)
  expected = reference(images).numpy()
  assert np.abs(expected).max() > 1e-3
  np.testing.assert_allclose(fast(images), expected, rtol=1e-5, atol=1e-5)


def test_concat_conv_gradients_equal_those_of_concat_then_conv():
  """The per-state GEMM gradient of a cell's output conv is the gradient of
  concat + 1x1 conv, for the weights and for each state."""
  seeds = iter(range(100))
  normal = lambda shape: tf.random.stateless_normal(shape, [next(seeds), 0])
  states = [normal([2, 5, 5, c]) for c in (3, 4, 2)]
  kernel, bias = normal([1, 1, 9, 6]), normal([6])
  upstream = normal([2, 5, 5, 6])
  results = []
  for conv in (fast_cells._concat_conv,  # pylint: disable=protected-access
               lambda k, b, *s: tf.nn.conv2d(tf.concat(s, -1), k, 1, 'VALID')
               + b):
    with tf.GradientTape() as tape:
      tape.watch([kernel, bias, *states])
      y = conv(kernel, bias, *states)
      loss = tf.reduce_sum(y * upstream)
    results.append([y, *tape.gradient(loss, [kernel, bias, *states])])
  for actual, expected in zip(*results):
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)


def test_two_input_darts_cell():
  space = ops.get_space('darts')
  cell = cells.supernet_cell(8, space.ops('reduce'), num_inputs=2, num_nodes=4,
                             reduction=True, output='concat',
                             preprocess='relu_conv_bn', reduction_prev=True)
  probs = tf.nn.softmax(tf.random.normal([14, 8]))
  s0, s1 = tf.random.normal([2, 16, 16, 6]), tf.random.normal([2, 8, 8, 5])
  assert cell([s0, s1], probs=probs, training=True).shape == (2, 4, 4, 32)


def test_gradients_reach_alpha_and_weights():
  # Seeded: about 1 in 40 random inits of this tiny net is all dead ReLUs.
  tf.keras.utils.set_random_seed(0)
  net = networks.Supernet('classic', depths=(4, 4))
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(net(_images()) ** 2)
  grads = tape.gradient(loss, net.alpha_variables + net.weight_variables)
  assert len(net.alpha_variables) == 2
  assert all(g is not None for g in grads)
  assert all(np.any(g.numpy() != 0) for g in grads[:2])
  assert len(net.trainable_variables) == len(grads)


def test_frozen_alpha_gets_no_gradient_and_stays_uniform():
  net = networks.Supernet('micro', depths=(4,), normal_cells=2,
                          freeze_alpha=True)
  images = _images()
  net(images)
  assert net.alpha_variables and not any(a.trainable for a in net.alpha_variables)
  assert not any(a.ref() in {v.ref() for v in net.trainable_variables}
                 for a in net.alpha_variables)
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(net(images))
  assert tape.gradient(loss, net.alpha_variables[0]) is None
  np.testing.assert_allclose(net.probabilities()['normal'], 1 / 5)


def test_temperature_multiplies_the_logits():
  net = networks.Supernet('micro', depths=(4,), temperature=10.0)
  net.alpha['normal'].assign(tf.one_hot([0] * 10, 5) * 0.1)
  p = net.probabilities()['normal'][0]
  np.testing.assert_allclose(p[0] / p[1], np.exp(1.0), rtol=1e-5)


def _random_genotype(space, rng, cell_types=None, num_nodes=4):
  probs = {t: rng.dirichlet(np.ones(len(space.ops(t))),
                            size=len(genotypes.cell_edges(1, num_nodes)))
           for t in cell_types or space.cell_types}
  return genotypes.discretize(probs, space)


@pytest.mark.parametrize('space_name, shape', [
    ('classic', {}),  # (N, R, I) = (1, 1, 4).
    ('micro', {'normal_cells': 2}),  # (2, 0, 4).
    # The paper's other Classic search: (1, 0, 6), last-node output (App. C.2).
    ('classic', {'reduction_cells': 0, 'num_nodes': 6,
                 'cell_output': 'last_node'}),
])
def test_one_hot_supernet_equals_discrete_network(space_name, shape):
  """The discrete network of a genotype, shaped by the genotype alone, equals
  the supernet whose alpha is one-hot on it."""
  space = ops.get_space(space_name)
  rng = np.random.default_rng(1)
  images = _images(3, np.float32)
  seen = []
  for _ in range(3):
    supernet = networks.Supernet(space, depths=(6, 8), **shape)
    genotype = dataclasses.replace(
        _random_genotype(space, rng, supernet.alpha, supernet.num_nodes),
        shape=supernet.genotype().shape)
    discrete = networks.DiscreteNetwork(genotype, depths=(6, 8))
    supernet(images)
    discrete(images)
    assert [[k for k, _ in b] for b in discrete.blocks] == [
        [k for k, _ in b] for b in supernet.blocks]
    assert networks.copy_weights(supernet, discrete) == len(discrete.weights)
    for cell_type, alpha in supernet.alpha.items():
      alpha.assign(genotypes.one_hot_alpha(genotype.nodes(cell_type),
                                           space.ops(cell_type), 1, 'Zero'))
    expected = discrete(images).numpy()
    np.testing.assert_allclose(supernet(images), expected, atol=1e-5)
    assert np.abs(expected).max() > 1e-3  # Not trivially zero.
    seen.append(expected)
  # Different genotypes compute different functions.
  assert not np.allclose(seen[0], seen[1], atol=1e-3)


def test_discretized_supernet_is_its_discrete_network_and_restores_alpha():
  """Zero-shot discretization: within `discretized()`, the supernet computes
  the discrete network of its genotype with its own weights."""
  supernet = networks.Supernet('classic', depths=(6, 8))
  images = _images(3, np.float32)
  supernet(images)
  rng = np.random.default_rng(0)
  for alpha in supernet.alpha.values():
    alpha.assign(rng.normal(size=alpha.shape).astype(np.float32))
  before = {t: a.numpy() for t, a in supernet.alpha.items()}
  mixed = supernet(images).numpy()
  discrete = networks.DiscreteNetwork(supernet.genotype(), depths=(6, 8))
  discrete(images)
  networks.copy_weights(supernet, discrete)
  with supernet.discretized() as genotype:
    assert genotype == supernet.genotype()
    np.testing.assert_allclose(supernet(images), discrete(images), atol=1e-5)
  for cell_type, alpha in supernet.alpha.items():
    np.testing.assert_array_equal(alpha.numpy(), before[cell_type])
  np.testing.assert_allclose(supernet(images), mixed, atol=1e-6)
  assert not np.allclose(mixed, discrete(images), atol=1e-3)


def test_reduction_free_classic_reduces_like_impala_cnn():
  """R = 0 means IMPALA-CNN's Conv + MaxPool per block in any space."""
  supernet = networks.Supernet('classic', depths=(4, 4, 4), reduction_cells=0)
  assert [[k for k, _ in b] for b in supernet.blocks] == [
      ['conv', 'pool', 'normal']] * 3
  assert list(supernet.alpha) == ['normal']
  assert [s[:2] for s in _block_outputs(supernet, _images())] == [
      (32, 32), (16, 16), (8, 8)]


def test_discrete_network_takes_its_shape_from_the_genotype(tmp_path):
  supernet = networks.Supernet('micro', depths=(4,), normal_cells=2,
                               num_nodes=2)
  path = str(tmp_path / 'genotype.json')
  supernet.genotype().save(path)
  assert genotypes.Genotype.load(path).shape == {
      'space': 'micro', 'normal_cells': 2, 'reduction_cells': 0,
      'edges_per_node': 2, 'cell_output': 'concat_conv'}
  discrete = networks.DiscreteNetwork(path, depths=(4,))
  assert [k for k, _ in discrete.blocks[0]] == [
      'conv', 'pool', 'normal', 'normal']
  assert networks.DiscreteNetwork(path, depths=(4,), normal_cells=2)
  with pytest.raises(genotypes.GenotypeError, match=(
      r"DiscreteNetwork.normal_cells = 1 conflicts with the genotype's "
      r'normal_cells = 2')):
    networks.DiscreteNetwork(path, depths=(4,), normal_cells=1)


@pytest.mark.parametrize('make, message', [
    (lambda: networks.Supernet('classic', num_nodes=-1),
     'num_nodes >= 1.*num_nodes=-1'),
    (lambda: networks.Supernet('classic', temperature=0.0),
     'temperature > 0.*temperature=0.0'),
    (lambda: networks.ImpalaCNN(depths=[16, -2]),
     r'positive widths, got \[16, -2\]'),
    (lambda: networks.ImpalaCNN(kernel_size=4),
     r'kernel_size must be one of \(3, 5\).*got 4'),
])
def test_out_of_range_structure_is_a_clear_error(make, message):
  with pytest.raises(ValueError, match=message):
    make()


def test_impala_cnn_with_5x5_kernels():
  net = networks.ImpalaCNN(depths=(4,), kernel_size=5)
  net(_images(1))
  assert {tuple(w.shape[:2]) for w in net.weights if len(w.shape) == 4} == {
      (5, 5)}


def test_copy_weights_rejects_a_mismatched_network():
  space = ops.get_space('micro')
  genotype = _random_genotype(space, np.random.default_rng(0))
  supernet = networks.Supernet(space, depths=(4,))
  discrete = networks.DiscreteNetwork(genotype, depths=(8,))
  supernet(_images())
  discrete(_images())
  with pytest.raises(ValueError, match='has no weights at stem|block0/0'):
    networks.copy_weights(supernet, discrete)


def test_discrete_network_rejects_bad_genotypes(tmp_path):
  with pytest.raises(genotypes.GenotypeError, match='unknown ops'):
    networks.DiscreteNetwork(
        genotypes.Genotype(normal=[[('Conv9x9', 0)]]), depths=(4,))
  with pytest.raises(genotypes.GenotypeError, match='does not exist'):
    networks.DiscreteNetwork(str(tmp_path / 'missing.json'))


def test_impala_cnn_parameter_count():
  net = networks.ImpalaCNN(depths=(16, 32, 32))
  net(_images(1))
  # Encoder + Dense 256 (policy and value heads excluded).
  assert net.count_params() == 622_144


def test_checkpoint_round_trip(tmp_path):
  net = networks.Supernet('classic', depths=(4, 4))
  net(_images())
  net.alpha['normal'].assign(tf.random.normal(net.alpha['normal'].shape))
  path = tf.train.Checkpoint(net=net).save(str(tmp_path / 'ckpt'))
  other = networks.Supernet('classic', depths=(4, 4))
  other(_images())
  tf.train.Checkpoint(net=other).restore(path).assert_consumed()
  np.testing.assert_allclose(other(_images()), net(_images()), atol=1e-6)


def test_user_op_and_space_by_gin():
  gin.clear_config()
  try:
    gin.parse_config("""
        import tests.custom_ops_module
        mine/SearchSpace.name = 'mine'
        mine/SearchSpace.normal_ops = ['Conv7x7Elu', 'Skip', 'Zero']
        Supernet.space = @mine/SearchSpace()
        Supernet.depths = [4]
        Supernet.normal_cells = 2
        make_encoder.network = @Supernet
    """)
    net = networks.make_encoder()
  finally:
    gin.clear_config()
  assert net.space.normal_ops == ('Conv7x7Elu', 'Skip', 'Zero')
  assert net(_images()).shape == (2, 256)
  assert net.genotype().normal[0][0][0] == 'Conv7x7Elu'
