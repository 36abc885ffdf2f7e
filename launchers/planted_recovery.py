r"""Planted-architecture recovery: the search and its control on a task whose
best cell is planted, for several seeds.

--method=supervised: a supernet cell regresses a teacher cell's outputs
(`PlantedTask`, bound with --gin_bindings; rl_darts/experiments/planted.py).
--method=ppo: the RL-DARTS search (`launchers.ppo`,
gin_configs/ppo/planted_search.gin) on `PlantedBandit`. Both against the
frozen-uniform-alpha control. --method=nas_rl: the RL-for-DARTS meta-agent
(`launchers.nas_rl`, gin_configs/nas_rl/planted.gin) on data its own
pretrained supernet labels at a dense planted cell (rl_darts/nas_rl/planted.py),
against the uniform random policy's cells; a pretraining run per seed first.
ppo and nas_rl run a plan on --executor (--run_bindings go to every search
run, --pretrain_bindings to every pretraining run).

Writes under --root_dir: <arm>/seed_<s>/ (each a resumable run with its
metrics.csv, genotype.json and plots; nas_rl also pretrain/seed_<s>/),
summary.json and summary.md (final recovery per arm and seed, mean, 95%
interval, sample std, and chance). A rerun of the same command resumes.

  python -m launchers.planted_recovery --root_dir=runs/planted --seeds=0,1,2
  python -m launchers.planted_recovery --method=ppo --parallel=2 \
      --root_dir=runs/planted_ppo --seeds=0,1,2
  python -m launchers.planted_recovery --method=nas_rl --root_dir=runs/planted_nas_rl
"""

import json
import os

from absl import app
from absl import flags
import gin

from launchers import common
from launchers import executor_flags
from rl_darts.experiments import planted
from rl_darts.runtime import io_utils
from rl_darts.runtime import plans
from rl_darts.runtime import run_queue

flags.DEFINE_string('root_dir', None, 'Where the runs write; reruns resume.')
flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds, one run per arm each.')
flags.DEFINE_enum('method', 'supervised', ['supervised', 'ppo', 'nas_rl'],
                  'Which search meets the plant.')
flags.DEFINE_multi_string('run_bindings', [], '--method=ppo or nas_rl: gin '
                          'bindings for every search run.')
flags.DEFINE_multi_string('pretrain_bindings', [], '--method=nas_rl: gin '
                          'bindings for every pretraining run (the data set '
                          "and supernet shape must match the searches').")
FLAGS = flags.FLAGS
ARMS = {'search': False, 'frozen': True}  # Arm: freeze_alpha.
PPO_CONFIG = 'gin_configs/ppo/planted_search.gin'
NAS_RL_CONFIG = 'gin_configs/nas_rl/planted.gin'
PRETRAIN_CONFIG = 'gin_configs/nas_rl/pretrain.gin'


def supervised(root_dir: str, seeds: list[int]) -> dict[str, list[dict]]:
  """Final rows of both arms' supervised searches, per seed."""
  finals = {}
  for arm, freeze in ARMS.items():
    task = planted.PlantedTask(freeze_alpha=freeze)
    finals[arm] = []
    for seed in seeds:
      print(f'{arm}, seed {seed}', flush=True)
      finals[arm].append(planted.search(
          os.path.join(root_dir, arm, f'seed_{seed}'), task, seed))
  return finals


def ppo(root_dir: str, seeds: list[int], bindings: list[str]
        ) -> dict[str, list[dict]]:
  """Both arms' PPO searches as one plan; their scores, per seed."""
  runs = {arm: [run_queue.Run(
      f'{arm} seed {seed}', 'ppo', os.path.join(root_dir, arm, f'seed_{seed}'),
      seed, (PPO_CONFIG,), (f'Supernet.freeze_alpha = {freeze}', *bindings))
                for seed in seeds] for arm, freeze in ARMS.items()}
  executor_flags.run(plans.one_stage([r for arm in runs.values()
                                      for r in arm]))
  return {arm: [planted.score_run(r.root_dir) for r in arm_runs]
          for arm, arm_runs in runs.items()}


