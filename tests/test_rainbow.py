"""Rainbow: learning with each encoder kind, replay semantics (n-step
transitions, scaled rewards, priorities), a real Procgen search through
Reverb, resume after SIGKILL, distributed actors and clear errors."""

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest
import reverb
import tensorflow as tf

from rl_darts.agents.rainbow import actors
from rl_darts.agents.rainbow import learning
from rl_darts.agents.rainbow import train
from rl_darts.envs import environments
from rl_darts.runtime import runs
from rl_darts.space import genotypes
from rl_darts.space import ops
from tests import helpers
from tests.helpers import ENCODERS, REPO

QUADRANT = """
Environment.kind = 'quadrant'
Environment.num_envs = 8
RainbowSettings.batch_size = 32
RainbowSettings.min_replay_size = 64
RainbowSettings.replay_size = 2000
RainbowSettings.n_step = 1
RainbowSettings.learning_rate = 1e-3
RainbowSettings.steps_per_iteration = 256
RainbowSettings.total_env_steps = 2048
RainbowSettings.target_update_period = 20
RainbowSettings.eval_every = 2
RainbowSettings.eval_episodes = 32
RainbowSettings.eval_max_steps = 64
RainbowSettings.epsilon_decay_steps = 1500
"""
TINY_SEARCH = [  # A small Micro supernet on real Procgen.
    '--gin_configs=gin_configs/rainbow/micro_search.gin',
    '--gin_bindings=Supernet.depths = [4]',
    '--gin_bindings=Supernet.normal_cells = 1',
    '--gin_bindings=Supernet.num_nodes = 2',
    '--gin_bindings=Environment.game = "starpilot"',
    '--gin_bindings=Environment.num_envs = 4',
    '--gin_bindings=RainbowSettings.batch_size = 16',
    '--gin_bindings=RainbowSettings.min_replay_size = 32',
    '--gin_bindings=RainbowSettings.steps_per_iteration = 32',
    '--gin_bindings=RainbowSettings.target_update_period = 4',
    '--gin_bindings=RainbowSettings.eval_episodes = 2',
    '--gin_bindings=RainbowSettings.eval_max_steps = 32',
    '--gin_bindings=DuelingC51.hidden_units = 32',
]


def _launch(root, *bindings, wait=True):
  return helpers.launch('launchers.rainbow', root, TINY_SEARCH, *bindings,
                        wait=wait)


@pytest.mark.parametrize('encoder', sorted(ENCODERS))
def test_rainbow_learns_the_quadrant_task(encoder, tmp_path):
  helpers.parse_gin(QUADRANT + ENCODERS[encoder])
  tf.keras.utils.set_random_seed(0)
  try:
    metrics = train.train(str(tmp_path))
  finally:
    helpers.parse_gin('')
  rows = helpers.rows(tmp_path / 'metrics.csv')
  greedy = [float(r['greedy_test_return']) for r in rows
            if r['greedy_test_return']]
  assert len(greedy) == 4  # Every 2nd of 8 iterations.
  # Twice random play at least (32 greedy episodes per evaluation).
  assert np.mean(greedy[-2:]) > 0.5, f'{encoder}: greedy {greedy} (random: 0.25)'
  assert metrics['step'] == 2048 and metrics['learner_steps'] > 100
  assert (tmp_path / 'genotype.json').exists() == (encoder == 'supernet')
  # A supernet's zero-shot discretized cell is played beside it.
  discrete = [r.get('discrete_greedy_test_return', '') for r in rows]
  assert (sum(v != '' for v in discrete) == 4) == (encoder == 'supernet')
  assert (tmp_path / 'zero_shot.png').exists() == (encoder == 'supernet')


def test_epsilons_and_their_decay():
  eps = actors.epsilons(4)
  np.testing.assert_allclose(eps, 0.4 ** np.array([8, 17 / 3, 10 / 3, 1]),
                             rtol=1e-5)
  np.testing.assert_allclose(actors.decayed(eps, 0, 100), eps)
  np.testing.assert_allclose(actors.decayed(eps, 50, 100), eps ** 4.5,
                             rtol=1e-5)
  np.testing.assert_allclose(actors.decayed(eps, 500, 100), eps ** 8,
                             rtol=1e-5)


