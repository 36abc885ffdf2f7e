r"""Rainbow on Procgen (Acme building blocks, Reverb prioritized replay):
supernet search, discrete evaluation or the IMPALA-CNN baseline, by gin config.

  python -m launchers.rainbow --gin_configs=gin_configs/rainbow/micro_search.gin \
      --root_dir=runs/rainbow_micro_search
  python -m launchers.rainbow --gin_configs=gin_configs/rainbow/discrete_64x3.gin \
      --gin_bindings="DiscreteNetwork.genotype = 'runs/rainbow_micro_search/genotype.json'" \
      --root_dir=runs/rainbow_micro_eval

Roles (--role): single (default: actor and learner take turns in this
process); local (replay, learner, --num_actors actors and an evaluator as
processes on this machine); ray (the same roles on the Ray cluster at
--ray_address, replay and learner together, dead actors restarted:
rl_darts/runtime/ray_roles.py); replay, learn, act, eval (one role per process,
any host: pass --replay_address=HOST:PORT of the replay role to the others).

Writes under --root_dir: metrics.csv and tb/ (loss, epsilon-greedy and greedy
returns raw and normalized on train and test levels, env steps/s),
checkpoints/ (a rerun resumes; the replay is refilled), and for a supernet
alpha.csv, alpha.png, genotypes/, genotype.json and cell diagrams.
Distributed actors write actor_<id>.csv, the evaluator eval.csv.
"""

from absl import app
from absl import flags

from launchers import common
from launchers import distributed
from rl_darts.agents.rainbow import train

ROLES = ('single', 'local', 'ray', 'replay', 'learn', 'act', 'eval')
flags.DEFINE_string('root_dir', None, 'Where the run writes; reruns resume.')
flags.DEFINE_enum('role', 'single', ROLES, 'What this process does.')
flags.DEFINE_integer('num_actors', 2, 'Actor processes (local, act).')
flags.DEFINE_integer('actor_id', 0, 'This actor\'s index (act).')
FLAGS = flags.FLAGS


def main(argv):
  del argv
  common.parse_gin()
  distributed.check_flags(FLAGS.role, 'actor')
  common.seed_run(FLAGS.root_dir)
  with common.user_errors():
    if FLAGS.role == 'single':
      train.train(FLAGS.root_dir, replay_port=FLAGS.replay_port)
    elif FLAGS.role in ('local', 'ray'):
      # Actors may wait on the rate limiter forever once the learner is done.
      distributed.run_roles(FLAGS.role, 'launchers.rainbow', 'act', 'actor',
                            FLAGS.num_actors,
                            evaluate=bool(train.RainbowSettings().eval_every),
                            grace=10.0)
    elif FLAGS.role == 'replay':
      train.serve_replay(FLAGS.root_dir, distributed.replay_port())
    elif FLAGS.role == 'learn':
      train.learn(FLAGS.root_dir, FLAGS.replay_address)
    elif FLAGS.role == 'act':
      train.act(FLAGS.root_dir, FLAGS.replay_address, FLAGS.actor_id,
                FLAGS.num_actors)
    else:
      train.evaluate(FLAGS.root_dir, FLAGS.replay_address)
  distributed.report(FLAGS.role)


if __name__ == '__main__':
  app.run(main)
