"""What finished runs wrote, read back: metrics rows and final returns. Reads
only files (metrics.csv), so it works on runs copied from other machines."""

from __future__ import annotations

import csv
import math
import os
import re
from typing import Optional, Sequence

FINAL_FRACTION = 0.1  # A run's final return: the mean over its last 10% rows.
# Per agent, the metrics.csv columns that score a run on training and on test
# levels: PPO's stochastic policy as it trains (RL-DARTS App. F.3), Rainbow's
# greedy evaluator (App. F.2: the epsilon-greedy train return is not its
# score), SAC's greedy DM-Control return (App. A.3; no test levels).
SCORE_COLUMNS = {
    'ppo': ('train_return_normalized', 'test_return_normalized'),
    'rainbow': ('greedy_train_return_normalized',
                'greedy_test_return_normalized'),
    'sac': ('greedy_return', None),
}


def agent_of(bindings: Sequence[str]) -> str:
  """'rainbow', 'sac' or 'ppo': whose settings a run's gin bindings (the
  selectors of its operative config) name."""
  for agent, settings in (('rainbow', 'RainbowSettings.'),
                          ('sac', 'SACSettings.')):
    if any(b.startswith(settings) for b in bindings):
      return agent
  return 'ppo'


def metrics(run_dir: str) -> list[dict[str, str]]:
  """The rows of run_dir/metrics.csv."""
  return rows(run_dir, 'metrics.csv')


def rows(run_dir: str, name: str) -> list[dict[str, str]]:
  """The rows of the CSV file run_dir/`name` (metrics.csv, alpha.csv, ...)."""
  path = os.path.join(run_dir, name)
  if not os.path.isfile(path):
    raise FileNotFoundError(f'{path} does not exist: is {run_dir!r} a '
                            f'finished run directory?')
  with open(path, newline='') as f:
    return list(csv.DictReader(f))


def final_return(run_dir: str, column: str = 'train_return',
                 fraction: float = FINAL_FRACTION) -> Optional[float]:
  """Mean of `column` over the last `fraction` of the rows that log it (at
  least one row); None if none does."""
  return final_value([float(r[column]) for r in metrics(run_dir)
                      if r.get(column) not in (None, '')], fraction)


def final_value(values: Sequence[float],
                fraction: float = FINAL_FRACTION) -> Optional[float]:
  """Mean of the last `fraction` of `values` (at least one); None if empty."""
  if not values:
    return None
  last = values[-max(1, math.ceil(fraction * len(values))):]
  return sum(last) / len(last)


def max_return(run_dir: str) -> float:
  """The easy-mode maximum return (Cobbe et al.) of the Procgen game a
  finished run played, read from its operative_config.gin."""
  from rl_darts.envs import procgen_env  # pylint: disable=g-import-not-at-top
  path = os.path.join(run_dir, 'operative_config.gin')
  if not os.path.isfile(path):
    raise FileNotFoundError(f'{path} does not exist: is {run_dir!r} a '
                            f'finished run directory?')
  with open(path) as f:
    match = re.search(r"^Environment\.game = '([a-z]+)'", f.read(), re.M)
  if match is None or match[1] not in procgen_env.GAMES:
    raise ValueError(f'{path} names no single Procgen game: the maximum '
                     f'return needs one')
  return float(procgen_env.RETURN_RANGES[match[1]]['easy'][1])
