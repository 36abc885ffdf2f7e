"""Test setup: one TensorFlow thread pool thread per process and rl_darts
first (it quiets TF), both before TF loads; the fast tier's marker; the
longest test first."""

import inspect
import os
import re

# Two xdist workers, each often waiting on a launcher subprocess, share 2
# cores: TF's default pools (one thread per core in every process) only add
# threads that wait on each other. Launcher subprocesses inherit these.
for _pool in ('TF_NUM_INTEROP_THREADS', 'TF_NUM_INTRAOP_THREADS'):
  os.environ.setdefault(_pool, '1')

import pytest  # pylint: disable=g-import-not-at-top

import rl_darts  # pylint: disable=unused-import,g-import-not-at-top
from tests import helpers  # pylint: disable=g-import-not-at-top

# The longest test first: on 2 xdist workers it then overlaps the rest of the
# suite instead of running alone at the end.
LONGEST = ('tests/test_study.py',)
# A test that starts a launcher (or any) subprocess, or trains an agent's
# whole loop in process, is outside the fast tier (`make test-fast` runs
# `-m "not slow"`): what its source calls decides, so a new test is sorted
# without a hand-kept list.
SLOW_MODULES = ('tests/test_configs.py', 'tests/test_study.py')  # Loops.
SLOW_CALLS = re.compile(
    r'\b(launch|fails|_launch|subprocess\.\w+|Popen|train\.train|'
    r'run_all|random_search|cell_evolution|[a-z_]*\.search)\(')


def _calls_slow(function) -> bool:
  try:
    source = inspect.getsource(function)
  except (OSError, TypeError):
    return False
  return bool(SLOW_CALLS.search(source))


def pytest_configure(config):
  config.addinivalue_line(
      'markers', 'slow: starts subprocesses or trains a whole loop (left out '
      'of make test-fast)')


def pytest_collection_modifyitems(items):
  for item in items:
    function = getattr(item, 'function', None)
    fixtures = [item.session._fixturemanager.getfixturedefs(name, item)  # pylint: disable=protected-access
                for name in getattr(item, 'fixturenames', ())]
    helpers = [d.func for defs in fixtures if defs for d in defs]
    if item.nodeid.startswith(SLOW_MODULES) or any(
        _calls_slow(f) for f in (function, *helpers) if f is not None):
      item.add_marker(pytest.mark.slow)
  items.sort(key=lambda item: not item.nodeid.startswith(LONGEST))


@pytest.fixture(name='ray_cluster', scope='session')
def _ray_cluster():
  """A local Ray cluster of two raylets: the head with 3 CPUs and one GPU
  (the scheduler's only: there is none here), the other with 2 CPUs."""
  ray = pytest.importorskip('ray')
  from ray import cluster_utils  # pylint: disable=g-import-not-at-top
  cluster = cluster_utils.Cluster(initialize_head=True,
                                  head_node_args={'num_cpus': 3,
                                                  'num_gpus': 1})
  cluster.add_node(num_cpus=2)
  # Workers unpickle the tests' stand-in runs: they import them as pytest
  # did (from tests/).
  path = os.pathsep.join([os.path.join(helpers.REPO, 'tests'), helpers.REPO])
  ray.init(address=cluster.address, include_dashboard=False,
           logging_level='ERROR', log_to_driver=False,
           runtime_env={'env_vars': {'PYTHONPATH': path}})
  yield cluster
  ray.shutdown()
  cluster.shutdown()
