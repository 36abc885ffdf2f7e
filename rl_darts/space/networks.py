"""Image encoders: the DARTS supernet, a genotype's discrete network, IMPALA-CNN.

All three map [B, 64, 64, 3] images (uint8, scaled inside, or float) to 256
features through the same head (flatten, ReLU, Dense 256, ReLU) and are chosen
by gin (`make_encoder.network = @Supernet` / `@DiscreteNetwork` / `@ImpalaCNN`).
"""

from __future__ import annotations

import contextlib
import dataclasses

from typing import Callable, Iterator, Optional, Sequence

import gin
import numpy as np
import tensorflow as tf

from rl_darts.space import cells
from rl_darts.space import genotypes
from rl_darts.space import ops as ops_lib
from rl_darts.space import tracing


@gin.configurable
def make_encoder(network: Callable[[], tf.keras.Model] = gin.REQUIRED
                 ) -> tf.keras.Model:
  """The encoder gin names: `make_encoder.network = @Supernet` and the like."""
  return network()


def scale_images(images: tf.Tensor) -> tf.Tensor:
  """uint8 pixels to [0, 1] floats; float input passes through as float32."""
  if images.dtype == tf.uint8:
    return tf.cast(images, tf.float32) / 255.0
  return tf.cast(images, tf.float32)


KERNEL_SIZES = (3, 5)


def _conv(width: int, kernel_size: int = 3) -> tf.keras.layers.Conv2D:
  return tf.keras.layers.Conv2D(width, kernel_size, padding='same',
                                kernel_initializer=ops_lib.conv_initializer())


def _max_pool() -> tf.keras.layers.MaxPool2D:
  return tf.keras.layers.MaxPool2D(3, 2, padding='same')


@gin.configurable
class FeatureHead(tf.keras.layers.Layer):
  """The encoders' head on the flattened features. 'relu': ReLU, Dense
  `units`, ReLU (IMPALA-CNN's and RL-DARTS', 256 units); 'layer_norm': Dense
  `units`, LayerNorm (PI-SAC's, 50 units; the RL-DARTS SAC runs, App. A.3)."""

  STYLES = ('relu', 'layer_norm')

  def __init__(self, units: int = 256, style: str = 'relu', **kwargs):
    super().__init__(**kwargs)
    if style not in self.STYLES or units < 1:
      raise ValueError(f'FeatureHead needs units >= 1 and style in '
                       f'{self.STYLES}; got {units}, {style!r}')
    self.style = style
    self.dense = tf.keras.layers.Dense(
        units, kernel_initializer=ops_lib.conv_initializer())
    self.norm = (tf.keras.layers.LayerNormalization(epsilon=1e-5)
                 if style == 'layer_norm' else None)

  def call(self, x: tf.Tensor) -> tf.Tensor:
    x = tf.reshape(x, [tf.shape(x)[0], int(np.prod(x.shape[1:]))])
    if self.norm is not None:
      return self.norm(self.dense(x))
    return tf.nn.relu(self.dense(tf.nn.relu(x)))


class FilterResponseNorm(tf.keras.layers.Layer):
  """Filter response normalization with its thresholded linear unit (Singh
  and Krishnan 2020): y = max(gamma x / sqrt(mean_HW(x^2) + eps) + beta,
  tau), per channel; no batch statistics."""

  def __init__(self, epsilon: float = 1e-6, **kwargs):
    super().__init__(**kwargs)
    self.epsilon = epsilon

  def build(self, input_shape):
    shape = (1, 1, 1, int(input_shape[-1]))
    self.gamma = self.add_weight('gamma', shape, initializer='ones')
    self.beta = self.add_weight('beta', shape, initializer='zeros')
    self.tau = self.add_weight('tau', shape, initializer='zeros')

  def call(self, x: tf.Tensor) -> tf.Tensor:
    nu2 = tf.reduce_mean(tf.square(x), axis=[1, 2], keepdims=True)
    return tf.maximum(
        self.gamma * x * tf.math.rsqrt(nu2 + self.epsilon) + self.beta,
        self.tau)


