"""The flags that choose where a plan's runs run, shared by the launchers that
run plans (`launchers.sweep`, `launchers.paper`), and running a plan by them."""

from __future__ import annotations

from absl import flags

from launchers import common  # pylint: disable=unused-import (--ray_address)
from rl_darts.runtime import executors
from rl_darts.runtime import plans

flags.DEFINE_enum('executor', 'local', executors.EXECUTORS,
                  'Where the runs run: here, or on a Ray cluster.')
flags.DEFINE_integer('parallel', 1, 'Runs at once (local executor).',
                     lower_bound=1)
flags.DEFINE_integer('max_retries', 2, 'Ray: reruns of a failed or lost run '
                     '(it resumes).', lower_bound=0)
FLAGS = flags.FLAGS


def run(plan: plans.Plan) -> None:
  """Runs `plan` on the executor the flags name."""
  executors.run_plan(plan, FLAGS.executor, FLAGS.parallel, FLAGS.ray_address,
                     FLAGS.max_retries)
