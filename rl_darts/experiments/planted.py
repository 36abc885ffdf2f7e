"""Planted-architecture recovery: does the joint search find a cell it is
given the answer to?

A teacher cell with a planted genotype and fixed random weights maps random
inputs to targets; a supernet cell of the same space learns to reproduce them,
weights and alpha jointly on one loss (RL-DARTS Eq. 2, here a regression),
and is discretized as every search is (`genotypes.discretize_cell`). Recovery
is the share of the planted (op, input) pairs the discretized cell contains.

Well posed by construction: the default space ('planted') has only
parameter-free ops of distinct functions (ReLU, Tanh, Skip; Zero), so no op
can imitate another and the cell's only weights are the output's 1x1 conv,
with inputs of standard deviation `input_std` so that Tanh is not linear. In
a space with a learnable conv (Micro's Conv3x3), the conv absorbs the linear
part of any op and wins edges it was not planted on (docs/results/planted).
Baselines: chance (a uniform random cell of the space, exact) and the
frozen-uniform-alpha control, whose discretization is the tie-break cell.

`PlantedBandit` carries the plant into RL (RL-DARTS's joint search, Eq. 2):
one-step episodes whose rewarded action is the one a teacher network (the
plant's cells at small depth, random weights) scores highest; a PPO search
with a supernet of the same space is scored by the same `recovery`.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import gin
import numpy as np
import tensorflow as tf
from tf_agents.specs import array_spec

from rl_darts.envs import environments
from rl_darts.experiments import power
from rl_darts.experiments import results
from rl_darts.runtime import recording
from rl_darts.runtime import runs
from rl_darts.space import cells
from rl_darts.space import genotypes
from rl_darts.space import networks
from rl_darts.space import ops as ops_lib

PLANT_FILE = 'plant.json'
# Nodes of the default plant: every op of the space, on edges from the input
# and from earlier nodes, and no pair equal to another op on another input
# (Tanh on the input would be Skip on node 1, which is Tanh of the input).
DEFAULT_PLANT = ((('Tanh', 0),), (('Skip', 0), ('ReLU', 1)),
                 (('ReLU', 1), ('Tanh', 2)), (('ReLU', 0), ('Tanh', 3)))


@gin.configurable
@dataclasses.dataclass
class PlantedTask:
  """A planted cell and how its recovery is searched."""

  space: str = 'planted'
  plant: Sequence[genotypes.Node] = DEFAULT_PLANT  # Nodes of one input.
  width: int = 8  # Channels of the input and of every node.
  image_size: int = 16
  input_std: float = 2.0  # Inputs are N(0, input_std^2) per element.
  temperature: float = 10.0  # p = softmax(T alpha), T as RL-DARTS Rainbow.
  edges_per_node: int = 2  # K of the discretization (Algorithm 4).
  steps: int = 1500
  batch_size: int = 32
  learning_rate: float = 3e-3  # Adam, weights and alpha alike.
  record_every: int = 50
  freeze_alpha: bool = False  # The control: alpha stays 0 (uniform p).

  def __post_init__(self):
    space = ops_lib.get_space(self.space)
    self.nodes = genotypes.Genotype(normal=tuple(self.plant)).normal
    self.op_names = space.ops('normal')
    allowed = [op for op in self.op_names if op != space.zero_op]
    for index, node in enumerate(self.nodes):
      for op, _ in node:
        if op not in allowed:
          raise genotypes.GenotypeError(
              f'planted op {op!r} is not a non-Zero op of search space '
              f'{space.name!r}; allowed: {", ".join(allowed)}')
      if len(node) > min(self.edges_per_node, 1 + index):
        raise genotypes.GenotypeError(
            f'planted node {list(node)} has more inputs than the '
            f'discretization keeps (edges_per_node={self.edges_per_node})')
    self.zero_op = space.zero_op
    runs.check_at_least(self, width=1, image_size=1, steps=1, batch_size=1,
                        record_every=1, edges_per_node=1)

  @property
  def num_nodes(self) -> int:
    return len(self.nodes)


def recovery(nodes: Sequence[genotypes.Node],
             plant: Sequence[genotypes.Node]) -> float:
  """The share of the planted (op, input) pairs that `nodes` contain."""
  found = [pair in set(node) for node, planted in zip(nodes, plant)
           for pair in planted]
  return float(np.mean(found))


def chance(task: PlantedTask) -> float:
  """The expected recovery of a uniform random cell (`genotypes.sample_cell`):
  a planted pair is kept with probability min(K, inputs) / inputs times one
  over the non-Zero ops."""
  num_ops = len([op for op in task.op_names if op != task.zero_op])
  odds = [min(task.edges_per_node, 1 + node) / (1 + node) / num_ops
          for node, planted in enumerate(task.nodes) for _ in planted]
  return float(np.mean(odds))


def planted_edges(plant: Sequence[genotypes.Node]
                  ) -> list[tuple[str, int, int, str]]:
  """(label 'source->node:op', source, node index, op) of each planted pair;
  labels number nodes as states, as alpha.csv does."""
  return [(f'{source}->{node + 1}:{op}', source, node, op)
          for node, pairs in enumerate(plant) for op, source in pairs]


def planted_probabilities(probs: np.ndarray, task: PlantedTask
                          ) -> dict[str, float]:
  """p of the planted op on each planted edge, by `planted_edges` label."""
  rows = {edge: r for r, edge in
          enumerate(genotypes.cell_edges(1, task.num_nodes))}
  return {label: float(probs[rows[(source, node)], task.op_names.index(op)])
          for label, source, node, op in planted_edges(task.nodes)}



class _Pair(tf.Module):
  """The teacher and the student cells with the student's alpha."""

  def __init__(self, task: PlantedTask):
    super().__init__()
    self.teacher = cells.discrete_cell(task.width, task.nodes, num_inputs=1,
                                       reduction=False)
    self.student = cells.supernet_cell(task.width, task.op_names,
                                       num_inputs=1, num_nodes=task.num_nodes,
                                       reduction=False)
    self.alpha = tf.Variable(
        tf.zeros([len(genotypes.cell_edges(1, task.num_nodes)),
                  len(task.op_names)]),
        trainable=not task.freeze_alpha, name='alpha')
    self.temperature = task.temperature

  def probs(self) -> tf.Tensor:
    return tf.nn.softmax(self.temperature * self.alpha, axis=-1)

  def loss(self, x: tf.Tensor) -> tf.Tensor:
    """Mean squared error over the target's variance (1: predicting 0)."""
    target = self.teacher([x])
    output = self.student([x], probs=self.probs(), training=True)
    return (tf.reduce_mean(tf.square(output - target)) /
            tf.math.reduce_variance(target))