class ResidualBlock(tf.keras.layers.Layer):
  """IMPALA-CNN's [ReLU, Conv, ReLU, Conv] + input (3x3 convs by default)."""

  def __init__(self, width: int, kernel_size: int = 3, **kwargs):
    super().__init__(**kwargs)
    self.conv_a = _conv(width, kernel_size)
    self.conv_b = _conv(width, kernel_size)

  def call(self, x: tf.Tensor) -> tf.Tensor:
    return x + self.conv_b(tf.nn.relu(self.conv_a(tf.nn.relu(x))))


class Encoder(tf.keras.Model):
  """Blocks of layers, then the feature head. Subclasses fill `blocks`.

  `blocks[b]` is a list of (kind, layer): kind 'normal'/'reduce' marks a cell
  (called with that cell type's mixing probabilities), anything else a plain
  layer. With `recompute.blocks`, training calls run each layer under
  `tf.recompute_grad`.
  """

  def __init__(self, name: str):
    super().__init__(name=name)
    self.stem: Optional[tf.keras.layers.Layer] = None
    self.blocks: list[list[tuple[str, tf.keras.layers.Layer]]] = []
    self.head = FeatureHead()
    self.recompute = cells.recompute().blocks

  def mixing_probs(self) -> dict[str, tf.Tensor]:
    return {}

  @tracing.no_autograph
  def call(self, images: tf.Tensor, training: Optional[bool] = None
           ) -> tf.Tensor:
    x = scale_images(images)
    probs = self.mixing_probs()
    if self.stem is not None:
      x = self.stem(x)
    for block in self.blocks:
      for kind, layer in block:
        p = probs.get(kind) if kind in ops_lib.CELL_TYPES else None
        x = self._apply(layer, x, p, kind in ops_lib.CELL_TYPES, training)
    return self.head(x)

  def _apply(self, layer, x: tf.Tensor, probs: Optional[tf.Tensor],
             cell: bool, training: Optional[bool]) -> tf.Tensor:
    """One block layer on `x` (a cell with `probs`), recomputed in the
    backward pass when set."""
    def forward(x, *p):
      return (layer([x], probs=p[0] if p else None, training=training)
              if cell else layer(x))
    return cells.run_step(forward, bool(self.recompute and training), x,
                          *(() if probs is None else (probs,)))

  def components(self) -> list[tuple[str, list[tf.Variable]]]:
    """(name, weights) per component (stem, each block layer, head)."""
    parts = [('stem', self.stem.weights)] if self.stem is not None else []
    for b, block in enumerate(self.blocks):
      for i, (kind, layer) in enumerate(block):
        parts.append((f'block{b}/{i}:{kind}', layer.weights))
    parts.append(('head', self.head.weights))
    return parts

  def named_layers(self) -> list[tuple[str, tf.keras.layers.Layer]]:
    """Leaf layers by structural name (cells expand to their ops)."""
    named = [('stem', self.stem)] if self.stem is not None else []
    for b, block in enumerate(self.blocks):
      for i, (kind, layer) in enumerate(block):
        prefix = f'block{b}/{i}'
        if isinstance(layer, cells.Cell):
          named += [(f'{prefix}/{n}', sub) for n, sub in layer.named_layers()]
        else:
          named.append((prefix, layer))
    named.append(('head', self.head))
    return named


@gin.configurable
class ImpalaCNN(Encoder):
  """IMPALA-CNN (Espeholt et al. 2018): per depth a Conv, MaxPool3x3/2 and
  two residual blocks of Convs, 3x3 (or 5x5: the paper's Table 1 ablation).
  [16, 32, 32] is the Procgen PPO standard."""

  def __init__(self, depths: Sequence[int] = (16, 32, 32),
               kernel_size: int = 3, name: str = 'impala_cnn'):
    super().__init__(name)
    _check_depths(depths)
    if kernel_size not in KERNEL_SIZES:
      raise ValueError(f'ImpalaCNN.kernel_size must be one of {KERNEL_SIZES} '
                       f'(Table 1: Conv3x3 vs Conv5x5), got {kernel_size!r}')
    for width in depths:
      self.blocks.append([('conv', _conv(width, kernel_size)),
                          ('pool', _max_pool()),
                          ('residual', ResidualBlock(width, kernel_size)),
                          ('residual', ResidualBlock(width, kernel_size))])


