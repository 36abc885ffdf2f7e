"""The fused elementwise mixing kernel against the TF ops it replaces."""

import numpy as np
import pytest
import tensorflow as tf

from rl_darts.fast import fused

_TF_FNS = {'relu': tf.nn.relu, 'tanh': tf.nn.tanh, 'identity': tf.identity}


def _inputs(shape, fns, num_nodes, seed):
  rng = np.random.default_rng(seed)
  x = tf.constant(rng.normal(size=shape), tf.float32)
  base = tf.constant(rng.normal(size=(*shape[:-1], shape[-1] * num_nodes)),
                     tf.float32)
  weights = tf.constant(rng.random((len(fns), num_nodes)), tf.float32)
  return x, base, weights


def _mix_and_gradients(mix, x, base, weights, upstream, pending=()):
  with tf.GradientTape() as tape:
    tape.watch([x, base, weights, *pending])
    ys = mix(x, base, weights, *pending)
    loss = tf.add_n([tf.reduce_sum(y * u) for y, u in zip(ys, upstream)])
  return [*ys, *tape.gradient(loss, [x, base, weights, *pending])]


def test_the_kernel_is_built_and_used_on_cpu():
  """`make setup` builds it; without it supernets run the slower TF ops."""
  assert fused.available(), f'{fused.LIBRARY} failed to load'
  with fused.disabled():
    assert not fused.available()
  assert fused.available()


# [2, 30, 30, 3] has 1,800 pixels and [2, 25, 25, 32] 1,250: more than one
# parallel block, and neither blocks nor chunks divide them. Channels run in
# vectors of 16 lanes (16, 32: two per pixel), 8 lanes (8) or one (3, 4).
@pytest.mark.parametrize('shape, fns, num_nodes, with_pending', [
    ((3, 5, 5, 4), ('relu', 'tanh', 'identity'), 3, False),
    ((3, 5, 5, 4), ('relu', 'tanh', 'identity'), 3, True),
    ((2, 30, 30, 3), ('relu', 'tanh'), 4, True),
    ((1, 7, 7, 16), ('tanh',), 1, False),
    ((2, 25, 25, 32), ('relu', 'tanh', 'identity'), 3, True),
    ((1, 6, 6, 8), ('identity', 'relu'), 2, False),
])
def test_mix_and_its_gradients_equal_the_tf_ops(shape, fns, num_nodes,
                                                with_pending):
  x, base, weights = _inputs(shape, fns, num_nodes, seed=len(fns))
  upstream = [tf.random.stateless_normal(shape, seed=[j, 1])
              for j in range(num_nodes)]
  pending = [tf.random.stateless_normal(shape, seed=[j, 2])
             for j in range(num_nodes if with_pending else 0)]

  def reference(x, base, weights, *pending):
    parts = tf.split(base, num_nodes, axis=-1)
    return [tf.add_n([parts[j], *pending[j:j + 1]] +
                     [weights[i, j] * _TF_FNS[fn](x)
                      for i, fn in enumerate(fns)])
            for j in range(num_nodes)]

  def kernel(x, base, weights, *pending):
    return fused.mix(x, base, weights, fns, pending)

  expected = _mix_and_gradients(reference, x, base, weights, upstream, pending)
  actual = _mix_and_gradients(kernel, x, base, weights, upstream, pending)
  assert len(actual) == len(expected) == num_nodes + 3 + len(pending)
  for got, want in zip(actual, expected):  # Float32 sums in another order.
    np.testing.assert_allclose(got, want, rtol=1e-5,
                               atol=1e-5 * np.abs(want).max())


def test_mix_gradient_is_the_same_on_every_run():
  fns = ('relu', 'tanh')
  x, base, weights = _inputs((4, 32, 32, 8), fns, 2, seed=0)
  upstream = [tf.ones([4, 32, 32, 8])] * 2
  runs = [_mix_and_gradients(lambda *a: fused.mix(*a, fns), x, base, weights,
                             upstream)[-1] for _ in range(3)]
  for run in runs[1:]:
    np.testing.assert_array_equal(run, runs[0])


def test_bad_fns_and_shapes_are_rejected():
  x, base, weights = _inputs((1, 4, 4, 2), ('relu',), 2, seed=0)
  with pytest.raises(ValueError, match=r"no fused kernel for \['sigmoid'\]"):
    fused.mix(x, base, tf.zeros([2, 2]), ('relu', 'sigmoid'))
  with pytest.raises(tf.errors.InvalidArgumentError, match='weights must be'):
    fused.mix(x, base, tf.zeros([2, 2]), ('relu',))
  with pytest.raises(tf.errors.InvalidArgumentError, match='K \\* C channels'):
    fused.mix(x, base[..., :3], weights, ('relu',))
  with pytest.raises(tf.errors.InvalidArgumentError,
                     match='pending must be empty or K = 2 tensors, got 1'):
    fused.mix(x, base, weights, ('relu',), [x])


@pytest.mark.parametrize('content, problem', [
    (None, 'is missing'), (b'not a library', 'does not load')])
def test_a_missing_or_broken_library_is_reported(tmp_path, monkeypatch, caplog,
                                                  content, problem):
  library = tmp_path / '_mix_elementwise.so'
  if content is not None:
    library.write_bytes(content)
  monkeypatch.setattr(fused, 'LIBRARY', str(library))
  assert fused._load() is None  # pylint: disable=protected-access
  assert f'{library} {problem}' in caplog.text
  assert 'make setup' in caplog.text


def test_a_library_built_for_a_missing_instruction_set_is_not_loaded(
    tmp_path, monkeypatch, caplog):
  """A kernel built with -march for a newer CPU would die of SIGILL here:
  it is left out (TF ops instead), naming what the CPU lacks."""
  assert fused.missing_isa(
      ['AVX512F', 'AVX512_BF16', 'SSE4_1', 'SSE3', 'BMI', 'SSE2_MATH',
       'x86_64', 'LP64'],
      ['sse4_1', 'pni', 'bmi1', 'avx512_bf16']) == ['AVX512F']
  built_here = fused.ISA
  library = tmp_path / '_mix_elementwise.so'
  library.write_bytes(open(fused.LIBRARY, 'rb').read())  # A good library.
  isa = tmp_path / '_mix_elementwise.so.isa'
  isa.write_text('SSE2\nSSE_FROM_THE_FUTURE\nSSE2_MATH\n')
  monkeypatch.setattr(fused, 'LIBRARY', str(library))
  monkeypatch.setattr(fused, 'ISA', str(isa))
  assert fused._load() is None  # pylint: disable=protected-access
  assert ('was built for instruction sets this CPU lacks '
          '(SSE_FROM_THE_FUTURE)') in caplog.text
  # The library make setup built here is for this CPU.
  with open(built_here) as f:
    assert fused.missing_isa(f.read().split(), fused._cpu_flags()) == []  # pylint: disable=protected-access
