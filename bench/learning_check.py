r"""Does an agent learn? A fixed-budget run of a launcher on any Procgen game,
judged against the uniformly random policy on the same levels.

  python bench/learning_check.py --agent=rainbow     # about 30 minutes on 2 cores
  python bench/learning_check.py --agent=ppo
  python bench/learning_check.py --agent=rainbow --game=starpilot \
      --total_env_steps=1000000 --gin_configs=gin_configs/rainbow/fast_learner.gin

Runs `python -m launchers.<agent>` on the agent's IMPALA-CNN config, on
`--game` (default Rainbow: coinrun, PPO: starpilot) in easy mode with infinite
levels (the paper's regime), under `--root_dir` (a rerun resumes, or only
reports a finished run); `--seed`, `--gin_configs` (after the agent's),
`--gin_bindings`, `--deterministic` and `--verbose` go to the launcher. Then
prints the learning curve from the run's metrics.csv and the verdict: the mean
train return of the last `--tail_fraction` of rows at least 1.5 times random
play's, and the last greedy evaluation above random play's. Rainbow's train
return is epsilon-greedy (per-env epsilons from 0.4 down), PPO's the
stochastic policy's; Rainbow's greedy returns on train and test levels are
printed where evaluated.
"""

from __future__ import annotations

import csv
import math
import os
import subprocess
import sys

from absl import app
from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from rl_darts.envs import procgen_env  # pylint: disable=g-import-not-at-top

# Per agent: gin config, game, budget (env steps, about 30 minutes here) and
# the bindings that size its iterations for a curve of some 20 rows. Rainbow
# runs coinrun, the config's own game, whose reward fills C51's support (see
# docs/benchmarks.md for starpilot).
AGENTS = {
    'rainbow': ('gin_configs/rainbow/impala_cnn.gin', 'coinrun', 200_000,
                ['RainbowSettings.steps_per_iteration = 10_000',
                 'RainbowSettings.eval_every = 5']),
    'ppo': ('gin_configs/ppo/impala_cnn.gin', 'starpilot', 300_000, []),
}
FLAGS = flags.FLAGS
CURVE = ('train_return', 'greedy_train_return', 'greedy_test_return')
TARGET_RATIO = 1.5  # The end's train return against random play's.


def _define_flags() -> None:
  """The script's flags, with the launchers' own (gin, seed, logging) that
  it forwards; defined when run, so tests can import the module beside the
  launchers."""
  from launchers import common  # pylint: disable=g-import-not-at-top,unused-import
  flags.DEFINE_enum('agent', 'rainbow', sorted(AGENTS), 'Which launcher.')
  flags.DEFINE_string('game', None, "Procgen game (easy mode; default: the "
                      "agent's, coinrun for Rainbow, starpilot for PPO).")
  flags.DEFINE_integer('total_env_steps', None, 'Budget in env steps '
                       "(default: the agent's, about 30 minutes on 2 cores).",
                       lower_bound=1)
  flags.DEFINE_float('tail_fraction', 0.1, 'Share of the rows averaged at '
                     'the end (and as many at the start).', lower_bound=0.0,
                     upper_bound=0.5)
  flags.DEFINE_string('root_dir', None, 'Run directory (default: '
                      'runs/learning_check/<agent>_<game>).')
  flags.DEFINE_integer('random_steps', 3000, 'Batched steps (32 envs) of the '
                       'uniformly random policy whose return is printed last '
                       '(0: skip).', lower_bound=0)


def command(agent: str, game: str, total: int, forwarded: list[str]
            ) -> list[str]:
  """The launcher command of the check; `forwarded` flags come last (gin
  configs after the agent's, bindings over the check's)."""
  config, _, _, sizing = AGENTS[agent]
  settings = 'RainbowSettings' if agent == 'rainbow' else 'PPOSettings'
  bindings = [f"Environment.game = '{game}'", 'Environment.num_levels = 0',
              f'{settings}.total_env_steps = {total}', *sizing]
  return [sys.executable, '-m', f'launchers.{agent}', f'--gin_configs={config}',
          *(f'--gin_bindings={b}' for b in bindings), *forwarded]


def _mean(rows: list[dict], column: str) -> float | None:
  values = [float(r[column]) for r in rows if r.get(column)]
  return sum(values) / len(values) if values else None


def _cell(value: float | None) -> str:
  return '' if value is None else f'{value:.2f}'