def search(root_dir: str, task: PlantedTask, seed: int) -> dict:
  """Runs (or resumes) one recovery search; returns its final row.

  Writes metrics.csv (loss, recovery, p of each planted op), TensorBoard,
  planted_probability.png, genotype.json and checkpoints. The teacher's
  weights come from `seed` (`seed + 1` the student's and the data's)."""
  tf.random.set_seed(seed)
  pair = _Pair(task)
  inputs = lambda rng, n: tf.constant(task.input_std * rng.standard_normal(
      (n, task.image_size, task.image_size, task.width)), tf.float32)
  pair.teacher([inputs(np.random.default_rng(seed), 1)])
  tf.random.set_seed(seed + 1)
  pair.student([inputs(np.random.default_rng(seed), 1)], probs=pair.probs())
  optimizer = runs.keras_optimizer('Adam', task.learning_rate)
  variables = pair.student.trainable_variables + [
      v for v in [pair.alpha] if v.trainable]
  optimizer.build(variables)
  columns = ['step', 'loss', 'recovery'] + list(
      planted_probabilities(pair.probs().numpy(), task))
  log = runs.RunLog(root_dir, None, columns, task.steps, None, unit='step',
                    counter='train_steps', shown=('loss', 'recovery'),
                    pair=pair, optimizer=optimizer)

  @tf.function(autograph=False)
  def step(x):
    with tf.GradientTape() as tape:
      loss = pair.loss(x)
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    return loss

  row = {}
  for i in range(log.start + 1, task.steps + 1):
    # One generator per step: a resumed run sees the batches it would have.
    loss = float(step(inputs(np.random.default_rng([seed, i]),
                             task.batch_size)))
    if i % task.record_every and i != task.steps:
      continue
    log.counter.assign(i)
    row = _record(pair, task, loss)
    log.write(row, checkpoint=True)
    row = {'step': i, **row}
  log.close()
  _finish(root_dir, pair, task, columns)
  return row or _last_row(root_dir, 'metrics.csv')


def _discretized(pair: _Pair, task: PlantedTask) -> tuple[genotypes.Node, ...]:
  """The student's cell, discretized as every search is."""
  return genotypes.discretize_cell(pair.probs().numpy(), task.op_names, 1,
                                   task.edges_per_node, task.zero_op)


def _record(pair: _Pair, task: PlantedTask, loss: float) -> dict:
  return {'loss': loss,
          'recovery': recovery(_discretized(pair, task), task.nodes),
          **planted_probabilities(pair.probs().numpy(), task)}


def _finish(root_dir: str, pair: _Pair, task: PlantedTask,
            columns: list[str]) -> None:
  genotypes.Genotype(normal=_discretized(pair, task)).save(
      os.path.join(root_dir, 'genotype.json'))
  recording.plot_columns(
      os.path.join(root_dir, 'metrics.csv'), columns[2:],
      os.path.join(root_dir, 'planted_probability.png'),
      'recovery and p of the planted op per planted edge')


