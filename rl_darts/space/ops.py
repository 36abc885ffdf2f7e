"""Candidate operations, the registry that names them, and the named search spaces.

Every op is a Keras layer made by a factory `(channels, stride) -> layer`. It maps
[B, H, W, channels] to [B, ceil(H / stride), ceil(W / stride), channels].

Two families live here, each under its original code's names:
- RL-DARTS (Miao et al.; CamelCase): plain convs with bias and no normalisation,
  parameter-free ops that average-pool first when strided.
- DARTS (Liu et al.; snake_case): ReLU-conv-BN ops, pools followed by BN,
  FactorizedReduce skip, and RobustDARTS's noise op.
Users add an op with `register_op` from their own module (a gin file can `import`
it) and a space with `register_space` or a gin-configured `SearchSpace`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from typing import Callable, Iterator, Optional

import gin
import tensorflow as tf

from rl_darts.space import naswot

OpFactory = Callable[[int, int], tf.keras.layers.Layer]
_OPS: dict[str, OpFactory] = {}
_SUPERNET_OPS: dict[str, OpFactory] = {}
_SPACES: dict[str, 'SearchSpace'] = {}
CELL_TYPES = ('normal', 'reduce')


def register_op(name: str, factory: OpFactory,
                supernet_factory: Optional[OpFactory] = None) -> None:
  """Makes `factory(channels, stride)` available to search spaces as `name`;
  `supernet_factory`, if given, builds it inside supernets instead (DARTS
  normalises pooling outputs only in the search network)."""
  if name in _OPS and _OPS[name] is not factory:
    raise ValueError(f'op {name!r} is already registered; pick another name')
  _OPS[name] = factory
  if supernet_factory is not None:
    _SUPERNET_OPS[name] = supernet_factory


def known_ops() -> list[str]:
  return sorted(_OPS)


def make_op(name: str, channels: int, stride: int, supernet: bool = False
            ) -> tf.keras.layers.Layer:
  """Builds the op registered as `name` (its supernet form if `supernet`)."""
  if name not in _OPS:
    raise ValueError(f'unknown op {name!r}; known ops: {", ".join(known_ops())}')
  if supernet and name in _SUPERNET_OPS:
    return _SUPERNET_OPS[name](channels, stride)
  return _OPS[name](channels, stride)


def conv_initializer() -> tf.keras.initializers.Initializer:
  """Truncated normal with std 1/sqrt(fan_in), as in the RL-DARTS code (Sonnet)."""
  return tf.keras.initializers.VarianceScaling(1.0, 'fan_in', 'truncated_normal')


def torch_initializer() -> tf.keras.initializers.Initializer:
  """PyTorch's default conv init, U(+-1/sqrt(fan_in)), as in the DARTS code."""
  return tf.keras.initializers.VarianceScaling(1.0 / 3.0, 'fan_in', 'uniform')


def strided_dilation(stride: int, dilation: int) -> bool:
  """Whether a conv is both strided and dilated, which TF refuses. The spaces'
  dilated ops in reduction cells have stride == dilation: such a SAME conv
  (odd kernel) reads only the pixels x[::s, ::s], so it is the undilated
  stride-1 conv of those, at 1/s^2 of the work of subsampling a full one."""
  if stride > 1 and dilation > 1 and stride != dilation:
    raise ValueError(f'a conv with stride {stride} and dilation {dilation}: '
                     f'strided dilated convs need stride == dilation')
  return stride > 1 and dilation > 1


def subsample(x: tf.Tensor, stride: int) -> tf.Tensor:
  """x[:, ::stride, ::stride, :], as a 1x1 max pool: a strided slice runs
  about 40x slower on CPU (an element-wise copy)."""
  if stride == 1:
    return x
  return tf.nn.max_pool2d(x, 1, stride, 'VALID')


def dilated_depthwise(x: tf.Tensor, kernel: tf.Tensor, dilation: int
                      ) -> tf.Tensor:
  """The SAME, stride-1 depthwise conv of x with `kernel` dilated by
  `dilation`. TF runs it as space-to-batch, conv, batch-to-space, at about 3x
  the time of the oneDNN kernel, which dilates natively; where that kernel
  runs (see `_native_dilation`), it computes the output, and the gradient is
  that of TF's form (TF's CPU gradient kernels ignore dilation)."""
  if dilation == 1 or not _native_dilation():
    return _tf_dilated_depthwise(x, kernel, dilation)

  @tf.custom_gradient
  def native(x, kernel):
    def grad(dy):
      with tf.GradientTape() as tape:
        tape.watch([x, kernel])
        y = _tf_dilated_depthwise(x, kernel, dilation)
      return tape.gradient(y, [x, kernel], output_gradients=dy)

    return _native_dilated_depthwise(x, kernel, dilation), grad

  return native(x, kernel)