def nas_rl(root_dir: str, seeds: list[int], bindings: list[str],
           pretrain_bindings: list[str]) -> tuple[dict[str, list[dict]], float]:
  """Per seed, a pretraining run, then the meta-agent's search on the data
  its supernet labels at the plant; the searched cells' recovery and the
  random policy's, per seed, and chance."""
  pretrain, search = [], []
  for seed in seeds:
    weights = os.path.join(root_dir, 'pretrain', f'seed_{seed}')
    pretrain.append(run_queue.Run(f'pretrain seed {seed}', 'pretrain_supernet',
                                  weights, seed, (PRETRAIN_CONFIG,),
                                  tuple(pretrain_bindings)))
    search.append(run_queue.Run(
        f'search seed {seed}', 'nas_rl',
        os.path.join(root_dir, 'search', f'seed_{seed}'), seed,
        (NAS_RL_CONFIG,),
        (f"SearchSettings.checkpoint = '{weights}'", *bindings),
        needs=(os.path.join(weights, 'provenance.json'),)))
  executor_flags.run(plans.Plan((plans.Stage('pretrain', tuple(pretrain)),
                                 plans.Stage('search', tuple(search)))))
  found = [io_utils.read_json(os.path.join(r.root_dir, 'recovery.json'))
           for r in search]
  return ({'search': [{'recovery': f['recovery']} for f in found],
           'random policy': [{'recovery': f['random_policy_mean']}
                             for f in found]}, found[0]['chance'])


def run(root_dir: str, seeds: list[int], method: str = 'supervised',
        bindings: tuple[str, ...] = (),
        pretrain_bindings: tuple[str, ...] = ()) -> dict:
  """Both arms for every seed; returns and writes the summary."""
  if method == 'nas_rl':
    finals, chance = nas_rl(root_dir, seeds, list(bindings),
                            list(pretrain_bindings))
  else:
    finals = (supervised(root_dir, seeds) if method == 'supervised' else
              ppo(root_dir, seeds, list(bindings)))
    chance = planted.chance(planted.PlantedTask())
  summary = planted.summarize(finals, chance)
  summary.update(seeds=seeds, method=method)
  if method != 'nas_rl':  # Its plants are per seed, in each run's plant.json.
    summary['plant'] = [list(map(list, n)) for n in planted.PlantedTask().nodes]
  io_utils.atomic_write_text(os.path.join(root_dir, 'summary.json'),
                             json.dumps(summary, indent=1))
  io_utils.atomic_write_text(os.path.join(root_dir, 'summary.md'),
                             _table(summary, seeds))
  return summary


def _table(summary: dict, seeds: list[int]) -> str:
  lines = ['| arm | recovery per seed (' + ', '.join(map(str, seeds)) +
           ') | mean [95% interval] | std |', '|---|---|---|---:|']
  for arm in summary['arms']:
    s = summary[arm]
    low, high = s['interval_95']
    lines.append(f'| {arm} | {", ".join(f"{v:.2f}" for v in s["recovery"])} '
                 f'| {s["mean"]:.2f} [{low:.2f}, {high:.2f}] | '
                 f'{s["std"]:.2f} |')
  lines.append(f'| chance | | {summary["chance"]:.2f} | |')
  return '\n'.join(lines) + '\n'


def main(argv):
  del argv
  common.parse_gin()
  seeds = common.int_list('seeds', FLAGS.seeds)
  with common.user_errors():
    summary = run(FLAGS.root_dir, seeds, FLAGS.method, FLAGS.run_bindings,
                  FLAGS.pretrain_bindings)
  print(_table(summary, seeds))
  print(f'Wrote {os.path.abspath(FLAGS.root_dir)}/summary.md')


if __name__ == '__main__':
  flags.mark_flag_as_required('root_dir')
  app.run(main)
