"""What every launcher shares: gin flags, logging flags, clear errors."""

from __future__ import annotations

import contextlib
import glob
import os
from typing import Iterator

from absl import app
from absl import flags
import gin

from rl_darts.envs import control_env
from rl_darts.runtime import logs
from rl_darts.runtime import runs
from rl_darts.space import genotypes

flags.DEFINE_multi_string('gin_configs', [], 'Gin config files (gin_configs/).')
flags.DEFINE_multi_string('gin_bindings', [],
                          "Gin bindings, e.g. \"Supernet.depths = [16, 16, 16]\".")
flags.DEFINE_bool('verbose', False, 'Show INFO logs of TF and absl.')
flags.DEFINE_integer('seed', 0, 'Seeds Python, numpy, TF and the environments '
                     '(Environment.seed); recorded in ROOT_DIR/seed.json, and '
                     'a rerun that resumes must pass the same.',
                     lower_bound=0, upper_bound=2**32 - 1)
flags.DEFINE_bool('deterministic', False, "TF's op determinism on top of "
                  '--seed (slower; runs still differ by float rounding here; '
                  'on a GPU, ops without a deterministic kernel fail, and no '
                  'distributed run repeats: docs/decisions.md).')
flags.DEFINE_string('ray_address', None, "A Ray cluster's address, for "
                    "--executor=ray or --role=ray ('auto': this host's; none: "
                    'start a local one).')
FLAGS = flags.FLAGS
GIN_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'gin_configs')


def parse_gin() -> None:
  """Logs the devices TF uses (a broken GPU setup otherwise trains on the CPU
  silently), then parses --gin_configs and each --gin_binding, naming
  whichever is bad."""
  logs.set_verbose(FLAGS.verbose)
  print(f'TF devices: {", ".join(runs.configure_devices())}', flush=True)
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


def int_list(name: str, values: list[str]) -> list[int]:
  """A list flag's values as integers; else a usage error naming them."""
  try:
    return [int(v) for v in values]
  except ValueError:
    raise app.UsageError(f'--{name} must be integers; got {values}') from None


def binding(parameter: str) -> object:
  """The gin value bound to `parameter` ('Configurable.name'), None if none."""
  try:
    return gin.query_parameter(parameter)
  except ValueError:
    return None


def seed_run(root_dir: str | None) -> int:
  """Applies --seed (and --deterministic) to everything random in the run,
  binds Environment.seed to it and records it under `root_dir` (which is
  required); returns it."""
  if not root_dir:
    raise app.UsageError('--root_dir is required: where the run writes')
  seed = FLAGS.seed
  bound = binding('Environment.seed')
  if bound is not None and bound != seed:
    raise app.UsageError(f'Environment.seed = {bound} (gin) conflicts with '
                         f'--seed={seed}: set the seed with --seed only')
  gin.bind_parameter('Environment.seed', seed)
  runs.seed_everything(seed, FLAGS.deterministic)
  with user_errors():
    runs.record_seed(root_dir, seed)
  return seed


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
  """Turns errors about bad input into a usage error (traceback with --verbose)."""
  try:
    yield
  except (ValueError, genotypes.GenotypeError, FileNotFoundError,
          control_env.RendererError) as e:
    if FLAGS.verbose:
      raise
    raise app.UsageError(str(e)) from None