def test_per_game_replay_settings():
  short = train.RainbowSettings(environment=runs.Environment(game='starpilot'))
  assert (short.n_step, short.replay_size) == (2, 10_000)
  long = train.RainbowSettings(environment=runs.Environment(game='coinrun'))
  assert (long.n_step, long.replay_size) == (7, 500_000)
  bound = train.RainbowSettings(n_step=3, replay_size=20_000,
                                environment=runs.Environment(game='miner'))
  assert (bound.n_step, bound.replay_size) == (3, 20_000)


def test_reward_scale_is_the_hard_mode_maximum():
  """The authors' code divides easy-mode rewards by the hard-mode Rmax."""
  easy = runs.Environment(game='starpilot', distribution_mode='easy')
  assert train.RainbowSettings(environment=easy).reward_scale == 35
  assert train.RainbowSettings(environment=easy,
                               reward_scale_mode='easy').reward_scale == 64
  assert train.RainbowSettings(
      environment=runs.Environment(game='miner')).reward_scale == 20
  quadrant = runs.Environment(kind='quadrant', num_envs=2)
  assert train.RainbowSettings(environment=quadrant).reward_scale == 1.0


class _Counter(environments.BatchedEnvironment):
  """Reward = the env's step within a 3-step episode (1, 2, 3); observations
  show the step count, so transitions can be checked exactly."""

  def __init__(self, num_envs):
    from tf_agents.specs import array_spec  # pylint: disable=g-import-not-at-top
    super().__init__(num_envs, array_spec.BoundedArraySpec(
        (8, 8, 3), np.uint8, 0, 255), 4)
    self.t = np.zeros(num_envs, np.int64)

  def _observe(self):
    return np.broadcast_to(self.t[:, None, None, None].astype(np.uint8),
                           (self._num_envs, 8, 8, 3)).copy()

  def _observe_reset(self):
    self.t[:] = 0
    return self._observe()

  def _act(self, actions):
    self.t += 1
    rewards = self.t.astype(np.float32)
    done = self.t == 3
    self.t[done] = 0
    return rewards, self._observe(), done


def test_nstep_transitions_scaled_rewards_and_priority_updates():
  helpers.parse_gin(ENCODERS['impala_cnn'])
  settings = train.RainbowSettings(
      batch_size=8, min_replay_size=8, replay_size=100, n_step=2,
      discount=0.5, environment=runs.Environment(kind='quadrant', num_envs=2))
  env = _Counter(2)
  server = reverb.Server([train.replay_table(settings, env)])
  try:
    address = f'localhost:{server.port}'
    network = train.build_network(env)
    client = reverb.Client(address)
    actor = actors.BatchedActor(env, actors.EpsilonGreedy(network, 0),
                                np.ones(2, np.float32), client, n_step=2,
                                discount=0.5, reward_scale=4.0)
    for _ in range(6):  # Two 3-step episodes per env.
      actor.step()
    for adder in actor.adders:
      adder.reset()  # Flushes pending items.
    items = client.sample(train.TABLE, num_samples=200, emit_timesteps=False,
                          unpack_as_table_signature=True)
    seen = {(int(x.data.observation[0, 0, 0]),
             int(x.data.next_observation[0, 0, 0]), float(x.data.reward),
             float(x.data.discount)) for x in items}
    # (from, to, reward / 4, discount): rewards 1, 2, 3 in 3-step episodes,
    # gamma 0.5, n = 2; Acme also writes the short first transition 0 -> 1.
    # Episode ends show the next episode's first observation (0).
    assert seen == {(0, 1, 1 / 4, 1.0), (0, 2, (1 + 0.5 * 2) / 4, 0.5),
                    (1, 0, (2 + 0.5 * 3) / 4, 0.0), (2, 0, 3 / 4, 0.0)}
    assert all(float(s.info.priority) == 1.0 for s in items)

    target = train.build_network(env)
    rl = learning.RainbowLearner(
        network, target, learning.replay_dataset(address, train.TABLE, 8),
        client, train.TABLE, discount=0.5, learning_rate=1e-3,
        importance_sampling_exponent=0.2, target_update_period=100)
    rl.step()
    priorities = {int(s.info.key): float(s.info.priority)
                  for s in client.sample(train.TABLE, num_samples=200, emit_timesteps=False,
                          unpack_as_table_signature=True)}
    changed = [p for p in priorities.values() if p != 1.0]
    assert changed and all(p > 0 for p in changed)
  finally:
    server.stop()
    helpers.parse_gin('')


