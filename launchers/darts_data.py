"""What the DARTS launchers (nas_rl, pretrain_supernet, darts_eval) share:
--root_dir, and --data_dir (CIFAR-10 from disk instead of the embedded
digits)."""

from absl import flags
import gin

from launchers import common

flags.DEFINE_string('root_dir', None, 'Where the run writes; reruns resume.')

flags.DEFINE_string(
    'data_dir', None,
    'CIFAR-10 python-version directory (cifar-10-batches-py/); sets '
    'load_dataset.dataset = "cifar10". Default: the config\'s data set (the '
    'embedded scikit-learn digits unless it binds CIFAR-10).')
FLAGS = flags.FLAGS


def setup() -> None:
  """Parses the gin flags and applies --data_dir (`common.seed_run`
  requires --root_dir)."""
  common.parse_gin()
  if FLAGS.data_dir:
    gin.bind_parameter('load_dataset.dataset', 'cifar10')
    gin.bind_parameter('load_dataset.data_dir', FLAGS.data_dir)