@gin.configurable
class ConvEncoder(Encoder):
  """The pixel-SAC baseline (RL-DARTS paper App. A.3: a 4-layer conv
  encoder): `layers` 3x3 convs of `filters`, the first with stride 2, each
  followed by a ReLU (SAC-AE's and DrQ's) or by filter response
  normalization (`activation = 'frn'`, PI-SAC's), then the feature head."""

  ACTIVATIONS = ('relu', 'frn')

  def __init__(self, filters: int = 32, layers: int = 4,
               activation: str = 'relu', name: str = 'conv_encoder'):
    super().__init__(name)
    if filters < 1 or layers < 1 or activation not in self.ACTIVATIONS:
      raise ValueError(f'ConvEncoder needs filters >= 1, layers >= 1 and '
                       f'activation in {self.ACTIVATIONS}; got {filters}, '
                       f'{layers}, {activation!r}')
    block = []
    for i in range(layers):
      block.append(('conv', tf.keras.layers.Conv2D(
          filters, 3, strides=2 if i == 0 else 1,
          activation='relu' if activation == 'relu' else None,
          kernel_initializer=ops_lib.conv_initializer())))
      if activation == 'frn':
        block.append(('frn', FilterResponseNorm()))
    self.blocks.append(block)


def _check_depths(depths: Sequence[int]) -> None:
  if not depths or any(int(d) < 1 for d in depths):
    raise ValueError(f'depths must be a list of positive widths, got '
                     f'{depths!r}')


def _per_block(value: int | Sequence[int], num_blocks: int,
               what: str) -> list[int]:
  counts = [value] * num_blocks if isinstance(value, int) else list(value)
  if len(counts) != num_blocks or any(c < 0 for c in counts):
    raise ValueError(f'{what} must be a count >= 0 or one per block '
                     f'({num_blocks} blocks), got {value!r}')
  return counts


def _compact(counts: list[int]) -> int | list[int]:
  return counts[0] if len(set(counts)) == 1 else counts


class CellNetwork(Encoder):
  """Blocks of cells (shared by the supernet and the discrete network).

  Cell-style (R > 0 reduction cells, a space that searches them): a Conv3x3
  stem to depths[0], then per block R reduction cells and N normal cells.
  IMPALA-style (R = 0, in any space; Micro has no reduction ops): per block
  Conv3x3 + MaxPool3x3/2, then N normal cells.
  """

  def __init__(self, make_cell: Callable[[str, int], cells.Cell],
               depths: Sequence[int], normal_cells: int | Sequence[int],
               reduction_cells: int | Sequence[int], searched_reduction: bool,
               name: str):
    super().__init__(name)
    _check_depths(depths)
    self.depths = tuple(int(d) for d in depths)
    normal = _per_block(normal_cells, len(self.depths), 'normal_cells')
    reduce = _per_block(reduction_cells, len(self.depths), 'reduction_cells')
    if not searched_reduction and any(reduce):
      raise ValueError('this network does not search reduction cells (each '
                       'block reduces like IMPALA-CNN); set reduction_cells=0')
    # R = 0 reduces like IMPALA-CNN in any space (paper Sec. 4.1).
    impala_reduction = not any(reduce)
    self.cell_counts = {'normal_cells': _compact(normal),
                        'reduction_cells': _compact(reduce)}
    if not impala_reduction:
      self.stem = _conv(self.depths[0])
    for width, n, r in zip(self.depths, normal, reduce):
      block = ([('conv', _conv(width)), ('pool', _max_pool())]
               if impala_reduction else [])
      block += [('reduce', make_cell('reduce', width)) for _ in range(r)]
      block += [('normal', make_cell('normal', width)) for _ in range(n)]
      self.blocks.append(block)