def test_target_network_copies_every_period():
  helpers.parse_gin(ENCODERS['supernet'])
  try:
    env = environments.QuadrantBandit(2)
    settings = train.RainbowSettings(
        batch_size=4, min_replay_size=4, replay_size=100, n_step=1,
        environment=runs.Environment(kind='quadrant', num_envs=2))
    server = reverb.Server([train.replay_table(settings, env)])
    address = f'localhost:{server.port}'
    client = reverb.Client(address)
    network, target = train.build_network(env), train.build_network(env)
    rl = learning.RainbowLearner(
        network, target, learning.replay_dataset(address, train.TABLE, 4),
        client, train.TABLE, discount=0.99, learning_rate=1e-2,
        importance_sampling_exponent=0.2, target_update_period=3)
    actor = actors.BatchedActor(env, actors.EpsilonGreedy(network, 0),
                                np.ones(2, np.float32), client)
    for _ in range(4):
      actor.step()
    alpha = lambda n: n.encoder.alpha['normal'].numpy().copy()
    np.testing.assert_array_equal(alpha(network), alpha(target))
    rl.step()
    rl.step()  # Two steps: the target still holds the initial copy.
    assert np.abs(alpha(network) - alpha(target)).max() > 0
    before = alpha(target)
    rl.step()  # The 3rd step copies.
    np.testing.assert_array_equal(alpha(network), alpha(target))
    assert np.abs(before - alpha(target)).max() > 0
    # Every variable, each to its own counterpart (value and advantage heads
    # have the same shapes): the two networks give the same logits.
    observations = env.reset().observation
    np.testing.assert_array_equal(network(observations), target(observations))
    server.stop()
  finally:
    helpers.parse_gin('')


def test_procgen_search_end_to_end(tmp_path):
  out = _launch(tmp_path, 'RainbowSettings.total_env_steps = 128',
                'RainbowSettings.eval_every = 2')
  rows = helpers.rows(tmp_path / 'metrics.csv')
  assert [int(r['step']) for r in rows] == [32, 64, 96, 128]
  learner_steps = [int(r['learner_steps']) for r in rows]
  # Once warm: 4 envs x 8 steps x 4 samples per insert / batch 16 = 8 a row.
  assert learner_steps[0] <= 8 and np.diff(learner_steps).tolist() == [8, 8, 8]
  assert rows[-1]['loss'] != ''
  alpha = helpers.rows(tmp_path / 'alpha.csv')
  assert [int(r['step']) for r in alpha] == [0, 32, 64, 96, 128]
  first = np.array([float(v) for k, v in alpha[0].items() if k != 'step'])
  last = np.array([float(v) for k, v in alpha[-1].items() if k != 'step'])
  np.testing.assert_allclose(first, 1 / 5, rtol=1e-6)  # Micro: 5 ops.
  assert np.abs(first - last).max() > 1e-6
  genotype = genotypes.Genotype.load(str(tmp_path / 'genotype.json'))
  assert len(genotype.normal) == 2 and genotype.reduce is None
  assert (tmp_path / 'alpha.png').exists()
  assert (tmp_path / 'genotype_normal.png').exists()
  assert 'env steps/s' in out


