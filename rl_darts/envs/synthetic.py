"""A small synthetic image task with a learnable rule, for demos and tests.

Each 64x64x3 uint8 image is noise with one bright square; its label is the
quadrant the square lies in (0 top-left, 1 top-right, 2 bottom-left,
3 bottom-right). A conv net learns it in a few dozen steps; chance is 25%.
"""

import numpy as np

NUM_CLASSES = 4
SIZE = 64
_SQUARE = 12


def quadrant_images(batch_size: int, rng: np.random.Generator,
                    size: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
  """(images [B, size, size, 3] uint8, labels [B] int32)."""
  labels = rng.integers(0, NUM_CLASSES, batch_size).astype(np.int32)
  images = rng.integers(0, 96, (batch_size, size, size, 3), dtype=np.uint8)
  half = size // 2
  square = min(_SQUARE, half)
  for image, label in zip(images, labels):
    top = (label // 2) * half + rng.integers(0, half - square + 1)
    left = (label % 2) * half + rng.integers(0, half - square + 1)
    image[top:top + square, left:left + square] = rng.integers(200, 256, 3)
  return images, labels