def _tf_dilated_depthwise(x: tf.Tensor, kernel: tf.Tensor, dilation: int
                          ) -> tf.Tensor:
  return tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], 'SAME',
                                dilations=[dilation, dilation])


def _native_dilated_depthwise(x: tf.Tensor, kernel: tf.Tensor, dilation: int
                              ) -> tf.Tensor:
  return tf.raw_ops.DepthwiseConv2dNative(
      input=x, filter=kernel, strides=[1, 1, 1, 1], padding='SAME',
      dilations=[1, dilation, dilation, 1])


@functools.cache
def _native_dilation() -> bool:
  """Whether the default device's depthwise kernel dilates, and right: checked
  once against TF's form (oneDNN's CPU kernel does; TF's own refuses)."""
  with tf.init_scope():  # Eagerly, also while a tf.function traces.
    x = tf.random.stateless_normal([2, 7, 6, 3], [0, 1])
    kernel = tf.random.stateless_normal([3, 3, 3, 1], [0, 2])
    try:
      native = _native_dilated_depthwise(x, kernel, 2)
    except (tf.errors.UnimplementedError, tf.errors.InvalidArgumentError):
      return False
    reference = _tf_dilated_depthwise(x, kernel, 2)
    return bool(tf.reduce_max(tf.abs(native - reference)) < 1e-4)


def convolve(x: tf.Tensor, kernel: tf.Tensor, stride: int,
             dilation: int) -> tf.Tensor:
  """SAME convolution (see `strided_dilation`)."""
  if strided_dilation(stride, dilation):
    return tf.nn.conv2d(subsample(x, stride), kernel, 1, 'SAME')
  return tf.nn.conv2d(x, kernel, stride, 'SAME', dilations=dilation)


class Conv(tf.keras.layers.Layer):
  """RL-DARTS conv op: conv with bias, SAME padding, optional ReLU after it."""

  def __init__(self, channels: int, stride: int, kernel_size: int,
               dilation: int = 1, relu: bool = False, **kwargs):
    super().__init__(**kwargs)
    self.channels, self.stride = channels, stride
    self.kernel_size, self.dilation, self.relu = kernel_size, dilation, relu

  def build(self, input_shape: tf.TensorShape) -> None:
    k = self.kernel_size
    self.kernel = self.add_weight(
        'kernel', [k, k, int(input_shape[-1]), self.channels],
        initializer=conv_initializer())
    self.bias = self.add_weight('bias', [self.channels], initializer='zeros')
    super().build(input_shape)

  def activate(self, y: tf.Tensor) -> tf.Tensor:
    return tf.nn.relu(y) if self.relu else y

  def call(self, x: tf.Tensor) -> tf.Tensor:
    y = convolve(x, self.kernel, self.stride, self.dilation)
    return self.activate(tf.nn.bias_add(y, self.bias))


class Stateless(tf.keras.layers.Layer):
  """An op without weights: `fn(x, stride)`."""

  def __init__(self, fn: Callable[[tf.Tensor, int], tf.Tensor], stride: int,
               **kwargs):
    super().__init__(**kwargs)
    self.fn, self.stride = fn, stride

  def call(self, x: tf.Tensor) -> tf.Tensor:
    return self.fn(x, self.stride)


class Zero(Stateless):
  """Zeros of the strided shape; a cell skips it (it adds nothing to a sum)."""

  def __init__(self, channels: int, stride: int, **kwargs):
    del channels
    super().__init__(lambda x, s: tf.zeros_like(x[:, ::s, ::s, :]), stride,
                     **kwargs)


class Identity(Stateless):
  """A skip at stride 1 (RL-DARTS Skip, DARTS skip_connect). DARTS's
  drop-path spares it."""

  def __init__(self, **kwargs):
    super().__init__(lambda x, s: x, 1, **kwargs)


def _pool_first(fn: Callable[[tf.Tensor], tf.Tensor]):
  """RL-DARTS parameter-free op: average-pool 3x3/s SAME first when strided."""

  def op(x: tf.Tensor, stride: int) -> tf.Tensor:
    if stride > 1:
      x = tf.nn.avg_pool2d(x, 3, stride, 'SAME')
    return fn(x)

  return op


