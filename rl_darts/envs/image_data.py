"""Image classification data for DARTS: CIFAR-10 from disk, or the embedded
default (scikit-learn's handwritten digits), a persisted weight/reward split,
and DARTS's augmentation in numpy.

CIFAR-10 is read from the python version's pickles (`cifar-10-batches-py`:
data_batch_1..5, test_batch). The embedded default needs no download: the 1,797
8x8 digit images that scikit-learn ships (UCI optdigits), a small real data set
with 10 classes; as 3-channel uint8 images with a fixed 80/20 train/test split.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
from typing import Iterator, Optional

import gin
import numpy as np

from rl_darts.runtime import io_utils

DATASETS = ('digits', 'cifar10')
CIFAR_FILES = tuple(f'data_batch_{i}' for i in range(1, 6)) + ('test_batch',)


@dataclasses.dataclass
class ImageData:
  """uint8 [N, H, W, 3] images, int labels, normalisation and augmentation."""

  name: str
  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray
  mean: np.ndarray  # Per channel, of pixels scaled to [0, 1].
  std: np.ndarray
  crop_padding: int  # Random crop after zero padding (DARTS: 4 on 32x32).
  flip: bool  # Random horizontal flips (not for digits).
  num_classes: int = 10


def _cifar_error(data_dir: str, problem: str) -> ValueError:
  return ValueError(
      f'CIFAR-10 directory {data_dir!r}: {problem}. Expected the python '
      f'version extracted (cifar-10-python.tar.gz from '
      f'https://www.cs.toronto.edu/~kriz/cifar.html gives '
      f'cifar-10-batches-py/), holding {", ".join(CIFAR_FILES)}')


def load_cifar10(data_dir: str) -> ImageData:
  """CIFAR-10 from the python pickles in `data_dir`."""
  if not os.path.isdir(data_dir):
    raise _cifar_error(data_dir, 'no such directory')
  missing = [f for f in CIFAR_FILES
             if not os.path.isfile(os.path.join(data_dir, f))]
  if missing:
    raise _cifar_error(data_dir, f'missing {", ".join(missing)}')
  parts = []
  for name in CIFAR_FILES:
    path = os.path.join(data_dir, name)
    try:
      with open(path, 'rb') as f:
        batch = pickle.load(f, encoding='bytes')
      images = np.asarray(batch[b'data'], np.uint8).reshape(-1, 3, 32, 32)
      labels = np.asarray(batch[b'labels'], np.int32)
    except (pickle.UnpicklingError, KeyError, ValueError, EOFError,
            TypeError) as e:
      raise _cifar_error(data_dir, f'{name} is not a CIFAR-10 batch '
                         f'({type(e).__name__}: {e})') from None
    if len(images) != len(labels):
      raise _cifar_error(data_dir, f'{name} has {len(images)} images and '
                         f'{len(labels)} labels')
    parts.append((images.transpose(0, 2, 3, 1), labels))
  return ImageData(
      'cifar10', np.concatenate([p[0] for p in parts[:5]]),
      np.concatenate([p[1] for p in parts[:5]]), parts[5][0], parts[5][1],
      mean=np.array([0.4914, 0.4822, 0.4465], np.float32),
      std=np.array([0.2470, 0.2435, 0.2616], np.float32),
      crop_padding=4, flip=True)


def load_digits() -> ImageData:
  """scikit-learn's 8x8 digits as 3-channel uint8 images; 80/20 split."""
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  digits = datasets.load_digits()
  images = np.round(digits.images * (255 / 16)).astype(np.uint8)
  images = np.repeat(images[..., None], 3, axis=-1)
  labels = digits.target.astype(np.int32)
  order = np.random.default_rng(0).permutation(len(images))
  cut = int(0.8 * len(images))
  train, test = order[:cut], order[cut:]
  scaled = images[train].astype(np.float32) / 255
  return ImageData('digits', images[train], labels[train], images[test],
                   labels[test], mean=scaled.mean((0, 1, 2)),
                   std=scaled.std((0, 1, 2)), crop_padding=1, flip=False)


