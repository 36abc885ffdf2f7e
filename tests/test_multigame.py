"""Several Procgen games in one batch (RL-DARTS paper Fig. 10): each game an
equal block of envs, rewards scaled per env by its game, returns reported
per game (raw and normalized) and averaged over games."""

import types

import numpy as np
import pytest

from rl_darts.agents.rainbow import actors
from rl_darts.agents.rainbow import train
from rl_darts.envs import procgen_env
from rl_darts.runtime import runs


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


def test_each_game_is_played_at_every_exploration_rate():
  """Env i plays game i: without rotation each game would keep one epsilon
  (bigfish 0.4^8, starpilot 0.4) for the whole run."""
  settings = train.RainbowSettings(
      steps_per_iteration=4, n_step=7, replay_size=500_000,
      environment=_environment())
  assert settings.epsilon_rotation == 4
  actor = actors.BatchedActor(types.SimpleNamespace(batch_size=4), None,
                              train.all_epsilons(settings, 1, 0),
                              rotate_every=settings.epsilon_rotation)
  seen = [set() for _ in range(4)]
  for env_steps in range(0, 16, 4):
    actor.decay(env_steps, decay_steps=10 ** 9)
    for env, epsilon in enumerate(actor.epsilon):
      seen[env].add(round(float(epsilon), 6))
  every = {round(float(e), 6) for e in train.all_epsilons(settings, 1, 0)}
  assert all(s == every for s in seen)
  # One game: fixed, as Ape-X's per-actor rates.
  single = train.RainbowSettings(environment=runs.Environment(
      game='maze', num_envs=4))
  assert single.epsilon_rotation == 0


def test_a_game_list_mixing_schedules_must_bind_them():
  mixed = runs.Environment(game=['maze', 'starpilot'], num_envs=2)
  with pytest.raises(ValueError, match=r"games \['maze', 'starpilot'\] mix "
                     r"App. F.2's short-horizon schedule"):
    train.RainbowSettings(environment=mixed)
  bound = train.RainbowSettings(n_step=7, replay_size=500_000,
                                environment=mixed)
  assert (bound.n_step, bound.replay_size) == (7, 500_000)
  short = train.RainbowSettings(environment=runs.Environment(
      game=['dodgeball', 'starpilot'], num_envs=2))
  assert (short.n_step, short.replay_size) == (2, 10_000)