def test_resume_after_sigkill(tmp_path):
  root = str(tmp_path)
  process = _launch(root, 'RainbowSettings.total_env_steps = 100000',
                    'RainbowSettings.eval_every = 0', wait=False)
  helpers.kill_at_checkpoint(process, root, min_step=96)
  step, alpha = helpers.checkpoint_alpha(root, owner='network/')
  assert step >= 96 and set(alpha) == {'normal'}
  # Nothing left to train: the rerun restores alpha and writes its genotype.
  out = _launch(root, f'RainbowSettings.total_env_steps = {step}',
                'RainbowSettings.eval_every = 0')
  assert f'Resuming at {step} env steps' in out
  probs = {'normal': tf.nn.softmax(10.0 * alpha['normal']).numpy()}
  expected = genotypes.discretize(probs, ops.get_space('micro'))
  written = genotypes.Genotype.load(os.path.join(root, 'genotype.json'))
  assert dataclasses.replace(written, shape=None) == expected
  assert written.shape['space'] == 'micro'
  # Continuing: the replay refills, then steps go on from the checkpoint.
  _launch(root, f'RainbowSettings.total_env_steps = {step + 64}',
          'RainbowSettings.eval_every = 0')
  rows = helpers.rows(os.path.join(root, 'metrics.csv'))
  assert [int(r['step']) for r in rows] == list(range(32, step + 65, 32))
  learner_steps = [int(r['learner_steps']) for r in rows]
  assert learner_steps == sorted(learner_steps)  # Restored, not restarted.


def test_distributed_actors_learn_through_reverb(tmp_path):
  """A replay server, a learner, 2 actors and an evaluator as processes; the
  greedy evaluator only improves if the learner's weights reach it."""
  config = tmp_path / 'quadrant.gin'
  config.write_text(QUADRANT.replace('eval_every = 2', 'eval_every = 1') +
                    ENCODERS['impala_cnn'] +
                    '\nRainbowSettings.variable_update_period = 4\n')
  root = tmp_path / 'run'
  result = subprocess.run(
      [sys.executable, '-m', 'launchers.rainbow', '--role=local',
       '--num_actors=2', f'--gin_configs={config}', f'--root_dir={root}'],
      cwd=REPO, capture_output=True, text=True, timeout=900, check=False)
  assert result.returncode == 0, result.stdout + result.stderr
  steps = [int(r['step']) for r in helpers.rows(root / 'metrics.csv')]
  assert steps[-1] >= 2048
  evals = helpers.rows(root / 'eval.csv')
  assert len(evals) >= 2
  # Random play scores 0.25, as does the untrained greedy policy; with 32
  # episodes per evaluation and racing processes one evaluation can dip.
  returns = [float(r['greedy_test_return']) for r in evals]
  assert max(returns) > 0.7 and np.mean(returns) > 0.45, returns
  for actor_id in (0, 1):
    assert helpers.rows(root / f'actor_{actor_id}.csv')


@pytest.mark.parametrize('args, message', [
    (['--gin_bindings=Environment.game = "pong"'], "unknown Procgen game 'pong'"),
    (['--gin_bindings=RainbowSettings.min_replay_size = 1000000000'],
     'min_replay_size 1000000000 exceeds replay_size 10000'),
    (['--gin_bindings=RainbowSettings.n_step = 0'], 'n_step must be >= 1'),
    (['--gin_bindings=RainbowSettings.total_env_steps = 16'],
     'total_env_steps 16 is below min_replay_size 32'),
    (['--gin_bindings=RainbowSettings.reward_scale_mode = "medium"'],
     "reward_scale_mode must be one of easy, hard; got 'medium'"),
    (['--gin_bindings=DuelingC51.num_atoms = 1'], 'num_atoms >= 2'),
    (['--role=act'], '--role=act needs --replay_address=HOST:PORT'),
    (['--num_actors=2', '--actor_id=2'], '0 <= --actor_id < --num_actors'),
])
def test_bad_input_gives_clear_errors(args, message, tmp_path):
  assert message in helpers.fails('launchers.rainbow', tmp_path,
                                  TINY_SEARCH + args)


