"""Random shifts (DrQ, PI-SAC) and the PI-SAC encoder's layers."""

import numpy as np
import pytest
import tensorflow as tf

from rl_darts.envs import augmentation
from rl_darts.space import networks


def test_random_shift_is_a_crop_of_the_edge_padded_image():
  rng = np.random.default_rng(0)
  images = rng.integers(0, 256, (32, 8, 10, 3), dtype=np.uint8)
  tf.random.set_seed(0)
  shifted = augmentation.random_shift(tf.constant(images), 2).numpy()
  assert shifted.dtype == np.uint8 and shifted.shape == images.shape
  padded = np.pad(images, [(0, 0), (2, 2), (2, 2), (0, 0)], mode='edge')
  offsets = set()
  for image, out in zip(padded, shifted):
    matches = [(y, x) for y in range(5) for x in range(5)
               if np.array_equal(image[y:y + 8, x:x + 10], out)]
    assert matches, 'not a crop of the edge-padded image'
    offsets.add(matches[0])
  assert len(offsets) > 10  # Each image its own offset.
  np.testing.assert_array_equal(
      augmentation.random_shift(tf.constant(images), 0).numpy(), images)
  with pytest.raises(ValueError, match='pad must be >= 0; got -1'):
    augmentation.random_shift(tf.constant(images), -1)


def test_filter_response_norm_matches_its_formula():
  rng = np.random.default_rng(1)
  x = rng.standard_normal((2, 5, 5, 4)).astype(np.float32)
  layer = networks.FilterResponseNorm()
  layer(x)  # Builds its weights.
  layer.gamma.assign(np.full((1, 1, 1, 4), 1.5, np.float32))
  layer.beta.assign(np.full((1, 1, 1, 4), -0.2, np.float32))
  layer.tau.assign(np.full((1, 1, 1, 4), 0.1, np.float32))
  nu2 = np.mean(x ** 2, axis=(1, 2), keepdims=True)
  expected = np.maximum(1.5 * x / np.sqrt(nu2 + 1e-6) - 0.2, 0.1)
  np.testing.assert_allclose(layer(x).numpy(), expected, rtol=1e-5,
                             atol=1e-6)


def test_layer_norm_head():
  head = networks.FeatureHead(units=50, style='layer_norm')
  out = head(tf.random.normal([3, 4, 4, 8])).numpy()
  assert out.shape == (3, 50)
  np.testing.assert_allclose(out.mean(-1), 0, atol=1e-5)
  np.testing.assert_allclose(out.std(-1), 1, atol=1e-2)
  with pytest.raises(ValueError, match="style in \\('relu', 'layer_norm'\\)"):
    networks.FeatureHead(style='tanh')