@gin.configurable
class Supernet(CellNetwork):
  """The DARTS supernet: every cell mixes all ops by p = softmax(T * alpha).

  One alpha variable per cell type, shared by every cell of that type; it is
  reachable apart from the weights (`alpha`, `weight_variables`). Alpha starts
  at zeros (RL-DARTS; `alpha_init_stddev=1e-3` for DARTS's init). With
  `freeze_alpha` it is not trainable (uniform mixing if initialised to zeros:
  the paper's App. B.1 ablation).
  """

  def __init__(self, space: str | ops_lib.SearchSpace = 'classic',
               depths: Sequence[int] = (16, 16, 16),
               normal_cells: int | Sequence[int] = 1,
               reduction_cells: Optional[int | Sequence[int]] = None,
               num_nodes: int = 4, cell_output: str = 'concat_conv',
               temperature: float = 5.0, alpha_init_stddev: float = 0.0,
               freeze_alpha: bool = False, edges_per_node: int = 2,
               name: str = 'supernet'):
    space = ops_lib.get_space(space)
    if num_nodes < 1 or edges_per_node < 1 or temperature <= 0:
      raise ValueError(
          f'Supernet needs num_nodes >= 1, edges_per_node >= 1 and '
          f'temperature > 0; got num_nodes={num_nodes}, edges_per_node='
          f'{edges_per_node}, temperature={temperature}')
    searched_reduction = space.reduction_ops is not None
    if reduction_cells is None:
      reduction_cells = 1 if searched_reduction else 0

    def make_cell(cell_type: str, width: int) -> cells.Cell:
      return cells.supernet_cell(
          width, space.ops(cell_type), num_inputs=1, num_nodes=num_nodes,
          reduction=cell_type == 'reduce', output=cell_output)

    super().__init__(make_cell, depths, normal_cells, reduction_cells,
                     searched_reduction, name)
    self.space, self.num_nodes = space, num_nodes
    self.temperature = float(temperature)
    self.edges_per_node = edges_per_node
    self.shape = {'space': space.name, **self.cell_counts,
                  'edges_per_node': edges_per_node, 'cell_output': cell_output}
    used = {kind for block in self.blocks for kind, _ in block}
    num_edges = len(genotypes.cell_edges(1, num_nodes))
    self.alpha = {}
    for cell_type in self.space.cell_types:
      if cell_type in used:
        shape = [num_edges, len(self.space.ops(cell_type))]
        self.alpha[cell_type] = tf.Variable(  # Seeded by the run's TF seed.
            alpha_init_stddev * tf.random.normal(shape),
            trainable=not freeze_alpha, name=f'alpha_{cell_type}')

  def mixing_probs(self) -> dict[str, tf.Tensor]:
    return {t: tf.nn.softmax(self.temperature * a, axis=-1)
            for t, a in self.alpha.items()}

  @property
  def alpha_variables(self) -> list[tf.Variable]:
    return list(self.alpha.values())

  @property
  def weight_variables(self) -> list[tf.Variable]:
    """Trainable variables other than alpha."""
    alpha_refs = {a.ref() for a in self.alpha_variables}
    return [v for v in self.trainable_variables if v.ref() not in alpha_refs]

  def probabilities(self) -> dict[str, np.ndarray]:
    return {t: p.numpy() for t, p in self.mixing_probs().items()}

  def genotype(self) -> genotypes.Genotype:
    """The discretized cells, keeping `edges_per_node` inputs (Algorithm 4),
    with this network's shape for the discrete network built from them."""
    return dataclasses.replace(
        genotypes.discretize(self.probabilities(), self.space, 1,
                             self.edges_per_node), shape=self.shape)

  @contextlib.contextmanager
  def discretized(self) -> Iterator[genotypes.Genotype]:
    """Within: alpha one-hot on this supernet's genotype (Zero on the edges it
    drops), so the supernet computes its discrete cell with its own weights
    (the zero-shot discretization; equal to `DiscreteNetwork` with
    `copy_weights`). Alpha is restored on exit."""
    genotype = self.genotype()
    saved = {t: a.numpy() for t, a in self.alpha.items()}
    try:
      for cell_type, alpha in self.alpha.items():
        alpha.assign(genotypes.one_hot_alpha(
            genotype.nodes(cell_type), self.space.ops(cell_type), 1,
            self.space.zero_op))
      yield genotype
    finally:
      for cell_type, alpha in self.alpha.items():
        alpha.assign(saved[cell_type])

  def random_genotype(self, rng: np.random.Generator) -> genotypes.Genotype:
    """A cell drawn uniformly from those it can yield, with its shape."""
    return dataclasses.replace(
        genotypes.sample(self.space, 1, self.num_nodes, self.edges_per_node,
                         rng, list(self.alpha)), shape=self.shape)

  def space_size(self) -> dict[str, int]:
    """Discrete cells this supernet can yield (paper App. G.1)."""
    return genotypes.space_size(self.space, 1, self.num_nodes,
                                self.edges_per_node, list(self.alpha))

  def components(self) -> list[tuple[str, list[tf.Variable]]]:
    return super().components() + [('alpha', self.alpha_variables)]