def _max_pool(x: tf.Tensor, stride: int) -> tf.Tensor:
  return tf.nn.max_pool2d(x, 3, stride, 'SAME')


def _avg_pool(x: tf.Tensor, stride: int) -> tf.Tensor:
  # TF's SAME average pool leaves the padding out of the count, as DARTS does.
  return tf.nn.avg_pool2d(x, 3, stride, 'SAME')


def _stateless(fn: Callable[[tf.Tensor, int], tf.Tensor]) -> OpFactory:
  return lambda channels, stride: Stateless(fn, stride)


def _activation(fn: Callable[[tf.Tensor], tf.Tensor]) -> OpFactory:
  """An RL-DARTS activation op (average-pooled first where strided)."""
  return lambda channels, stride: Stateless(_pool_first(fn), stride)


def _rl_darts_conv(kernel_size: int, dilation: int, relu: bool) -> OpFactory:
  return lambda channels, stride: Conv(channels, stride, kernel_size, dilation,
                                       relu)


for _k in (3, 5):
  for _relu in (False, True):
    _suffix = 'Relu' if _relu else ''
    register_op(f'Conv{_k}x{_k}{_suffix}', _rl_darts_conv(_k, 1, _relu))
    register_op(f'DilConv{_k}x{_k}{_suffix}', _rl_darts_conv(_k, 2, _relu))
register_op('MaxPool3x3', _stateless(_max_pool))
register_op('AveragePool3x3', _stateless(_avg_pool))
register_op('Skip', lambda channels, stride: Identity() if stride == 1 else
            Stateless(_pool_first(tf.identity), stride))
register_op('ReLU', _activation(tf.nn.relu))
register_op('Tanh', _activation(tf.nn.tanh))
register_op('Zero', Zero)


# ----------------------------------------------------------------------------
# DARTS ops (Liu et al. 2019; RobustDARTS's noise, Zela et al. 2020).


_AFFINE_DEFAULT = [False]


@contextlib.contextmanager
def affine_batch_norm() -> Iterator[None]:
  """DARTS ops built inside get affine BN (the evaluation network's)."""
  _AFFINE_DEFAULT.append(True)
  try:
    yield
  finally:
    _AFFINE_DEFAULT.pop()


@gin.configurable
def batch_norm(affine: Optional[bool] = None
               ) -> tf.keras.layers.BatchNormalization:
  """DARTS's BN: non-affine in the search supernet, affine in evaluation
  (`affine_batch_norm`); a gin binding of `affine` overrides both."""
  if affine is None:
    affine = _AFFINE_DEFAULT[-1]
  # PyTorch momentum 0.1 is Keras momentum 0.9.
  return tf.keras.layers.BatchNormalization(
      momentum=0.9, epsilon=1e-5, center=affine, scale=affine)


class ReLUConvBN(tf.keras.layers.Layer):
  """ReLU, kxk conv (no bias), BN: DARTS's input preprocessing."""

  def __init__(self, channels: int, stride: int = 1, kernel_size: int = 1,
               **kwargs):
    super().__init__(**kwargs)
    self.conv = tf.keras.layers.Conv2D(
        channels, kernel_size, stride, padding='same', use_bias=False,
        kernel_initializer=torch_initializer())
    self.bn = batch_norm()

  def call(self, x: tf.Tensor, training: Optional[bool] = None) -> tf.Tensor:
    return self.bn(self.conv(naswot.relu(x)), training=training)


class DilConv(tf.keras.layers.Layer):
  """ReLU, depthwise kxk (dilated), pointwise 1x1, BN."""

  def __init__(self, channels: int, stride: int, kernel_size: int,
               dilation: int, **kwargs):
    super().__init__(**kwargs)
    self.stride, self.dilation = stride, dilation
    self.subsample = strided_dilation(stride, dilation)
    self.depthwise = tf.keras.layers.DepthwiseConv2D(
        kernel_size, 1 if self.subsample else stride, padding='same',
        dilation_rate=1 if self.subsample else dilation, use_bias=False,
        depthwise_initializer=torch_initializer())
    self.pointwise = tf.keras.layers.Conv2D(
        channels, 1, use_bias=False, kernel_initializer=torch_initializer())
    self.bn = batch_norm()

  def build(self, input_shape: tf.TensorShape) -> None:
    self.depthwise.build(input_shape)  # Inference reads its kernel directly.
    super().build(input_shape)

  def call(self, x: tf.Tensor, training: Optional[bool] = None) -> tf.Tensor:
    y = naswot.relu(x)  # On every pixel: NASWOT records the whole input.
    if self.subsample:
      y = subsample(y, self.stride)
    if self.dilation > 1 and not (self.subsample or training):
      y = dilated_depthwise(y, self.depthwise.depthwise_kernel, self.dilation)
    else:  # Training keeps TF's form, whose gradient needs no recompute.
      y = self.depthwise(y)
    return self.bn(self.pointwise(y), training=training)


