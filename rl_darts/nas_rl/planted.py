"""A planted cell for the RL-for-DARTS search, known by construction.

The plant is dense: one op per edge of both cell types (never the space's
Zero op), which is what a discrete-mode episode writes. The search's own
supernet, its weights frozen (discrete mode never trains them), labels every
image with its output distribution at the plant. The rewards are then
maximal exactly at the plant: 'acc' (against the distribution's argmax) is 1
there, and 'loss', the cross-entropy to those distributions, reaches its
minimum, their entropy, only where the supernet's output equals the plant's.
Recovery is the share of the 28 edges whose op the searched cell shares with
the plant; a uniform random policy's expected recovery is 1 / |ops|.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Callable

import numpy as np

from rl_darts.envs import image_data
from rl_darts.runtime import io_utils

PLANT_FILE = 'plant.json'
Plant = dict[str, np.ndarray]  # Per cell type: an op index per edge.


def _draw(space, num_edges: int, rng: np.random.Generator) -> dict:
  return {t: [str(rng.choice([op for op in space.ops(t)
                              if op != space.zero_op]))
              for _ in range(num_edges)] for t in ('normal', 'reduce')}


def _indices(names: dict, space, num_edges: int, source: str) -> Plant:
  """Op names per cell type -> op indices, naming what does not fit."""
  plant = {}
  for cell_type in ('normal', 'reduce'):
    ops = space.ops(cell_type)
    edges = names.get(cell_type) if isinstance(names, dict) else None
    if not isinstance(edges, list) or len(edges) != num_edges:
      raise ValueError(
          f'plant {source}: needs {num_edges} op names for the '
          f'{cell_type!r} cell (one per edge); got {edges!r}')
    for op in edges:
      if op not in ops or op == space.zero_op:
        raise ValueError(
            f'plant {source}: op {op!r} of the {cell_type!r} cell is not '
            f'a non-Zero op of search space {space.name!r}; allowed: '
            f'{", ".join(o for o in ops if o != space.zero_op)}')
    plant[cell_type] = np.array([ops.index(op) for op in edges], np.int64)
  return plant


def plant_for(spec: str, space, num_edges: int, seed: int,
              root_dir: str) -> Plant:
  """The run's plant: 'random' (one non-Zero op per edge, drawn from `seed`)
  or a JSON file {"normal": [op, ...], "reduce": [...]}; written to
  root_dir/plant.json, which a resumed run reads back."""
  path = os.path.join(root_dir, PLANT_FILE)
  if os.path.exists(path):
    spec = path
  if spec == 'random':
    names = _draw(space, num_edges, np.random.default_rng(seed + 4))
  elif os.path.isfile(spec):
    with open(spec) as f:
      names = json.load(f)
  else:
    raise ValueError(f"plant {spec!r}: allowed: 'random' or a JSON file of "
                     'op names per cell type (no such file)')
  plant = _indices(names, space, num_edges, repr(spec))
  io_utils.atomic_write_text(path, json.dumps(
      {t: [space.ops(t)[i] for i in p] for t, p in plant.items()},
      indent=1) + '\n')
  return plant


def one_hot(plant: Plant, shapes: dict[str, tuple[int, int]]
            ) -> dict[str, np.ndarray]:
  """The plant as probabilities: one-hot per edge."""
  return {t: np.eye(shapes[t][1], dtype=np.float32)[p]
          for t, p in plant.items()}


def labelled(data: image_data.ImageData,
             output: Callable[[np.ndarray], np.ndarray],
             batch: int = 256) -> image_data.ImageData:
  """`data` with its train labels replaced by `output(images)`, the plant's
  output distributions (float [N, classes])."""
  labels = np.concatenate([
      output(images) for images, _ in image_data.epoch_batches(
          data, data.train_images, data.train_labels, batch)])
  return dataclasses.replace(data, train_labels=labels)


def recovery(alpha: dict[str, np.ndarray], plant: Plant) -> float:
  """The share of edges whose argmax op in `alpha` is the planted one."""
  return float(np.mean(np.concatenate(
      [np.argmax(alpha[t], -1) == p for t, p in plant.items()])))