class _ShootOrDodge(environments.BatchedEnvironment):
  """Procgen's reward scale in two actions: shoot earns 1 of a maximum of 64
  and ends the episode with probability 0.6; dodge earns nothing and never
  does. Shooting is better in every state (dodging only delays rewards);
  the 0.6 keeps the survival bonus of a mid-support start clear of replay
  sampling noise."""

  def __init__(self, num_envs, seed=0):
    from tf_agents.specs import array_spec  # pylint: disable=g-import-not-at-top
    super().__init__(num_envs, array_spec.BoundedArraySpec(
        (8, 8, 3), np.uint8, 0, 255), 2)
    self._rng = np.random.default_rng(seed)

  def _observe_reset(self):
    return np.full((self._num_envs, 8, 8, 3), 128, np.uint8)

  def _act(self, actions):
    shoot = actions == 0
    done = shoot & (self._rng.random(self._num_envs) < 0.6)
    return shoot.astype(np.float32), self._observe_reset(), done


@pytest.mark.parametrize('initial_return, prefers', [(0.0, 0), (None, 1)])
def test_untrained_values_decide_between_reward_and_survival(initial_return,
                                                             prefers):
  """Targets bootstrap from the untrained network. Starting at the middle of
  C51's [0, 1] support, every step survived is worth ~0.5 against a reward of
  1/64, so the greedy policy dodges; starting at zero return, it shoots."""
  helpers.parse_gin(ENCODERS['impala_cnn'] +
                    f'\nDuelingC51.initial_return = {initial_return}')
  tf.keras.utils.set_random_seed(0)
  settings = train.RainbowSettings(
      batch_size=32, min_replay_size=32, replay_size=1000, n_step=2,
      environment=runs.Environment(kind='quadrant', num_envs=4))
  env = _ShootOrDodge(4)
  server = reverb.Server([train.replay_table(settings, env)])
  try:
    address = f'localhost:{server.port}'
    client = reverb.Client(address)
    network, target = train.build_network(env), train.build_network(env)
    q_values = lambda: network.q_values(network(env.reset().observation[:1]))
    start = float(tf.reduce_mean(q_values()))
    assert start == pytest.approx(0.5 if initial_return is None else 0.0,
                                  abs=0.02)
    actor = actors.BatchedActor(env, actors.EpsilonGreedy(network, 0),
                                np.ones(4, np.float32), client, n_step=2,
                                discount=0.99, reward_scale=64.0)
    for _ in range(100):
      actor.step()
    rl = learning.RainbowLearner(
        network, target, learning.replay_dataset(address, train.TABLE, 32),
        client, train.TABLE, discount=0.99, learning_rate=1e-3,
        importance_sampling_exponent=0.2, target_update_period=10_000)
    for _ in range(150):  # The target network stays the untrained one.
      rl.step()
    actor.close()
    q = q_values().numpy()[0]
    assert q.argmax() == prefers, q
  finally:
    server.stop()
    helpers.parse_gin('')


class _Recorded:
  """Wraps a batched env; keeps each env's (observation, action, reward,
  done, next observation) as the env saw them."""

  def __init__(self, env):
    self.env, self.steps = env, [[] for _ in range(env.batch_size)]
    self._observations = None

  def __getattr__(self, name):
    return getattr(self.env, name)

  def reset(self):
    step = self.env.reset()
    self._observations = step.observation
    return step

  def step(self, actions):
    step = self.env.step(actions)
    for i, steps in enumerate(self.steps):
      steps.append((self._observations[i].tobytes(), int(actions[i]),
                    float(step.reward[i]), bool(step.step_type[i] == 2),
                    step.observation[i].tobytes()))
    self._observations = step.observation
    return step


def _nstep_transitions(steps, n, discount, scale):
  """Every transition Acme's n-step adder may write from one env's stream:
  (obs, action, next obs) -> [(return / scale, discount)], k <= n steps."""
  expected = {}
  for t, (observation, action, _, _, _) in enumerate(steps):
    ret, gamma = 0.0, 1.0
    for k, (_, _, reward, done, arrival) in enumerate(steps[t:t + n]):
      ret += gamma * reward
      bootstrap = 0.0 if done else gamma  # Acme's: one gamma short.
      expected.setdefault((observation, action, arrival), []).append(
          (ret / scale, bootstrap))
      if done:
        break
      gamma *= discount
  return expected


