"""Quiet logs by default (TF, absl, gym banners), verbose on request."""

import logging
import os
import warnings

_NOISY_WARNINGS = (
    'distutils Version classes are deprecated',
    'pkg_resources is deprecated',
    'The `lr` argument is deprecated',
)


def quiet_by_default() -> None:
  """Silences TensorFlow's C++ INFO/WARNING lines; must run before TF loads."""
  os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
  for message in _NOISY_WARNINGS:
    warnings.filterwarnings('ignore', message=f'.*{message}.*')


def set_verbose(verbose: bool) -> None:
  """Shows (verbose) or hides (default) Python INFO logs of TF and absl.

  TF's C++ lines are read once at import: set TF_CPP_MIN_LOG_LEVEL=0 for them.
  """
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  level = logging.INFO if verbose else logging.ERROR
  tf.get_logger().setLevel(level)
  absl_logging.set_verbosity(absl_logging.INFO if verbose else absl_logging.ERROR)