def random_return(game: str, steps: int, num_envs: int = 32, seed: int = 0
                  ) -> tuple[float, int]:
  """Mean return of the uniformly random policy on the check's levels (easy,
  infinite), over the episodes that end within `steps` batched steps."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from rl_darts.runtime import runs  # pylint: disable=g-import-not-at-top
  env = runs.Environment(kind='procgen', game=game, num_envs=num_envs,
                         num_levels=0, seed=seed).make()
  rng = np.random.default_rng(seed)
  env.reset()
  returns, finished = np.zeros(num_envs), []
  for _ in range(steps):
    step = env.step(rng.integers(0, env.action_spec().maximum + 1, num_envs,
                                 dtype=np.int32))
    returns += step.reward
    for i in np.flatnonzero(step.step_type == 2):
      finished.append(returns[i])
      returns[i] = 0.0
  return (float(np.mean(finished)) if finished else float('nan'),
          len(finished))


def report(rows: list[dict], game: str, tail_fraction: float,
           random: float | None) -> tuple[str, bool]:
  """The curve and the verdict. With random play's return: the mean train
  return of the last `tail_fraction` of rows at least `TARGET_RATIO` times
  random play's, and the last greedy evaluation (where the agent has one)
  above it. Without: the end above the start and above Rmin."""
  rmin, rmax = procgen_env.RETURN_RANGES[game]['easy']
  rows = [r for r in rows if r.get('train_return')]
  tail = max(1, math.ceil(tail_fraction * len(rows)))
  if len(rows) < 2 * tail:
    raise ValueError(f'{len(rows)} metric rows with returns; the check needs '
                     f'at least {2 * tail} (--tail_fraction={tail_fraction})')
  lines = ['| env steps | ' + ' | '.join(CURVE) + ' |',
           '|---:|' + '---:|' * len(CURVE)]
  lines += [f"| {int(r['step']):,} | " +
            ' | '.join(_cell(_mean([r], c)) for c in CURVE) + ' |'
            for r in rows]
  start = _mean(rows[:tail], 'train_return')
  end = _mean(rows[-tail:], 'train_return')
  lines += ['', f'{game} (easy): Rmin {rmin}, Rmax {rmax}',
            f'train return, first {tail} rows: {start:.2f} '
            f'(steps {int(rows[0]["step"]):,}-{int(rows[tail - 1]["step"]):,})',
            f'train return, last {tail} rows: {end:.2f} '
            f'(steps {int(rows[-tail]["step"]):,}-{int(rows[-1]["step"]):,})']
  greedy = None
  for column in CURVE[1:]:
    evaluated = [r for r in rows if r.get(column)]
    if evaluated:
      first, last = evaluated[0], evaluated[-1]
      greedy = float(last[column]) if column == 'greedy_train_return' else greedy
      lines.append(f'{column}: {float(first[column]):.2f} at '
                   f'{int(first["step"]):,} -> {float(last[column]):.2f} at '
                   f'{int(last["step"]):,}')
  if random is None:
    learned = end > start and end > rmin
    lines.append('learns: ' + ('yes' if learned else 'no') +
                 ' (end above its start and above Rmin)')
    return '\n'.join(lines), learned
  learned = end >= TARGET_RATIO * random and (greedy is None or greedy > random)
  lines.append(f'uniformly random policy: {random:.2f}')
  lines.append('learns: ' + ('yes' if learned else 'no') +
               f' (last {tail} rows {end:.2f} against {TARGET_RATIO} x random '
               f'{TARGET_RATIO * random:.2f}' +
               ('' if greedy is None else
                f'; last greedy train {greedy:.2f} against random {random:.2f}')
               + ')')
  return '\n'.join(lines), learned


def main(argv):
  del argv
  _, game, budget, _ = AGENTS[FLAGS.agent]
  FLAGS.game = FLAGS.game or game
  try:
    procgen_env.check_game(FLAGS.game)
  except ValueError as e:
    sys.exit(f'error: --game: {e}')
  total = FLAGS.total_env_steps or budget
  from launchers import distributed  # pylint: disable=g-import-not-at-top
  FLAGS.root_dir = FLAGS.root_dir or os.path.join(
      'runs', 'learning_check', f'{FLAGS.agent}_{FLAGS.game}')
  run = command(FLAGS.agent, FLAGS.game, total, distributed.forwarded_flags())
  print(' '.join(run[1:]), flush=True)
  if subprocess.run(run, cwd=REPO, check=False).returncode:
    sys.exit(f'error: the run failed: {" ".join(run[1:])}')
  with open(os.path.join(REPO, FLAGS.root_dir, 'metrics.csv'), newline='') as f:
    rows = list(csv.DictReader(f))
  random = None
  if FLAGS.random_steps:
    random, episodes = random_return(FLAGS.game, FLAGS.random_steps)
    print(f'uniformly random policy: {random:.2f} over {episodes} episodes')
  try:
    text, _ = report(rows, FLAGS.game, FLAGS.tail_fraction, random)
  except ValueError as e:
    sys.exit(f'error: {e}: raise --total_env_steps or lower --tail_fraction')
  print(text)


if __name__ == '__main__':
  _define_flags()
  app.run(main)
