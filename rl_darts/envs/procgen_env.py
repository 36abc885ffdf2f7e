"""Procgen as a batched TF-Agents environment, with episode statistics and
normalized returns (Cobbe et al. 2020).

One `ProcgenEnvironment` steps `num_envs` games at once through procgen's
vectorized gym3 env (C++ threads), never a Python loop over single envs. Games
reset themselves: the time step that ends an episode (LAST, discount 0) already
carries the next episode's first observation, so every action is a real one.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from tf_agents.specs import array_spec

from rl_darts.envs import environments

GAMES = ('bigfish', 'bossfight', 'caveflyer', 'chaser', 'climber', 'coinrun',
         'dodgeball', 'fruitbot', 'heist', 'jumper', 'leaper', 'maze', 'miner',
         'ninja', 'plunder', 'starpilot')
MODES = ('easy', 'hard')
NUM_ACTIONS = 15
# (Rmin, Rmax) per mode: Cobbe et al. 2020, "Leveraging Procedural Generation
# to Benchmark RL" (arXiv 1912.01588); the RL-DARTS paper reports easy (App. D).
RETURN_RANGES = {
    'bigfish': {'easy': (1, 40), 'hard': (0, 40)},
    'bossfight': {'easy': (0.5, 13), 'hard': (0.5, 13)},
    'caveflyer': {'easy': (3.5, 12), 'hard': (2, 13.4)},
    'chaser': {'easy': (0.5, 13), 'hard': (0.5, 14.2)},
    'climber': {'easy': (2, 12.6), 'hard': (1, 12.6)},
    'coinrun': {'easy': (5, 10), 'hard': (5, 10)},
    'dodgeball': {'easy': (1.5, 19), 'hard': (1.5, 19)},
    'fruitbot': {'easy': (-1.5, 32.4), 'hard': (-0.5, 27.2)},
    'heist': {'easy': (3.5, 10), 'hard': (2, 10)},
    'jumper': {'easy': (3, 10), 'hard': (1, 10)},
    'leaper': {'easy': (3, 10), 'hard': (1.5, 10)},
    'maze': {'easy': (5, 10), 'hard': (4, 10)},
    'miner': {'easy': (1.5, 13), 'hard': (1.5, 20)},
    'ninja': {'easy': (3.5, 10), 'hard': (2, 10)},
    'plunder': {'easy': (4.5, 30), 'hard': (3, 30)},
    'starpilot': {'easy': (2.5, 64), 'hard': (1.5, 35)},
}


def check_game(game: str, mode: str = 'easy') -> None:
  if game not in GAMES:
    raise ValueError(f'unknown Procgen game {game!r}; games: {", ".join(GAMES)}')
  if mode not in MODES:
    raise ValueError(f'unknown Procgen distribution mode {mode!r}; modes: '
                     f'{", ".join(MODES)}')


def check_games(games: Sequence[str], num_envs: int, mode: str = 'easy'
                ) -> None:
  """Known, distinct games that share `num_envs` equally."""
  for game in games:
    check_game(game, mode)
  if not games or len(set(games)) != len(games):
    raise ValueError(f'need distinct games; got {list(games)}')
  if num_envs < 1 or num_envs % len(games):
    raise ValueError(f'num_envs ({num_envs}) must be a positive multiple of '
                     f'the number of games ({len(games)}: {list(games)})')


def env_games(games: Sequence[str], num_envs: int) -> tuple[str, ...]:
  """Each env's game: the games hold equal blocks of consecutive envs."""
  return tuple(g for g in games for _ in range(num_envs // len(games)))


def normalized_return(game: str, mode: str, episode_return: float) -> float:
  """(R - Rmin) / (Rmax - Rmin) with Cobbe et al.'s constants for the mode."""
  check_game(game, mode)
  low, high = RETURN_RANGES[game][mode]
  return (episode_return - low) / (high - low)


class ProcgenEnvironment(environments.BatchedEnvironment):
  """`num_envs` Procgen games stepped together.

  Args:
    game: one of GAMES, or several (the paper's joint multi-game training,
      Fig. 10): each gets an equal block of consecutive envs, so every batch
      mixes them (`env_games` names each env's game).
    num_envs: games stepped in one batch.
    distribution_mode: 'easy' (the paper's) or 'hard'.
    num_levels: distinct levels (200 in the paper's train setting; 0 =
      unlimited, the test distribution).
    start_level: first level seed.
    seed: procgen's random seed (always set, for reproducibility).
    num_threads: procgen's C++ stepping threads.
  """

  def __init__(self, game: str | Sequence[str], num_envs: int,
               distribution_mode: str = 'easy', num_levels: int = 200,
               start_level: int = 0, seed: int = 0, num_threads: int = 2):
    games = (game,) if isinstance(game, str) else tuple(game)
    check_games(games, num_envs, distribution_mode)
    if num_levels < 0 or start_level < 0:
      raise ValueError(f'need num_levels >= 0, start_level >= 0; got '
                       f'{num_levels}, {start_level}')
    from procgen import ProcgenGym3Env  # pylint: disable=g-import-not-at-top
    self.games, self.distribution_mode = games, distribution_mode
    self.env_games = env_games(games, num_envs)
    self._envs = [ProcgenGym3Env(
        num=num_envs // len(games), env_name=g, distribution_mode=distribution_mode,
        num_levels=num_levels, start_level=start_level, rand_seed=seed + i,
        num_threads=num_threads) for i, g in enumerate(games)]
    super().__init__(num_envs, array_spec.BoundedArraySpec(
        (64, 64, 3), np.uint8, 0, 255), NUM_ACTIONS)

  def _observe_reset(self) -> np.ndarray:
    return np.concatenate([env.observe()[1]['rgb'] for env in self._envs])

  def _act(self, actions: np.ndarray):
    for env, block in zip(self._envs, np.split(actions, len(self._envs))):
      env.act(block)
    rewards, observations, first = zip(*(env.observe() for env in self._envs))
    # gym3: `first` marks a new episode's first observation; the reward that
    # comes with it is the last one of the episode that just ended.
    return (np.concatenate(rewards),
            np.concatenate([o['rgb'] for o in observations]),
            np.concatenate(first).astype(bool))

  def close(self) -> None:
    for env in self._envs:
      env.close()