class SepConv(tf.keras.layers.Layer):
  """DARTS's separable conv: the DilConv block (dilation 1) applied twice."""

  def __init__(self, channels: int, stride: int, kernel_size: int, **kwargs):
    super().__init__(**kwargs)
    self.first = DilConv(channels, stride, kernel_size, 1)
    self.second = DilConv(channels, 1, kernel_size, 1)

  def call(self, x: tf.Tensor, training: Optional[bool] = None) -> tf.Tensor:
    return self.second(self.first(x, training=training), training=training)


class FactorizedReduce(tf.keras.layers.Layer):
  """ReLU, two 1x1 stride-2 convs (the second on the input shifted by a pixel),
  concatenated to `channels`, BN."""

  def __init__(self, channels: int, **kwargs):
    super().__init__(**kwargs)
    if channels % 2:
      raise ValueError(f'FactorizedReduce needs an even channel count, got '
                       f'{channels}')
    self.conv_a, self.conv_b = (
        tf.keras.layers.Conv2D(channels // 2, 1, 2, use_bias=False,
                               kernel_initializer=torch_initializer())
        for _ in range(2))
    self.bn = batch_norm()

  def call(self, x: tf.Tensor, training: Optional[bool] = None) -> tf.Tensor:
    x = naswot.relu(x)
    # Pad after the shift so odd sizes keep ceil(H / 2) like the first branch.
    shifted = tf.pad(x[:, 1:, 1:, :], [[0, 0], [0, 1], [0, 1], [0, 0]])
    y = tf.concat([self.conv_a(x), self.conv_b(shifted)], axis=-1)
    return self.bn(y, training=training)


class PoolBN(tf.keras.layers.Layer):
  """DARTS's pooling op in the search network (and in the dartsrl code's
  evaluation cells): 3x3 pool, then non-affine BN."""

  def __init__(self, pool: Callable[[tf.Tensor, int], tf.Tensor], stride: int,
               **kwargs):
    super().__init__(**kwargs)
    self.pool, self.stride = pool, stride
    self.bn = batch_norm(affine=False)

  def call(self, x: tf.Tensor, training: Optional[bool] = None) -> tf.Tensor:
    return self.bn(self.pool(x, self.stride), training=training)


def _noise(x: tf.Tensor, stride: int) -> tf.Tensor:
  """RobustDARTS S4's noise op: fresh N(0, 1) shaped like the strided input."""
  return tf.random.normal(tf.shape(x[:, ::stride, ::stride, :]))


def _darts_skip(channels: int, stride: int) -> tf.keras.layers.Layer:
  return Identity() if stride == 1 else FactorizedReduce(channels)


class Noise(Stateless):
  """Fresh noise on every call (so never one output shared by edges)."""

  def __init__(self, channels: int, stride: int, **kwargs):
    del channels
    super().__init__(_noise, stride, **kwargs)


register_op('none', Zero)
register_op('skip_connect', _darts_skip)
register_op('max_pool_3x3', _stateless(_max_pool),
            lambda c, s: PoolBN(_max_pool, s))
register_op('avg_pool_3x3', _stateless(_avg_pool),
            lambda c, s: PoolBN(_avg_pool, s))
for _k in (3, 5):
  register_op(f'sep_conv_{_k}x{_k}', functools.partial(SepConv, kernel_size=_k))
  register_op(f'dil_conv_{_k}x{_k}',
              functools.partial(DilConv, kernel_size=_k, dilation=2))
register_op('noise', Noise)


# ----------------------------------------------------------------------------
# Search spaces.


