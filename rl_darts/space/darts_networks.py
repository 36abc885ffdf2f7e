"""DARTS's CIFAR networks (Liu et al. 2019) from the two-input cells:

- `DartsSupernet`: the search network (stem 3x3 conv to 3C + BN, 8 cells with
  reductions at 1/3 and 2/3 depth, every DARTS op on all 14 edges, concat of
  the 4 nodes, global pooling, Dense). Its mixing probabilities come from the
  caller (the RL-for-DARTS environment owns alpha).
- `DartsNetwork`: a genotype's evaluation network (20 cells, C = 36, an
  auxiliary head after the second reduction, drop-path).
Both use the same `cells.Cell` as the RL-DARTS encoders.
"""

from __future__ import annotations

from typing import Callable, Optional

import gin
import numpy as np
import tensorflow as tf

from rl_darts.space import cells
from rl_darts.space import genotypes
from rl_darts.space import ops as ops_lib
from rl_darts.space import tracing


class _Stack(tf.keras.Model):
  """Stem, cells of doubling width at the reductions, pooling, classifier."""

  def __init__(self, make_cell, channels: int, layers: int, num_classes: int,
               stem_multiplier: int, name: str):
    super().__init__(name=name)
    if channels < 2 or channels % 2 or layers < 3:
      raise ValueError(f'need an even channels >= 2 and layers >= 3; got '
                       f'channels={channels}, layers={layers}')
    self.stem_conv = tf.keras.layers.Conv2D(
        stem_multiplier * channels, 3, padding='same', use_bias=False,
        kernel_initializer=ops_lib.torch_initializer())
    self.stem_bn = ops_lib.batch_norm()
    self.reductions = (layers // 3, 2 * layers // 3)
    self.cells: list[cells.Cell] = []
    width, reduction_prev = channels, False
    for i in range(layers):
      reduction = i in self.reductions
      if reduction:
        width *= 2
      self.cells.append(make_cell(width, reduction, reduction_prev))
      reduction_prev = reduction
    self.classifier = tf.keras.layers.Dense(num_classes)

  def cell_type(self, index: int) -> str:
    return 'reduce' if index in self.reductions else 'normal'

  def stem(self, images: tf.Tensor, training) -> tf.Tensor:
    return self.stem_bn(self.stem_conv(images), training=training)

  def classify(self, x: tf.Tensor) -> tf.Tensor:
    return self.classifier(tf.reduce_mean(x, axis=[1, 2]))


@gin.configurable
class DartsSupernet(_Stack):
  """The DARTS search network over `space` (paper: 'darts', C = 16, 8 cells).

  `swap_alphas` reproduces the dartsrl code's bug: normal cells are given the
  reduction probabilities and reduction cells the normal ones.
  """

  def __init__(self, space: str | ops_lib.SearchSpace = 'darts',
               channels: int = 16, layers: int = 8, num_nodes: int = 4,
               num_classes: int = 10, stem_multiplier: int = 3,
               swap_alphas: bool = False):
    space = ops_lib.get_space(space)
    if space.reduction_ops is None:
      raise ValueError(f'search space {space.name!r} has no reduction ops; '
                       f'DARTS searches both cell types')

    def make_cell(width: int, reduction: bool, reduction_prev: bool):
      return cells.supernet_cell(
          width, space.ops('reduce' if reduction else 'normal'), 2, num_nodes,
          reduction=reduction, output='concat', preprocess='relu_conv_bn',
          reduction_prev=reduction_prev)

    super().__init__(make_cell, channels, layers, num_classes,
                     stem_multiplier, 'darts_supernet')
    self.space, self.num_nodes, self.swap_alphas = space, num_nodes, swap_alphas
    self.num_edges = len(genotypes.cell_edges(2, num_nodes))
    self.channels, self.num_cells = channels, layers
    self.num_classes, self.stem_multiplier = num_classes, stem_multiplier

  def shape(self) -> dict[str, object]:
    """What its weights depend on (a pretrained checkpoint's provenance)."""
    return {'space': self.space.name, 'channels': self.channels,
            'layers': self.num_cells, 'num_nodes': self.num_nodes,
            'num_classes': self.num_classes,
            'stem_multiplier': self.stem_multiplier}

  def alpha_shapes(self) -> dict[str, tuple[int, int]]:
    return {t: (self.num_edges, len(self.space.ops(t)))
            for t in ops_lib.CELL_TYPES}

  @tracing.no_autograph
  def call(self, images: tf.Tensor, probs: dict[str, tf.Tensor],
           training: Optional[bool] = None) -> tf.Tensor:
    """Logits; `probs` per cell type ([14, |O|])."""
    return self.run(images, lambda cell, key, states: cell(
        states, probs=probs[key], training=training), training)

  def run(self, images: tf.Tensor,
          cell_fn: Callable[[cells.Cell, str, list[tf.Tensor]], tf.Tensor],
          training: Optional[bool] = False) -> tf.Tensor:
    """Logits with each cell's output cell_fn(cell, the cell type whose
    alpha it reads, [s0, s1])."""
    s0 = s1 = self.stem(images, training)
    for i, cell in enumerate(self.cells):
      s0, s1 = s1, cell_fn(cell, self.alpha_type(i), [s0, s1])
    return self.classify(s1)

  def alpha_type(self, i: int) -> str:
    """The cell type whose alpha cell i reads (`swap_alphas`: the other)."""
    cell_type = self.cell_type(i)
    if not self.swap_alphas:
      return cell_type
    return 'reduce' if cell_type == 'normal' else 'normal'

  def genotype(self, probs: dict[str, np.ndarray], k: int = 2
               ) -> genotypes.Genotype:
    """DARTS's discretization: drop `none`, strongest op per edge, the k
    strongest edges per node; concat of all nodes."""
    return genotypes.discretize(probs, self.space, num_inputs=2, k=k)


class AuxiliaryHead(tf.keras.layers.Layer):
  """DARTS's CIFAR auxiliary classifier on an 8x8 feature map: ReLU, 5x5
  average pool stride 3, 1x1 conv 128 + BN + ReLU, 2x2 conv 768 + BN + ReLU,
  Dense."""

  def __init__(self, num_classes: int, **kwargs):
    super().__init__(**kwargs)
    init = ops_lib.torch_initializer
    self.conv_a = tf.keras.layers.Conv2D(128, 1, use_bias=False,
                                         kernel_initializer=init())
    self.bn_a = ops_lib.batch_norm()
    self.conv_b = tf.keras.layers.Conv2D(768, 2, use_bias=False,
                                         kernel_initializer=init())
    self.bn_b = ops_lib.batch_norm()
    self.classifier = tf.keras.layers.Dense(num_classes)

  def build(self, input_shape) -> None:
    if input_shape[1] is not None and input_shape[1] < 5:
      raise ValueError(
          f'the auxiliary head needs feature maps of at least 5x5 (8x8 from '
          f'32x32 images); it got {input_shape[1]}x{input_shape[2]}: use '
          f'larger images or DartsNetwork.auxiliary = False')
    super().build(input_shape)

  def call(self, x: tf.Tensor, training: Optional[bool] = None) -> tf.Tensor:
    x = tf.nn.avg_pool2d(tf.nn.relu(x), 5, 3, 'VALID')
    x = tf.nn.relu(self.bn_a(self.conv_a(x), training=training))
    x = tf.nn.relu(self.bn_b(self.conv_b(x), training=training))
    return self.classifier(tf.reshape(x, [tf.shape(x)[0], -1]))


@gin.configurable
class DartsNetwork(_Stack):
  """A genotype's CIFAR evaluation network (DARTS: 20 cells, C = 36).

  With `auxiliary`, training calls return (logits, auxiliary logits); the
  auxiliary head reads the output of the cell at 2/3 depth.
  `identity_dropout`: dropout after identity skips in training (the dartsrl
  code's evaluation; DARTS: 0). `pool_bn`: pools followed by non-affine BN,
  as in the search network (the dartsrl code's evaluation cells; DARTS: no).
  """

  def __init__(self, genotype: str | genotypes.Genotype = gin.REQUIRED,
               channels: int = 36, layers: int = 20, num_classes: int = 10,
               auxiliary: bool = True, stem_multiplier: int = 3,
               identity_dropout: float = 0.0, pool_bn: bool = False):
    if isinstance(genotype, str):
      genotype = genotypes.Genotype.load_any(genotype)
    if genotype.num_inputs != 2 or genotype.reduce is None:
      raise genotypes.GenotypeError(
          'the DARTS network needs two-input normal and reduction cells; '
          f'this genotype has {genotype.num_inputs}-input cells'
          f'{"" if genotype.reduce is not None else " and no reduction cell"}')

    def make_cell(width: int, reduction: bool, reduction_prev: bool):
      cell_type = 'reduce' if reduction else 'normal'
      return cells.discrete_cell(
          width, genotype.nodes(cell_type), 2, reduction=reduction,
          output='concat', concat=getattr(genotype, f'{cell_type}_concat'),
          preprocess='relu_conv_bn', reduction_prev=reduction_prev,
          supernet_ops=pool_bn)

    with ops_lib.affine_batch_norm():
      super().__init__(make_cell, channels, layers, num_classes,
                       stem_multiplier, 'darts_network')
      self.auxiliary = (AuxiliaryHead(num_classes, name='auxiliary')
                        if auxiliary else None)
    self.genotype = genotype
    self.identity_dropout = identity_dropout

  @tracing.no_autograph
  def call(self, images: tf.Tensor, training: Optional[bool] = None,
           drop_prob: Optional[tf.Tensor] = None):
    """Logits (and auxiliary logits when training with the head); in
    training, `drop_prob` (a scalar, may change per epoch) drops paths."""
    s0 = s1 = self.stem(images, training)
    aux_logits = None
    for i, cell in enumerate(self.cells):
      s0, s1 = s1, cell([s0, s1], training=training,
                        drop_prob=drop_prob if training else None,
                        identity_dropout=self.identity_dropout)
      if self.auxiliary is not None and training and i == self.reductions[1]:
        aux_logits = self.auxiliary(s1, training=training)
    logits = self.classify(s1)
    return (logits, aux_logits) if aux_logits is not None else logits

  def count_params(self, auxiliary: bool = False) -> int:
    """Trainable weights, without the auxiliary head unless asked (the DARTS
    code's count). The network must be built."""
    skip = set() if auxiliary or self.auxiliary is None else {
        v.ref() for v in self.auxiliary.trainable_variables}
    return int(sum(np.prod(v.shape) for v in self.trainable_variables
                   if v.ref() not in skip))
