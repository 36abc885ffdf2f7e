"""What every launcher shares: gin flags, logging flags, clear errors."""

from __future__ import annotations

import contextlib
import glob
import os
from typing import Iterator

from absl import app
from absl import flags
import gin

from rl_darts import genotypes
from rl_darts import logs

flags.DEFINE_multi_string('gin_configs', [], 'Gin config files (gin_configs/).')
flags.DEFINE_multi_string('gin_bindings', [],
                          "Gin bindings, e.g. \"Supernet.depths = [16, 16, 16]\".")
flags.DEFINE_bool('verbose', False, 'Show INFO logs of TF and absl.')
FLAGS = flags.FLAGS
GIN_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'gin_configs')


def parse_gin() -> None:
  """Parses --gin_configs, then each --gin_binding, naming whichever is bad."""
  logs.set_verbose(FLAGS.verbose)
  for path in FLAGS.gin_configs:
    if not os.path.isfile(path):
      known = sorted(os.path.relpath(p) for p in glob.glob(
          os.path.join(GIN_DIR, '**', '*.gin'), recursive=True))
      raise app.UsageError(f'gin config {path!r} does not exist; configs '
                           f'here: {", ".join(known)}')
    try:
      gin.parse_config_file(path)
    except (ValueError, SyntaxError, ImportError, KeyError) as e:
      raise app.UsageError(f'bad gin config {path!r}: {e}') from None
  for binding in FLAGS.gin_bindings:
    try:
      gin.parse_config(binding)
    except (ValueError, SyntaxError, ImportError, KeyError) as e:
      raise app.UsageError(f'bad gin binding {binding!r}: {e}') from None


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
  """Turns errors about bad input into a usage error (traceback with --verbose)."""
  try:
    yield
  except (ValueError, genotypes.GenotypeError, FileNotFoundError) as e:
    if FLAGS.verbose:
      raise
    raise app.UsageError(str(e)) from None