@gin.configurable
def load_dataset(dataset: str = 'digits', data_dir: Optional[str] = None
         ) -> ImageData:
  """The gin-chosen data set (`load_dataset.dataset = 'cifar10'`)."""
  if dataset == 'digits':
    return load_digits()
  if dataset == 'cifar10':
    if not data_dir:
      raise ValueError("dataset 'cifar10' needs a data directory "
                       "(--data_dir or load_dataset.data_dir)")
    return load_cifar10(data_dir)
  raise ValueError(f'unknown dataset {dataset!r}; allowed: '
                   f'{", ".join(DATASETS)}')


def weight_reward_split(data: ImageData, root_dir: str, seed: int = 42
                        ) -> tuple[np.ndarray, np.ndarray]:
  """Training-set indices into two random halves, W (weights) and V
  (rewards), persisted as root_dir/split.json so reruns use the same ones."""
  path = os.path.join(root_dir, 'split.json')
  n = len(data.train_labels)
  if os.path.exists(path):
    with open(path) as f:
      saved = json.load(f)
    if saved.get('dataset') != data.name or saved.get('size') != n:
      raise ValueError(f'{path} splits {saved.get("dataset")!r} of '
                       f'{saved.get("size")} images, not {data.name!r} of '
                       f'{n}: use another --root_dir')
    return np.array(saved['weights']), np.array(saved['rewards'])
  order = np.random.default_rng(seed).permutation(n)
  weights, rewards = np.sort(order[:n // 2]), np.sort(order[n // 2:])
  os.makedirs(root_dir, exist_ok=True)
  io_utils.atomic_write_text(path, json.dumps(
      {'dataset': data.name, 'size': n, 'seed': seed,
       'weights': weights.tolist(), 'rewards': rewards.tolist()}))
  return weights, rewards


def preprocess(data: ImageData, images: np.ndarray,
               rng: Optional[np.random.Generator] = None, cutout: int = 0
               ) -> np.ndarray:
  """Normalised float32 images; with `rng`, DARTS's augmentation: random
  crop of the zero-padded image, horizontal flip, then cutout (eval only)."""
  x = (images.astype(np.float32) / 255 - data.mean) / data.std
  if rng is None:
    return x
  n, h, w, _ = x.shape
  pad = data.crop_padding
  if pad:
    padded = np.pad(x, [(0, 0), (pad, pad), (pad, pad), (0, 0)])
    tops = rng.integers(0, 2 * pad + 1, n)
    lefts = rng.integers(0, 2 * pad + 1, n)
    x = np.stack([p[t:t + h, l:l + w] for p, t, l in zip(padded, tops, lefts)])
  if data.flip:
    flips = rng.random(n) < 0.5
    x[flips] = x[flips, :, ::-1]
  if cutout:
    ys, xs = rng.integers(0, h, n), rng.integers(0, w, n)
    for image, y, c in zip(x, ys, xs):
      image[max(0, y - cutout // 2):y + cutout // 2,
            max(0, c - cutout // 2):c + cutout // 2] = 0
  return x


class Batches:
  """Endless shuffled batches of `indices` (augmented when `augment`)."""

  def __init__(self, data: ImageData, images: np.ndarray, labels: np.ndarray,
               batch_size: int, seed: int, augment: bool = True,
               cutout: int = 0):
    self.data, self.images, self.labels = data, images, labels
    self.batch_size, self.augment, self.cutout = batch_size, augment, cutout
    self.rng = np.random.default_rng(seed)
    self._order = np.zeros(0, np.int64)

  def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    return self

  def __next__(self) -> tuple[np.ndarray, np.ndarray]:
    if len(self._order) < self.batch_size:
      self._order = np.concatenate(
          [self._order, self.rng.permutation(len(self.labels))])
    take, self._order = (self._order[:self.batch_size],
                         self._order[self.batch_size:])
    images = preprocess(self.data, self.images[take],
                        self.rng if self.augment else None, self.cutout)
    return images, self.labels[take]

  @property
  def batches_per_epoch(self) -> int:
    return -(-len(self.labels) // self.batch_size)


def epoch_batches(data: ImageData, images: np.ndarray, labels: np.ndarray,
                  batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
  """One pass in order, unaugmented (evaluation)."""
  for start in range(0, len(labels), batch_size):
    yield (preprocess(data, images[start:start + batch_size]),
           labels[start:start + batch_size])
