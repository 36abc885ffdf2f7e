"""The --data_dir flag of the DARTS launchers (nas_rl, pretrain_supernet,
darts_eval): CIFAR-10 from disk instead of the embedded digits."""

from absl import flags
import gin

flags.DEFINE_string(
    'data_dir', None,
    'CIFAR-10 python-version directory (cifar-10-batches-py/); sets '
    'load_dataset.dataset = "cifar10". Default: the config\'s data set (the '
    'embedded scikit-learn digits unless it binds CIFAR-10).')
FLAGS = flags.FLAGS


def bind() -> None:
  """Applies --data_dir to the gin config (after the gin flags)."""
  if FLAGS.data_dir:
    gin.bind_parameter('load_dataset.dataset', 'cifar10')
    gin.bind_parameter('load_dataset.data_dir', FLAGS.data_dir)
