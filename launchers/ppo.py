r"""PPO on Procgen (TF-Agents, Reverb): supernet search, discrete evaluation or
the IMPALA-CNN baseline, chosen by the gin config.

  python -m launchers.ppo --gin_configs=gin_configs/ppo/classic_search.gin \
      --root_dir=runs/classic_search
  python -m launchers.ppo --gin_configs=gin_configs/ppo/discrete_64x3.gin \
      --gin_bindings="DiscreteNetwork.genotype = 'runs/classic_search/genotype.json'" \
      --root_dir=runs/classic_eval

Roles (--role): single (default: everything in this process, in turn); local
(replay, learner, --num_collectors collectors and an evaluator as processes on
this machine); ray (the same roles on the Ray cluster at --ray_address, replay
and learner together, dead collectors restarted: rl_darts/runtime/ray_roles.py);
replay, learn, collect, eval (one role per process, any host: pass
--replay_address=HOST:PORT of the replay role to the others).

Writes under --root_dir: metrics.csv and tb/ (returns raw and normalized, loss,
env steps/s), checkpoints/ (a rerun resumes), and for a supernet alpha.csv,
alpha.png, genotypes/, genotype.json and cell diagrams. Distributed collectors
write collector_<id>.csv, the evaluator eval.csv.
"""

from absl import app
from absl import flags

from launchers import common
from launchers import distributed
from rl_darts.agents.ppo import train

ROLES = ('single', 'local', 'ray', 'replay', 'learn', 'collect', 'eval')
flags.DEFINE_string('root_dir', None, 'Where the run writes; reruns resume.')
flags.DEFINE_enum('role', 'single', ROLES, 'What this process does.')
flags.DEFINE_integer('num_collectors', 2, 'Collector processes (local, '
                     'replay, learn).')
flags.DEFINE_integer('collector_id', 0, 'This collector\'s index (collect).')
FLAGS = flags.FLAGS


def main(argv):
  del argv
  common.parse_gin()
  distributed.check_flags(FLAGS.role, 'collector')
  common.seed_run(FLAGS.root_dir)
  with common.user_errors():
    if FLAGS.role == 'single':
      train.train(FLAGS.root_dir, replay_port=FLAGS.replay_port)
    elif FLAGS.role in ('local', 'ray'):
      distributed.run_roles(FLAGS.role, 'launchers.ppo', 'collect',
                            'collector', FLAGS.num_collectors,
                            evaluate=bool(train.PPOSettings().eval_every))
    elif FLAGS.role == 'replay':
      train.serve_replay(FLAGS.root_dir, distributed.replay_port(),
                         FLAGS.num_collectors)
    elif FLAGS.role == 'learn':
      train.learn(FLAGS.root_dir, FLAGS.replay_address, FLAGS.num_collectors)
    elif FLAGS.role == 'collect':
      train.collect(FLAGS.root_dir, FLAGS.replay_address, FLAGS.collector_id)
    else:
      train.evaluate(FLAGS.root_dir, FLAGS.replay_address)
  distributed.report(FLAGS.role)


if __name__ == '__main__':
  app.run(main)