@gin.configurable
@dataclasses.dataclass(frozen=True)
class SearchSpace:
  """The candidate ops of the normal and the reduction cell.

  `reduction_ops=None` means the reduction is not searched: each block reduces
  as IMPALA-CNN does (Conv3x3 + MaxPool3x3/2), as in the paper's Micro space.
  `zero_op` is the op the discretizer never picks (None: the space has none).
  """

  name: str
  normal_ops: tuple[str, ...]
  reduction_ops: Optional[tuple[str, ...]] = None
  zero_op: Optional[str] = 'Zero'

  def __post_init__(self):
    for field in ('normal_ops', 'reduction_ops'):
      value = getattr(self, field)
      if value is None:
        continue
      ops = tuple(value)
      object.__setattr__(self, field, ops)
      if not ops:
        raise ValueError(f'search space {self.name!r}: {field} is empty')
      if len(set(ops)) != len(ops):
        raise ValueError(f'search space {self.name!r}: {field} repeats an op: '
                         f'{list(ops)}')
      for op in ops:
        if op not in _OPS:
          raise ValueError(f'search space {self.name!r}: unknown op {op!r} in '
                           f'{field}; known ops: {", ".join(known_ops())}')

  def ops(self, cell_type: str) -> tuple[str, ...]:
    """The op list of 'normal' or 'reduce' cells."""
    if cell_type == 'normal':
      return self.normal_ops
    if cell_type == 'reduce' and self.reduction_ops is not None:
      return self.reduction_ops
    raise ValueError(f'search space {self.name!r} has no {cell_type!r} cell; '
                     f'it has: {", ".join(self.cell_types)}')

  @property
  def cell_types(self) -> tuple[str, ...]:
    return CELL_TYPES if self.reduction_ops is not None else ('normal',)


def register_space(space: SearchSpace) -> SearchSpace:
  if space.name in _SPACES and _SPACES[space.name] != space:
    raise ValueError(f'search space {space.name!r} is already registered')
  _SPACES[space.name] = space
  return space


def known_spaces() -> list[str]:
  return sorted(_SPACES)


def get_space(space: str | SearchSpace) -> SearchSpace:
  """A registered space by name (or the space itself)."""
  if isinstance(space, SearchSpace):
    return space
  if space not in _SPACES:
    raise ValueError(f'unknown search space {space!r}; known spaces: '
                     f'{", ".join(known_spaces())}')
  return _SPACES[space]


# RL-DARTS spaces: op order as in the authors' code (it decides ties).
_CLASSIC_REDUCTION = ('Conv3x3', 'MaxPool3x3', 'AveragePool3x3', 'Skip', 'Zero')
register_space(SearchSpace(
    'classic',
    ('Conv3x3Relu', 'DilConv3x3Relu', 'Conv5x5Relu', 'DilConv5x5Relu', 'Skip',
     'Zero'), _CLASSIC_REDUCTION))
register_space(SearchSpace(
    'classic_no_relu',
    ('Conv3x3', 'DilConv3x3', 'Conv5x5', 'DilConv5x5', 'Skip', 'Zero'),
    _CLASSIC_REDUCTION))
register_space(SearchSpace('micro', ('Conv3x3', 'ReLU', 'Tanh', 'Skip', 'Zero')))
# Parameter-free ops of distinct functions: a planted cell is identifiable
# (rl_darts.experiments.planted).
register_space(SearchSpace('planted', ('ReLU', 'Tanh', 'Skip', 'Zero')))
# DARTS: PRIMITIVES order of the original code; 'dartsrl': the same ops in the
# RL-for-DARTS authors' order (their action indices, and their decoding's ties:
# a kept edge whose op is none decodes to sep_conv_3x3); RobustDARTS S2-S4.
_DARTS_OPS = ('none', 'max_pool_3x3', 'avg_pool_3x3', 'skip_connect',
              'sep_conv_3x3', 'sep_conv_5x5', 'dil_conv_3x3', 'dil_conv_5x5')
_DARTSRL_OPS = ('sep_conv_3x3', 'sep_conv_5x5', 'dil_conv_3x3', 'dil_conv_5x5',
                'skip_connect', 'avg_pool_3x3', 'max_pool_3x3', 'none')
for _name, _ops in (('darts', _DARTS_OPS), ('dartsrl', _DARTSRL_OPS),
                    ('s2', ('skip_connect', 'sep_conv_3x3')),
                    ('s3', ('none', 'skip_connect', 'sep_conv_3x3')),
                    ('s4', ('noise', 'sep_conv_3x3'))):
  register_space(SearchSpace(_name, _ops, _ops,
                             zero_op='none' if 'none' in _ops else None))