@gin.configurable
class DiscreteNetwork(CellNetwork):
  """A genotype's cells stacked like the supernet, trained from scratch."""

  def __init__(self, genotype: str | genotypes.Genotype = gin.REQUIRED,
               depths: Sequence[int] = (64, 64, 64),
               normal_cells: Optional[int | Sequence[int]] = None,
               reduction_cells: Optional[int | Sequence[int]] = None,
               cell_output: Optional[str] = None,
               name: str = 'discrete_network'):
    """N, R and the cell output come from the genotype's shape (its search)
    where it has one; a binding that differs from it is an error. Without
    either: N = 1, R = 1 if the genotype has a reduction cell, concat_conv."""
    if isinstance(genotype, str):
      genotype = genotypes.Genotype.load(genotype)
    searched = genotype.shape or {}
    bound = {'normal_cells': normal_cells, 'reduction_cells': reduction_cells,
             'cell_output': cell_output}
    for key, value in bound.items():
      if value is not None and key in searched and _compact(
          list(np.atleast_1d(value))) != searched[key]:
        raise genotypes.GenotypeError(
            f'DiscreteNetwork.{key} = {value!r} conflicts with the '
            f'genotype\'s {key} = {searched[key]!r} (from its search): drop '
            f'the binding to build the searched shape')
    normal_cells, reduction_cells, cell_output = (
        searched.get(key) if value is None else value
        for key, value in bound.items())
    normal_cells = 1 if normal_cells is None else normal_cells
    cell_output = cell_output or 'concat_conv'
    if genotype.num_inputs != 1:
      raise genotypes.GenotypeError(
          'this network stacks single-input RL-DARTS cells; the genotype has '
          f'{genotype.num_inputs}-input cells')
    unknown = sorted(genotype.ops_used() - set(ops_lib.known_ops()))
    if unknown:
      raise genotypes.GenotypeError(
          f'genotype uses unknown ops {unknown}; known ops: '
          f'{", ".join(ops_lib.known_ops())}')
    searched_reduction = genotype.reduce is not None
    if reduction_cells is None:
      reduction_cells = 1 if searched_reduction else 0

    def make_cell(cell_type: str, width: int) -> cells.Cell:
      return cells.discrete_cell(
          width, genotype.nodes(cell_type), num_inputs=1,
          reduction=cell_type == 'reduce', output=cell_output,
          concat=getattr(genotype, f'{cell_type}_concat'))

    super().__init__(make_cell, depths, normal_cells, reduction_cells,
                     searched_reduction, name)
    self.genotype = genotype


def copy_weights(source: Encoder, target: Encoder) -> int:
  """Copies every weight of `target` from the same place in `source`.

  Places are structural names (block, cell, op key), so a supernet's weights
  fill the discrete network of one of its genotypes at the same depths. Both
  must be built. Returns the number of variables copied.
  """
  sources = dict(source.named_layers())
  copied = 0
  for name, layer in target.named_layers():
    match = sources.get(name)
    shapes = [w.shape for w in layer.weights]
    if match is None or [w.shape for w in match.weights] != shapes:
      raise ValueError(f'{source.name} has no weights at {name} shaped '
                       f'{[s.as_list() for s in shapes]}')
    for w, value in zip(layer.weights, match.weights):
      w.assign(value)
      copied += 1
  return copied