@pytest.mark.parametrize('n_step', [2, 7])
def test_procgen_transitions_match_the_game(n_step):
  """Every n-step transition written from real Procgen (auto-resets, level
  ends, rewards divided by the game's maximum) is one the game played."""
  helpers.parse_gin(ENCODERS['impala_cnn'])
  environment = runs.Environment(game='starpilot', num_envs=3, num_levels=0)
  settings = train.RainbowSettings(batch_size=8, min_replay_size=8,
                                   replay_size=10_000, n_step=n_step,
                                   environment=environment)
  env = _Recorded(environment.make())
  server = reverb.Server([train.replay_table(settings, env.env)])
  try:
    client = reverb.Client(f'localhost:{server.port}')
    actor = actors.BatchedActor(
        env, actors.EpsilonGreedy(train.build_network(env.env), 0),
        np.ones(3, np.float32), client, n_step, 0.9, environment.max_return())
    for _ in range(300):
      actor.step()
    actor.close()
    expected = {}
    for steps in env.steps:
      for key, values in _nstep_transitions(steps, n_step, 0.9, 64.0).items():
        expected.setdefault(key, []).extend(values)
    size = client.server_info()[train.TABLE].current_size
    items = list(client.sample(train.TABLE, num_samples=3 * size,
                               emit_timesteps=False,
                               unpack_as_table_signature=True))
    ends = sum(done for steps in env.steps for _, _, _, done, _ in steps)
    rewarded = [x for x in items if float(x.data.reward) > 0]
    assert ends >= 3 and rewarded  # Episodes ended; some steps scored.
    for x in items:
      data = x.data
      key = (np.asarray(data.observation).tobytes(), int(data.action),
             np.asarray(data.next_observation).tobytes())
      got = (float(data.reward), float(data.discount))
      assert any(np.allclose(got, e, atol=1e-6) for e in expected.get(key, [])
                 ), (key[1], got, expected.get(key))
  finally:
    server.stop()
    helpers.parse_gin('')


class _Lengths(environments.BatchedEnvironment):
  """Env i's episodes last 2 (i + 1) steps, each step earning 1."""

  def __init__(self, num_envs):
    from tf_agents.specs import array_spec  # pylint: disable=g-import-not-at-top
    super().__init__(num_envs, array_spec.BoundedArraySpec(
        (8, 8, 3), np.uint8, 0, 255), 4)
    self.t = np.zeros(num_envs, np.int64)
    self.calls = 0

  def _observe_reset(self):
    return np.zeros((self._num_envs, 8, 8, 3), np.uint8)

  def _act(self, actions):
    self.calls += 1
    self.t += 1
    done = self.t == 2 * (np.arange(self._num_envs) + 1)
    self.t[done] = 0
    return np.ones(self._num_envs, np.float32), self._observe_reset(), done


def test_greedy_evaluation_counts_whole_episodes_equally_per_env():
  helpers.parse_gin(ENCODERS['impala_cnn'])
  try:
    env = _Lengths(3)
    evaluator = actors.GreedyEvaluator(
        env, actors.EpsilonGreedy(train.build_network(env), 0),
        num_episodes=5, max_steps=300)
    # Fresh envs: 2 episodes from each (5 over 3 envs, rounded up), not the
    # 5 that finish first (4 of them 2 or 4 steps long).
    assert sorted(evaluator.evaluate()) == [(0, 2.0, 2)] * 2 + [
        (1, 4.0, 4)] * 2 + [(2, 6.0, 6)] * 2
    for _ in range(3):
      evaluator.actor.step()  # Mid-episode in every env.
    env.calls = 0
    episodes = evaluator.evaluate()
    # Episodes under way are played out and dropped: env 2 needs 3 + 2 x 6.
    assert env.calls == 15 and sorted(episodes) == [(0, 2.0, 2)] * 2 + [
        (1, 4.0, 4)] * 2 + [(2, 6.0, 6)] * 2
    # Past the step budget, each env gives as many as the one with fewest.
    env = _Lengths(3)
    short = actors.GreedyEvaluator(
        env, actors.EpsilonGreedy(train.build_network(env), 0),
        num_episodes=6, max_steps=3 * 9)
    assert sorted(short.evaluate()) == [(0, 2.0, 2), (1, 4.0, 4),
                                        (2, 6.0, 6)]
  finally:
    helpers.parse_gin('')
