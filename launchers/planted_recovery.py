r"""Planted-architecture recovery: the joint search and its frozen-alpha control
on a teacher with a planted cell, for several seeds (rl_darts/experiments/planted.py).

--method=supervised: a supernet cell regresses the teacher cell's outputs
(`PlantedTask`, bound with --gin_bindings). --method=ppo: the RL-DARTS search
(`launchers.ppo`, gin_configs/ppo/planted_search.gin) on `PlantedBandit`, its
runs a plan on --executor (--run_bindings go to every run).

Writes under --root_dir: {search,frozen}/seed_<s>/ (each a resumable run with
its metrics.csv, genotype.json and plots), summary.json and summary.md (final
recovery per arm and seed, mean and sample std, and chance). A rerun of the
same command resumes.

  python -m launchers.planted_recovery --root_dir=runs/planted --seeds=0,1,2
  python -m launchers.planted_recovery --method=ppo --parallel=2 \
      --root_dir=runs/planted_ppo --seeds=0,1,2
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
flags.DEFINE_enum('method', 'supervised', ['supervised', 'ppo'],
                  'How the supernet learns the teacher.')
flags.DEFINE_multi_string('run_bindings', [], '--method=ppo: gin bindings '
                          'for every run.')
FLAGS = flags.FLAGS
ARMS = {'search': False, 'frozen': True}  # Arm: freeze_alpha.
PPO_CONFIG = 'gin_configs/ppo/planted_search.gin'


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


def run(root_dir: str, seeds: list[int], method: str = 'supervised',
        bindings: tuple[str, ...] = ()) -> dict:
  """Both arms for every seed; returns and writes the summary."""
  finals = (supervised(root_dir, seeds) if method == 'supervised' else
            ppo(root_dir, seeds, list(bindings)))
  summary = planted.summarize(finals, planted.PlantedTask())
  summary.update(seeds=seeds, method=method)
  io_utils.atomic_write_text(os.path.join(root_dir, 'summary.json'),
                             json.dumps(summary, indent=1))
  io_utils.atomic_write_text(os.path.join(root_dir, 'summary.md'),
                             _table(summary, seeds))
  return summary


def _table(summary: dict, seeds: list[int]) -> str:
  lines = ['| arm | recovery per seed (' + ', '.join(map(str, seeds)) +
           ') | mean [95% interval] | std |', '|---|---|---|---:|']
  for arm in ARMS:
    s = summary[arm]
    low, high = s['interval_95']
    lines.append(f'| {arm} | {", ".join(f"{v:.2f}" for v in s["recovery"])} '
                 f'| {s["mean"]:.2f} [{low:.2f}, {high:.2f}] | '
                 f'{s["std"]:.2f} |')
  lines.append(f'| chance (uniform random cell) | | {summary["chance"]:.2f} '
               '| |')
  return '\n'.join(lines) + '\n'


def main(argv):
  del argv
  common.parse_gin()
  seeds = common.int_list('seeds', FLAGS.seeds)
  with common.user_errors():
    summary = run(FLAGS.root_dir, seeds, FLAGS.method, FLAGS.run_bindings)
  print(_table(summary, seeds))
  print(f'Wrote {os.path.abspath(FLAGS.root_dir)}/summary.md')


if __name__ == '__main__':
  flags.mark_flag_as_required('root_dir')
  app.run(main)