def _last_row(run_dir: str, name: str) -> dict:
  """The last row of run_dir/`name`, its logged values as floats."""
  return {k: float(v) for k, v in results.rows(run_dir, name)[-1].items()
          if v != ''}


def summarize(rows: dict[str, list[dict]], chance_: float) -> dict:
  """Per arm: each final value per seed, and the recovery's mean, its 95% t
  interval and sample std over seeds; chance."""
  summary = {'chance': chance_, 'arms': list(rows)}
  for arm, finals in rows.items():
    values = [r['recovery'] for r in finals]
    summary[arm] = {key: [float(r[key]) for r in finals] for key in finals[0]
                    if key != 'step'}
    mean, low, high = power.interval(values)
    summary[arm].update(mean=mean, interval_95=[low, high],
                        std=power.sample_std(values))
  return summary


@gin.configurable
class PlantedBandit(environments.ImageBandit):
  """One-step episodes on images of noise: reward 1 for the action that a
  teacher network scores highest (chance: 1 / num_actions).

  The teacher is a `DiscreteNetwork` of the plant (`plant`, `depths`) with
  random weights from `teacher_seed`, then a fixed random projection of its
  features to `num_actions` scores, centred so that each action is the best
  for about as many images. Images are uint8 noise of `image_size` pixels.
  `best_constant_return` is what always playing the most rewarded action
  earns (on 4,096 images)."""

  def __init__(self, num_envs: int, seed: int = 0,
               plant: Sequence[genotypes.Node] = DEFAULT_PLANT,
               space: str = 'planted', depths: Sequence[int] = (8, 8),
               image_size: int = 16, num_actions: int = 4,
               teacher_seed: int = 0):
    super().__init__(num_envs, array_spec.BoundedArraySpec(
        (image_size, image_size, 3), np.uint8, 0, 255), num_actions)
    task = PlantedTask(space=space, plant=plant)  # Checks the plant.
    self.nodes, self.image_size = task.nodes, image_size
    self.teacher = networks.DiscreteNetwork(
        genotypes.Genotype(normal=task.nodes), depths=depths)
    rng = np.random.default_rng(teacher_seed)
    self.teacher(self._images(rng, 1))
    _glorot_normal(self.teacher, rng)
    features = self._features(self._images(rng, 4096))
    self.projection = rng.standard_normal(
        (features.shape[1], num_actions)).astype(np.float32)
    scores = features @ self.projection
    self.centre = np.median(scores, axis=0)
    counts = np.bincount(self._best(features), minlength=num_actions)
    self.best_constant_return = float(counts.max() / counts.sum())
    self._rng = np.random.default_rng(seed)
    self._answers = np.zeros(num_envs, np.int32)

  def _images(self, rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, (n, self.image_size, self.image_size, 3),
                        dtype=np.uint8)

  def _features(self, images: np.ndarray) -> np.ndarray:
    return self.teacher(images).numpy()

  def _best(self, features: np.ndarray) -> np.ndarray:
    return np.argmax(features @ self.projection - self.centre, -1).astype(
        np.int32)

  def _draw(self) -> np.ndarray:
    images = self._images(self._rng, self._num_envs)
    self._answers = self._best(self._features(images))
    return images

  def record(self, root_dir: str, step: int) -> None:
    """Writes the plant (`plant.json`) for `score_run`."""
    del step
    path = os.path.join(root_dir, PLANT_FILE)
    if not os.path.exists(path):
      genotypes.Genotype(normal=self.nodes).save(path)


def score_run(run_dir: str) -> dict:
  """A finished search run on `PlantedBandit`: the recovery of its
  genotype.json, the p of each planted op at its last alpha record and its
  last train return."""
  plant = genotypes.Genotype.load(os.path.join(run_dir, PLANT_FILE)).normal
  found = genotypes.Genotype.load(os.path.join(run_dir, 'genotype.json'))
  alpha = _last_row(run_dir, 'alpha.csv')
  return {'recovery': recovery(found.normal, plant),
          'train_return': _last_row(run_dir, 'metrics.csv')['train_return'],
          **{label: alpha[f'normal:{label}']
             for label, _, _, _ in planted_edges(plant)}}


def _glorot_normal(model: tf.keras.Model, rng: np.random.Generator) -> None:
  """Glorot-normal kernels and zero biases from `rng` (not TF's global seed,
  which the run's own networks draw from)."""
  for weight in model.weights:
    shape = weight.shape.as_list()
    if len(shape) < 2:
      weight.assign(np.zeros(shape, np.float32))
      continue
    receptive = int(np.prod(shape[:-2]))
    fans = receptive * (shape[-2] + shape[-1])
    weight.assign((np.sqrt(2.0 / fans) * rng.standard_normal(shape)).astype(
        np.float32))
