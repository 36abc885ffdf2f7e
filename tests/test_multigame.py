"""Several Procgen games in one batch (RL-DARTS paper Fig. 10): each game an
equal block of envs, rewards scaled per env by its game, returns reported
per game (raw and normalized) and averaged over games."""

import numpy as np
import pytest

from rl_darts import procgen_env
from rl_darts import runs


def _environment(**kwargs):
  return runs.Environment(kind='procgen', game=['maze', 'starpilot'],
                          num_envs=4, num_levels=0, **kwargs)


def test_games_share_the_batch_in_blocks():
  environment = _environment()
  env = environment.make()
  assert env.env_games == ('maze', 'maze', 'starpilot', 'starpilot')
  assert [environment.game_of(i) for i in range(4)] == list(env.env_games)
  step = env.reset()
  assert step.observation.shape == (4, 64, 64, 3)
  for _ in range(3):
    step = env.step(np.zeros(4, np.int32))
  assert step.reward.shape == (4,)
  # Rainbow divides each env's reward by its own game's maximum.
  highs = [procgen_env.RETURN_RANGES[g]['easy'][1] for g in env.env_games]
  np.testing.assert_array_equal(environment.max_return(), highs)
  env.close()


def test_returns_are_reported_per_game_and_averaged_normalized():
  environment = _environment()
  episodes = [(0, 10.0, 50), (1, 0.0, 30), (2, 20.0, 100), (3, 30.0, 80)]
  metrics = runs.episode_metrics(environment, episodes)
  maze = procgen_env.normalized_return('maze', 'easy', 5.0)
  starpilot = procgen_env.normalized_return('starpilot', 'easy', 25.0)
  assert metrics['train_return/maze'] == 5.0
  assert metrics['train_return/starpilot'] == 25.0
  assert metrics['train_return_normalized/maze'] == pytest.approx(maze)
  assert metrics['train_return_normalized'] == pytest.approx(
      (maze + starpilot) / 2)
  assert metrics['train_return'] == 15.0
  assert set(runs.game_columns(environment, ('train',))) == {
      k for k in metrics if '/' in k}
  # A game without finished episodes is left out of the average.
  only_maze = runs.episode_metrics(environment, episodes[:1], 'test')
  assert only_maze['test_return_normalized'] == pytest.approx(
      procgen_env.normalized_return('maze', 'easy', 10.0))
  assert 'test_return/starpilot' not in only_maze


@pytest.mark.parametrize('bad, message', [
    ({'num_envs': 3}, r'num_envs \(3\) must be a positive multiple of the '
                      r'number of games \(2'),
    ({'game': ['maze', 'maze']}, 'distinct games'),
    ({'game': ['maze', 'pong']}, "unknown Procgen game 'pong'"),
    ({'kind': 'quadrant'}, "several games need Procgen; kind is 'quadrant'")])
def test_bad_game_lists_are_errors_naming_them(bad, message):
  settings = {'kind': 'procgen', 'game': ['maze', 'starpilot'], 'num_envs': 4,
              **bad}
  with pytest.raises(ValueError, match=message):
    runs.Environment(**settings)
