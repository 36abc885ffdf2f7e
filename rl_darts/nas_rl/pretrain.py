"""Pretraining the DARTS search supernet for the "ckpt" search variants.

Weights only: alpha is drawn once as 1e-3 * N(0, 1) and kept (near-uniform
mixing); trained on the weight split, the best epoch by top-1 accuracy on the
reward split is kept under best/ (the search env loads it with
`SearchSettings.checkpoint = DIR`). Settings: `OptimizerSettings` (50 epochs,
batch 64, SGD momentum 0.9, weight decay 3e-4, cosine lr 0.025 -> 0.001, clip
5: the dartsrl code's). The run's provenance.json records the data set, image
shape and supernet shape; a search loading the weights must match it.
"""

from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf

from rl_darts.envs import image_data
from rl_darts.nas_rl import supervised
from rl_darts.runtime import io_utils
from rl_darts.space import darts_networks

PROVENANCE = 'provenance.json'


def provenance(supernet: darts_networks.DartsSupernet,
               data: image_data.ImageData) -> dict[str, object]:
  """What pretrained weights depend on: data set, image shape, supernet."""
  return {'dataset': data.name,
          'image_shape': list(data.train_images.shape[1:]),
          **supernet.shape()}


def _mismatch(saved: dict, wanted: dict) -> list[str]:
  return [f'{key} {saved.get(key)!r} (checkpoint) vs {wanted[key]!r} (this run)'
          for key in wanted if saved.get(key) != wanted[key]]


def _record_provenance(root_dir: str, wanted: dict) -> None:
  """Writes root_dir/provenance.json, or checks a rerun against it."""
  path = os.path.join(root_dir, PROVENANCE)
  if os.path.exists(path):
    with open(path) as f:
      differences = _mismatch(json.load(f), wanted)
    if differences:
      raise ValueError(f'{root_dir!r} pretrained another supernet: '
                       f'{"; ".join(differences)}; use a new --root_dir')
    return
  os.makedirs(root_dir, exist_ok=True)
  io_utils.atomic_write_text(path, json.dumps(wanted, indent=1) + '\n')


def pretrain(root_dir: str, seed: int = 0) -> list[dict]:
  """Pretrains the gin-configured DartsSupernet; reruns resume."""
  settings = supervised.OptimizerSettings()
  data = image_data.load_dataset()
  weights, rewards = image_data.weight_reward_split(data, root_dir)
  supernet = darts_networks.DartsSupernet()
  _record_provenance(root_dir, provenance(supernet, data))
  rng = np.random.default_rng(seed)
  probs = {t: tf.nn.softmax(1e-3 * rng.standard_normal(shape).astype(
      np.float32)) for t, shape in supernet.alpha_shapes().items()}
  supernet(tf.zeros((1,) + data.train_images.shape[1:]), probs)
  batches = image_data.Batches(data, data.train_images[weights],
                               data.train_labels[weights],
                               settings.batch_size, seed)

  def loss_fn(model, images, labels, unused_extra):
    return supervised.cross_entropy(labels, model(images, probs,
                                                  training=True))

  def evaluate() -> dict[str, float]:
    return {'valid_acc': supervised.accuracy(
        supernet, data, data.train_images[rewards], data.train_labels[rewards],
        256, probs=probs)}

  return supervised.train_classifier(root_dir, supernet, batches, evaluate,
                                     settings, loss_fn, keep_best='valid_acc')


def restore(supernet: darts_networks.DartsSupernet,
            data: image_data.ImageData, run_dir: str) -> None:
  """Loads the best weights a `pretrain_supernet` run kept under run_dir,
  after checking they were trained on this data for this supernet."""
  command = (f'python -m launchers.pretrain_supernet --gin_configs='
             f'gin_configs/nas_rl/pretrain.gin --root_dir={run_dir} with the '
             f"search's data and supernet bindings")
  path = tf.train.latest_checkpoint(os.path.join(run_dir, 'best'))
  if path is None:
    raise ValueError(f'no pretrained supernet under {run_dir!r} (expected '
                     f'{run_dir}/best/, written by {command})')
  try:
    with open(os.path.join(run_dir, PROVENANCE)) as f:
      saved = json.load(f)
  except (OSError, json.JSONDecodeError) as e:
    raise ValueError(f'pretrained supernet {run_dir!r} has no readable '
                     f'{PROVENANCE} ({e}); pretrain it again by {command}'
                     ) from None
  differences = _mismatch(saved, provenance(supernet, data))
  if differences:
    raise ValueError(f'pretrained supernet {run_dir!r} does not match this '
                     f'search: {"; ".join(differences)}; pretrain one by '
                     f'{command}')
  tf.train.Checkpoint(model=supernet).restore(path).expect_partial()
