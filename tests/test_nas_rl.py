"""RL for DARTS: data, the DARTS networks, NASWOT, the search environment,
pretraining and evaluation, and the launchers end to end (with resume)."""

import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from rl_darts.envs import image_data
from rl_darts.nas_rl import artifacts
from rl_darts.nas_rl import darts_eval
from rl_darts.nas_rl import environment
from rl_darts.nas_rl import masked
from rl_darts.nas_rl import planted
from rl_darts.nas_rl import pretrain
from rl_darts.nas_rl import reward as reward_lib
from rl_darts.runtime import checkpointing
from rl_darts.space import cells
from rl_darts.space import darts_networks
from rl_darts.space import genotypes
from rl_darts.space import naswot
from tests import helpers
from tests.helpers import DARTS_V2

TINY = """
import rl_darts.nas_rl.environment
DartsSupernet.channels = 4
DartsSupernet.layers = 3
SearchSettings.compiled_forward = False  # Eager: no tracing in short tests.
"""
TINY_SEARCH = [
    '--gin_configs=gin_configs/nas_rl/demo.gin',
    '--gin_bindings=DartsSupernet.channels = 4',
    '--gin_bindings=DartsSupernet.layers = 3',
    '--gin_bindings=PPOSettings.rollout_length = 28',
    '--gin_bindings=PPOSettings.minibatch_size = 28',
    '--gin_bindings=PPOSettings.num_epochs = 2',
    '--gin_bindings=SearchSettings.check_cells = 4',
    '--gin_bindings=SearchSettings.check_batches = 1',
]


@pytest.fixture(name='digits', scope='module')
def _digits():
  return image_data.load_digits()


@pytest.fixture(autouse=True)
def _tiny_gin():
  helpers.parse_gin(TINY)
  yield
  helpers.parse_gin('')


def _env(tmp_path, digits, num_envs=2, **settings):
  return environment.DartsSearchEnvironment(
      num_envs, 0, str(tmp_path),
      settings=environment.SearchSettings(**settings), data=digits)


# Data -------------------------------------------------------------------------


def _write_cifar(directory, broken=None):
  os.makedirs(directory)
  rng = np.random.default_rng(0)
  for name in image_data.CIFAR_FILES:
    with open(os.path.join(directory, name), 'wb') as f:
      if name == broken:
        f.write(b'not a pickle')
        continue
      pickle.dump({b'data': rng.integers(0, 256, (5, 3072), dtype=np.uint8),
                   b'labels': list(rng.integers(0, 10, 5))}, f)


def test_cifar10_reads_the_python_pickles(tmp_path):
  _write_cifar(tmp_path / 'cifar')
  data = image_data.load_cifar10(str(tmp_path / 'cifar'))
  assert data.train_images.shape == (25, 32, 32, 3)
  assert data.test_images.shape == (5, 32, 32, 3)
  with open(tmp_path / 'cifar' / 'data_batch_1', 'rb') as f:
    raw = pickle.load(f, encoding='bytes')[b'data'][0]
  # Channel-major rows become HWC images.
  np.testing.assert_array_equal(data.train_images[0, 0, 1], raw[[1, 1025, 2049]])


def test_cifar10_errors_say_what_is_expected(tmp_path):
  with pytest.raises(ValueError, match="no such directory. Expected the "
                     "python version"):
    image_data.load_cifar10(str(tmp_path / 'nothing'))
  _write_cifar(tmp_path / 'broken', broken='data_batch_3')
  with pytest.raises(ValueError, match='data_batch_3 is not a CIFAR-10 batch'):
    image_data.load_cifar10(str(tmp_path / 'broken'))
  os.remove(tmp_path / 'broken' / 'test_batch')
  with pytest.raises(ValueError, match='missing test_batch'):
    image_data.load_cifar10(str(tmp_path / 'broken'))
  with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
    image_data.load_dataset('mnist')


def test_split_is_persisted_and_checked(tmp_path, digits):
  weights, rewards = image_data.weight_reward_split(digits, str(tmp_path))
  assert not set(weights) & set(rewards)
  assert len(weights) + len(rewards) == len(digits.train_labels)
  again = image_data.weight_reward_split(digits, str(tmp_path), seed=7)
  np.testing.assert_array_equal(again[0], weights)  # Read back, not redrawn.
  (tmp_path / 'split.json').write_text(
      (tmp_path / 'split.json').read_text().replace('"digits"', '"cifar10"'))
  with pytest.raises(ValueError, match='splits .cifar10.'):
    image_data.weight_reward_split(digits, str(tmp_path))


def test_augmentation_crops_flips_and_cuts_out(digits):
  images = np.full((64, 8, 8, 3), 255, np.uint8)
  plain = image_data.preprocess(digits, images)
  assert np.allclose(plain, plain[0, 0, 0])
  augmented = image_data.preprocess(digits, images, np.random.default_rng(0))
  assert augmented.shape == images.shape
  assert (augmented != plain).any()  # Padding shows at crop borders.
  cut = image_data.preprocess(digits, images, np.random.default_rng(0),
                              cutout=4)
  assert (cut == 0).sum() > (augmented == 0).sum()


# Networks and NASWOT ------------------------------------------------------------


def test_darts_v2_evaluation_network_matches_darts_parameter_count():
  network = darts_networks.DartsNetwork(DARTS_V2)
  logits, aux = network(tf.zeros([2, 32, 32, 3]), training=True,
                        drop_prob=tf.constant(0.2))
  assert logits.shape == aux.shape == (2, 10)
  # The DARTS code's count for DARTS_V2 (auxiliary head excluded): 3.349342M.
  assert network.count_params() == 3_349_342
  assert network.count_params(auxiliary=True) > 3_349_342
  assert network(tf.zeros([2, 32, 32, 3]), training=False).shape == (2, 10)


def test_dartsrl_evaluation_cells_normalise_pools():
  """The authors' evaluation cells put a non-affine BN after each pool:
  DARTS_V2's 5 pools per reduction cell, 2 reduction cells."""
  variables = {}
  for pool_bn in (False, True):
    network = darts_networks.DartsNetwork(DARTS_V2, channels=4, layers=5,
                                          auxiliary=False, pool_bn=pool_bn)
    network(tf.zeros([2, 8, 8, 3]), training=False)
    variables[pool_bn] = (len(network.trainable_variables),
                          len(network.non_trainable_variables))
  assert variables[True][0] == variables[False][0]
  assert variables[True][1] - variables[False][1] == 2 * 5 * 2  # Mean, var.


def test_evaluation_network_trains_a_step():
  from rl_darts.nas_rl import supervised  # pylint: disable=g-import-not-at-top
  tf.random.set_seed(0)  # Drop-path draws: the same whatever ran before.
  network = darts_networks.DartsNetwork(DARTS_V2, channels=4, layers=5,
                                        auxiliary=False)
  network(tf.zeros([2, 8, 8, 3]), training=True, drop_prob=tf.constant(0.0))
  optimizer = tf.keras.optimizers.SGD(0.1, momentum=0.9)
  step = supervised.train_step_fn(
      network, optimizer, 3e-4, 5.0,
      lambda m, x, y, p: supervised.cross_entropy(
          y, m(x, training=True, drop_prob=p)))
  before = [v.numpy().copy() for v in network.trainable_variables]
  images = tf.random.normal([8, 8, 8, 3])
  labels = tf.constant(np.arange(8) % 10, tf.int32)
  losses = [float(step(images, labels, tf.constant(0.2))) for _ in range(5)]
  assert np.isfinite(losses).all() and losses[-1] < losses[0]
  changed = [np.abs(b - v.numpy()).max() > 0
             for b, v in zip(before, network.trainable_variables)]
  assert all(changed)


def test_drop_path_spares_identities_and_scales_the_rest():
  genotype = genotypes.Genotype.from_darts_string(DARTS_V2)
  network = darts_networks.DartsNetwork(genotype, channels=4, layers=3,
                                        auxiliary=False)
  x = tf.random.normal([64, 8, 8, 3])
  network(x, training=True, drop_prob=tf.constant(0.0))
  cell = network.cells[0]
  states = [tf.random.normal([64, 8, 8, 12])] * 2
  tf.random.set_seed(0)
  full = cell(states, training=True, drop_prob=tf.constant(0.0))
  dropped = cell(states, training=True, drop_prob=tf.constant(0.5))
  # Node 5 of DARTS_V2 = skip(0) + dil_conv(2): the identity part stays.
  assert full.shape == dropped.shape
  assert np.abs(full.numpy() - dropped.numpy()).max() > 0


@pytest.mark.slow  # A whole search or build; not in make test-fast.
def test_swapped_alphas_flag_swaps_the_cell_types():
  shapes = darts_networks.DartsSupernet().alpha_shapes()
  rng = np.random.default_rng(0)
  a, b = (tf.nn.softmax(rng.standard_normal(shapes['normal']).astype(
      np.float32)) for _ in range(2))
  x = tf.random.normal([2, 8, 8, 3])
  right = darts_networks.DartsSupernet()
  swapped = darts_networks.DartsSupernet(swap_alphas=True)
  right(x, {'normal': a, 'reduce': b})
  swapped(x, {'normal': a, 'reduce': b})
  swapped.set_weights(right.get_weights())
  np.testing.assert_allclose(
      swapped(x, {'normal': a, 'reduce': b}, training=False),
      right(x, {'normal': b, 'reduce': a}, training=False), atol=1e-5)
  assert np.abs(right(x, {'normal': a, 'reduce': b}, training=False) -
                right(x, {'normal': b, 'reduce': a}, training=False)
                ).max() > 1e-6


def test_naswot_equals_a_direct_numpy_computation():
  rng = np.random.default_rng(0)
  w1 = rng.standard_normal((5, 7)).astype(np.float32)
  w2 = rng.standard_normal((7, 6)).astype(np.float32)

  def model(x, training=False):
    del training
    return naswot.relu(naswot.relu(x @ w1) @ w2)

  x = rng.standard_normal((6, 5)).astype(np.float32)
  kernel = _naswot_kernel(x, w1, w2)
  # Mellor et al.'s log|det K| (Eq. 12) on a full-rank batch; a ridge r
  # scores log det(K + r I).
  assert np.linalg.matrix_rank(kernel) == 6
  score = naswot.score(model, tf.constant(x))
  assert score == pytest.approx(np.linalg.slogdet(kernel)[1], rel=1e-9)
  assert naswot.score(model, tf.constant(x), ridge=1.0) == pytest.approx(
      np.linalg.slogdet(kernel + np.eye(6))[1], rel=1e-9)
  assert naswot.score(model, tf.constant(x), ridge=1.0) > score
  assert not naswot.is_recording()
  # Two identical images: K is singular and slogdet gives -inf; the guard
  # scores minus its nullity, below any non-singular K (log|K| >= 0).
  twins = np.concatenate([x[:5], x[:1]])
  assert np.linalg.slogdet(_naswot_kernel(twins, w1, w2))[1] == -np.inf
  assert naswot.score(model, tf.constant(twins)) == -1.0
  triplets = np.concatenate([x[:4], x[:1], x[:1]])
  assert naswot.score(model, tf.constant(triplets)) == -2.0
  assert score >= 0.0
  with pytest.raises(ValueError, match='NASWOT ridge must be >= 0; got -1'):
    naswot.score_kernel(kernel, ridge=-1)


def _naswot_kernel(x, w1, w2):
  """K of the two-ReLU model above: units minus Hamming distance, summed."""
  h1 = x @ w1
  kernel = np.zeros((len(x), len(x)))
  for h in (h1, np.maximum(h1, 0) @ w2):
    codes = h > 0
    kernel += codes.shape[1] - (codes[:, None, :] != codes[None, :, :]).sum(-1)
  return kernel


@pytest.mark.parametrize('op, relus_per_edge', [
    ('max_pool_3x3', 0), ('dil_conv_3x3', 1), ('sep_conv_3x3', 2)])
def test_only_ops_that_run_count_for_naswot(op, relus_per_edge):
  """One-hot alpha: skipped ops add no ReLUs (2 per cell preprocess the
  inputs, the chosen op's own ReLUs on each of the 14 edges)."""
  supernet = darts_networks.DartsSupernet()
  ops = supernet.space.ops('normal')
  probs = {t: np.eye(len(ops), dtype=np.float32)[[ops.index(op)] * 14]
           for t in ('normal', 'reduce')}
  active = {t: p > 1e-3 for t, p in probs.items()}
  with naswot.recording() as codes:
    masked.logits(supernet, tf.random.normal([4, 8, 8, 3]), probs, active)
  assert codes.num_relus == 3 * (2 + 14 * relus_per_edge)


@pytest.mark.parametrize('cell_type', ['normal', 'reduce'])
def test_masked_forward_equals_the_reference_with_skipped_ops_at_zero(
    cell_type):
  """Each mask form (NumPy, a bool tensor, an op index per edge; eager and
  compiled) computes the reference cell with the skipped ops' weights set
  to 0; a node whose edges are all skipped is 0."""
  ops = darts_networks.DartsSupernet().space.ops(cell_type)
  cell = cells.supernet_cell(4, ops, 2, 3, reduction=cell_type == 'reduce',
                             output='concat', preprocess='relu_conv_bn')
  cell.forward_path = 'reference'
  inputs = [tf.random.stateless_normal([2, 8, 8, 4], seed=[1, i])
            for i in range(2)]
  probs = tf.nn.softmax(tf.random.stateless_normal([9, len(ops)], [3, 4]))
  cell(inputs, probs=probs)  # Builds.
  rng = np.random.default_rng(0)
  subset = rng.random(probs.shape) < 0.5
  subset[:2] = False  # Node 0's two edges: all skipped.
  choice = rng.integers(-1, len(ops), probs.shape[0]).astype(np.int32)
  choice[:2] = -1
  one_each = np.arange(len(ops)) == choice[:, None]
  compiled = tf.function(masked.cell_output, autograph=False)
  for mask, kept in ((subset, subset), (tf.constant(subset), subset),
                     (tf.constant(choice), one_each)):
    expected = cell(inputs, probs=tf.where(kept, probs, 0.0),
                    training=False).numpy()
    assert not expected[..., :4].any()  # Node 0 (concat of nodes 0-2).
    forwards = [masked.cell_output] + (
        [compiled] if isinstance(mask, tf.Tensor) else [])
    for forward in forwards:
      np.testing.assert_allclose(forward(cell, inputs, probs, mask), expected,
                                 rtol=1e-5, atol=1e-5)


@pytest.mark.slow  # A whole search or build; not in make test-fast.
def test_compiled_forward_matches_the_eager_one_for_every_alpha(tmp_path,
                                                                digits):
  """One trace serves all one-hot alphas (an op index per edge), one all
  soft ones (a mask): the same logits and NASWOT K (skipped ops and their
  ReLUs left out) as the eager forward."""
  helpers.parse_gin(TINY + 'DartsSupernet.num_nodes = 2')  # 5 edges: quick.
  env = _env(tmp_path, digits, num_envs=1, compiled_forward=True)
  rng = np.random.default_rng(0)
  images, _ = next(env.reward.reward_batches)
  one_hot = {t: np.eye(n, dtype=np.float32)[rng.integers(0, n, e)]
             for t, (e, n) in env.shapes.items()}
  soft = reward_lib.probabilities(env._draw_alpha(rng, 1))[0]  # pylint: disable=protected-access
  every_third = np.arange(soft['normal'].size).reshape(soft['normal'].shape)
  soft = {t: np.where(every_third % 3 == 0, 1e-3, p).astype(np.float32)
          for t, p in soft.items()}  # Every op somewhere at the threshold.
  other = {t: np.roll(p, 1, axis=-1) for t, p in one_hot.items()}
  near = {t: (0.9965 * p + 0.0005 * (1 - p)).astype(np.float32)
          for t, p in other.items()}  # One op per edge, weighted below 1.
  for probs in (one_hot, soft, other, near):
    results = []
    for compiled in (True, False):
      env.settings.compiled_forward = compiled
      logits, kernel = env.reward.forward(images, probs, record=True)
      results.append((logits.numpy(), kernel.numpy()))
    (logits, kernel), (eager_logits, eager_kernel) = results
    np.testing.assert_allclose(logits, eager_logits, rtol=1e-5, atol=1e-7)
    # The same ReLUs recorded (K's diagonal counts them); a unit whose input
    # is within rounding of 0 may flip sign under another summation order
    # (seen on CI: 126 of 4,096 entries off by 1), nothing more.
    np.testing.assert_array_equal(np.diag(kernel), np.diag(eager_kernel))
    np.testing.assert_allclose(kernel, eager_kernel, atol=4)
    assert naswot.score_kernel(kernel, ridge=1.0) == pytest.approx(
        naswot.score_kernel(eager_kernel, ridge=1.0), abs=1e-2)
  # One trace per guard: an op index per edge (one-hot), a mask (soft).
  assert env.reward.compiled_forward.experimental_get_tracing_count() == 2


def test_noise_op_draws_fresh_values_in_s4():
  supernet = darts_networks.DartsSupernet(space='s4')
  probs = {t: np.tile(np.array([[1.0, 0.0]], np.float32), (14, 1))
           for t in ('normal', 'reduce')}
  x = tf.random.normal([2, 8, 8, 3])
  first = supernet(x, probs, training=False).numpy()
  assert np.abs(first - supernet(x, probs, training=False).numpy()).max() > 0


# The search environment ----------------------------------------------------------


def test_discrete_episodes_set_one_hot_edges_and_reward_at_the_end(
    tmp_path, digits):
  env = _env(tmp_path, digits, reward='acc')
  weights = [v.numpy().copy() for v in env.supernet.variables]
  num_ops = 8
  step = env.reset()
  assert step.observation.shape == (2, 2 * 14 * num_ops)
  np.testing.assert_allclose(step.observation, 1 / num_ops, atol=1e-3)
  for t in range(28):
    actions = np.array([t % num_ops, 3], np.int32)
    step = env.step(actions)
    if t < 27:
      assert (step.reward == 0).all() and (step.step_type == 1).all()
      probs = step.observation[0].reshape(2, 14, num_ops)[t // 14, t % 14]
      np.testing.assert_allclose(probs, np.eye(num_ops)[t % num_ops],
                                 atol=1e-6)
  assert (step.step_type == 2).all()
  assert ((step.reward >= 0) & (step.reward <= 1)).all()
  # The LAST step shows the next episode's fresh alpha.
  np.testing.assert_allclose(step.observation, 1 / num_ops, atol=1e-3)
  assert env.last_alpha['normal'][13, 13 % num_ops] == 1e6
  # Weights never change in discrete mode; they are checkpointed all the
  # same (they define the reward a resumed search optimises).
  assert all((w == v.numpy()).all()
             for w, v in zip(weights, env.supernet.variables))
  assert list(env.trackables()) == ['supernet']


@pytest.mark.slow  # A whole search or build; not in make test-fast.
def test_the_seed_decides_the_supernet_and_its_rewards(tmp_path, digits):
  """For the untrained rows the random supernet is the reward: --seed
  (runs.seed_everything) fixes it, and another seed draws another."""
  from rl_darts.runtime import runs  # pylint: disable=g-import-not-at-top
  weights = []
  for seed in (3, 3, 4):
    runs.seed_everything(seed)
    env = _env(tmp_path / str(len(weights)), digits, num_envs=1)
    weights.append(np.concatenate([v.numpy().ravel()
                                   for v in env.supernet.trainable_variables]))
  np.testing.assert_array_equal(weights[0], weights[1])
  assert not np.array_equal(weights[0], weights[2])


def test_bad_actions_and_non_finite_rewards_stop_the_search(tmp_path, digits,
                                                            monkeypatch):
  """An action outside the spec is an error naming both (never an
  IndexError); a non-finite reward stops before it reaches the agent,
  naming the alpha that scored it."""
  env = _env(tmp_path, digits, reward='acc')
  env.reset()
  with pytest.raises(ValueError, match=r'action array\(\[8, 0\].*outside '
                     r'the action spec .*maximum=7'):
    env.step(np.array([8, 0], np.int32))
  monkeypatch.setattr(env.reward, 'score', lambda probs: -np.inf)
  for _ in range(27):
    env.step(np.array([1, 2], np.int32))
  with pytest.raises(checkpointing.NonFiniteError, match=(
      r'reward -inf of env 0, whose alpha is saved in .*nonfinite_alpha.npz '
      r"\(decoded: Genotype\(normal=\[\('max_pool_3x3'")):
    env.step(np.array([1, 2], np.int32))
  saved = np.load(tmp_path / 'nonfinite_alpha.npz')
  assert saved['reduce'][13, 1] == 1e6  # Env 0's last action, on its alpha.


def test_reward_check_scores_random_policy_cells_on_the_same_batches(
    tmp_path, digits):
  env = _env(tmp_path, digits, reward='loss', check_cells=5, check_batches=2)
  alphas = env.random_alphas(5, seed=7)  # 3 rounds of the 2 envs, cut to 5.
  assert len(alphas) == 5
  for alpha in alphas:  # A random policy's discrete episode: one op per edge.
    for cell in alpha.values():
      assert ((cell == 1e6).sum(-1) == 1).all()
  drawn = np.concatenate([np.argmax(a['normal'], -1) for a in alphas])
  assert len(set(drawn)) == 8  # 70 uniform draws over 8 ops.
  check = artifacts.reward_check(env, alphas[3], seed=7)
  # The same cell on the same batches scores the same (losses are never
  # equal by chance); the others differ.
  assert check['random'][3] == check['final']
  assert len(set(check['random'])) == 5
  assert check['fraction_below_final'] == np.mean(
      np.array(check['random']) < check['final'])
  assert check['random_mean'] == pytest.approx(np.mean(check['random']))
  assert check['reward'] == 'loss' and check['batches'] == 2


@pytest.mark.parametrize('reward', ['loss', 'nwot'])
def test_rewards(reward, tmp_path, digits):
  env = _env(tmp_path, digits, num_envs=1, reward=reward)
  env.reset()
  for _ in range(28):
    step = env.step(np.array([4], np.int32))
  if reward == 'loss':
    assert step.reward[0] < 0
  else:
    assert step.reward[0] > 10  # log|det K| of 64 images.


@pytest.mark.slow  # A whole search or build; not in make test-fast.
def test_continuous_mode_steps_alpha_trains_weights_and_stacks_frames(
    tmp_path, digits):
  env = _env(tmp_path, digits, num_envs=1, mode='continuous', reward='loss',
             passes=2, sgd_every=28, gradient_features=True, frame_stack=3)
  num_ops, frame = 8, 4 * 14 * 8
  step = env.reset()
  assert step.observation.shape == (1, 3 * frame)
  blocks = step.observation[0].reshape(3, 4, 14, num_ops)
  np.testing.assert_array_equal(blocks[0], blocks[2])  # Stack starts full.
  assert np.abs(blocks[2, 1]).max() > 0  # Gradient features.
  weights = [v.numpy().copy() for v in env.supernet.trainable_variables]
  before = env.alpha['normal'][0, 0].copy()
  action = np.linspace(-1, 1, num_ops).astype(np.float32)[None]
  step = env.step(2 * action)  # Clipped to [-1, 1].
  np.testing.assert_allclose(env.alpha['normal'][0, 0] - before,
                             0.01 * np.clip(2 * action[0], -1, 1), atol=1e-7)
  for t in range(1, 56):
    if t == 27:
      assert all((w == v.numpy()).all() for w, v in
                 zip(weights, env.supernet.trainable_variables))
    step = env.step(np.zeros((1, num_ops), np.float32))
    if t < 55:
      assert step.reward[0] == 0
  assert step.step_type[0] == 2 and step.reward[0] < 0
  assert any((w != v.numpy()).any() for w, v in
             zip(weights, env.supernet.trainable_variables))
  assert set(env.trackables()) == {'supernet', 'supernet_optimizer'}


def test_bad_search_settings():
  with pytest.raises(ValueError, match="unknown reward 'accuracy'; allowed: "
                     'acc, loss, nwot'):
    environment.SearchSettings(reward='accuracy')
  with pytest.raises(ValueError, match="unknown search mode 'both'"):
    environment.SearchSettings(mode='both')
  with pytest.raises(ValueError, match='continuous-mode options'):
    environment.SearchSettings(frame_stack=4)
  with pytest.raises(ValueError, match='check_cells must be >= 0 and '
                     'check_batches >= 1; got -1, 4'):
    environment.SearchSettings(check_cells=-1)


def test_missing_pretrained_supernet_is_a_clear_error(tmp_path, digits):
  with pytest.raises(ValueError, match='no pretrained supernet under'):
    _env(tmp_path, digits, checkpoint=str(tmp_path / 'none'))


def test_a_planted_search_is_rewarded_most_at_its_plant(tmp_path, digits):
  """The supernet's own output at a dense plant labels the data: there the
  loss reward is minus the labels' entropy, which no other cell reaches, and
  accuracy is 1; the plant is recorded and a rerun reads it back."""
  tf.keras.utils.set_random_seed(0)  # The supernet's weights label the data.
  env = _env(tmp_path, digits, reward='loss', plant='random', check_cells=0)
  plant = env.reward.plant
  names = json.loads((tmp_path / 'plant.json').read_text())
  assert [len(names[t]) for t in ('normal', 'reduce')] == [14, 14]
  assert 'none' not in names['normal'] + names['reduce']
  images, labels = next(env.reward.reward_batches)
  assert labels.shape == (len(images), 10)
  entropy = -np.mean(np.sum(labels * np.log(labels), -1))
  at_plant = env.reward.score(planted.one_hot(plant, env.shapes),
                              (images, labels))
  assert at_plant == pytest.approx(-entropy, rel=1e-4)
  rng = np.random.default_rng(0)
  for _ in range(8):
    other = {t: rng.integers(0, n, edges) for t, (edges, n) in
             env.shapes.items()}
    # Cross-entropy minus entropy is a KL divergence: positive off the plant
    # (a random-weight supernet's near-uniform outputs keep it small).
    assert env.reward.score(planted.one_hot(other, env.shapes),
                            (images, labels)) < at_plant
  assert planted.recovery(planted.one_hot(plant, env.shapes), plant) == 1.0
  wrong = {t: (p + 1) % env.shapes[t][1] for t, p in plant.items()}
  assert planted.recovery(planted.one_hot(wrong, env.shapes), plant) == 0.0
  again = _env(tmp_path, digits, reward='acc', plant='random', check_cells=0)
  assert all((again.reward.plant[t] == plant[t]).all() for t in plant)
  assert again.reward.score(planted.one_hot(plant, env.shapes)) == 1.0


def test_bad_plants_are_named(tmp_path, digits):
  path = tmp_path / 'plant_in.json'
  path.write_text(json.dumps({'normal': ['sep_conv_3x3'] * 14,
                              'reduce': ['conv_9x9'] * 14}))
  with pytest.raises(ValueError, match=r"op 'conv_9x9' of the 'reduce' cell "
                     r"is not a non-Zero op of search space 'darts'; "
                     r'allowed: max_pool_3x3'):
    _env(tmp_path / 'a', digits, plant=str(path))
  path.write_text(json.dumps({'normal': ['skip_connect'] * 3}))
  with pytest.raises(ValueError, match=r"needs 14 op names for the 'normal' "
                     r'cell'):
    _env(tmp_path / 'b', digits, plant=str(path))
  with pytest.raises(ValueError, match=r"plant '/no/plant.json': allowed: "
                     r"'random' or a JSON file"):
    _env(tmp_path / 'c', digits, plant='/no/plant.json')
  with pytest.raises(ValueError, match=r'plant needs mode discrete .* got '
                     r'continuous, acc'):
    environment.SearchSettings(mode='continuous', plant='random')


# Launchers end to end --------------------------------------------------------


def test_search_writes_a_genotype_and_resumes_after_sigkill(tmp_path):
  root = str(tmp_path / 'search')
  process = helpers.launch('launchers.nas_rl', root, TINY_SEARCH,
                           'PPOSettings.total_env_steps = 100000', wait=False)
  done = helpers.kill_at_checkpoint(process, root, min_step=112)
  killed_at = tf.train.latest_checkpoint(os.path.join(root, 'checkpoints'))
  out = helpers.launch('launchers.nas_rl', root, TINY_SEARCH,
                       f'PPOSettings.total_env_steps = {done + 112}')
  assert 'Resuming at' in out
  # The resumed search scores alpha on the same supernet: a fixed alpha gets
  # the same logits from the supernet of the killed and of the last checkpoint.
  finished_at = tf.train.latest_checkpoint(os.path.join(root, 'checkpoints'))
  assert finished_at != killed_at
  images = image_data.load_digits().test_images[:16].astype(np.float32) / 255
  logits = []
  for path in (killed_at, finished_at):
    supernet = darts_networks.DartsSupernet(space='dartsrl', channels=4,
                                            layers=3)
    probs = {t: tf.nn.softmax(np.linspace(-1, 1, np.prod(s)).reshape(s)
                              ).numpy().astype(np.float32)
             for t, s in supernet.alpha_shapes().items()}
    supernet(images[:1], probs)
    checkpoint = tf.train.Checkpoint(supernet=supernet)
    checkpoint.restore(path).assert_existing_objects_matched()
    logits.append(supernet(images, probs, training=False).numpy())
  np.testing.assert_array_equal(logits[0], logits[1])
  steps = [int(r['step']) for r in helpers.rows(os.path.join(root,
                                                             'metrics.csv'))]
  assert steps == list(range(56, done + 113, 56))
  genotype = genotypes.Genotype.load(os.path.join(root, 'genotype.json'))
  with open(os.path.join(root, 'genotype.txt')) as f:
    assert genotypes.Genotype.from_darts_string(f.read()) == genotype
  assert all(len(node) == 2 for node in genotype.normal + genotype.reduce)
  with open(os.path.join(root, 'reward_check.json')) as f:
    assert len(json.load(f)['random']) == 4
  for name in ('genotype_normal.png', 'genotype_reduce.png', 'reward.png',
               'final_alpha.npz', 'split.json'):
    assert os.path.exists(os.path.join(root, name)), name
  assert os.listdir(os.path.join(root, 'alpha_snapshots'))


def test_pretraining_resumes_after_sigkill_and_feeds_the_search(tmp_path):
  root = str(tmp_path / 'pretrain')
  args = ['--gin_configs=gin_configs/nas_rl/pretrain.gin',
          "--gin_bindings=load_dataset.dataset = 'digits'",
          '--gin_bindings=DartsSupernet.channels = 4',
          '--gin_bindings=DartsSupernet.layers = 3',
          '--gin_bindings=DartsSupernet.num_nodes = 2',  # A 3x smaller graph.
          '--gin_bindings=OptimizerSettings.batch_size = 256']
  process = helpers.launch('launchers.pretrain_supernet', root, args,
                           'OptimizerSettings.epochs = 50', wait=False)
  done = helpers.kill_at_checkpoint(process, root)
  out = helpers.launch('launchers.pretrain_supernet', root, args,
                       f'OptimizerSettings.epochs = {done + 1}')
  assert f'Resuming at {done} epochs' in out
  rows = helpers.rows(os.path.join(root, 'metrics.csv'))
  assert [int(r['epoch']) for r in rows] == list(range(1, done + 2))
  assert float(rows[-1]['best_valid_acc']) == max(
      float(r['valid_acc']) for r in rows)
  # The ckpt variant loads these weights into the search env's supernet.
  supernet = darts_networks.DartsSupernet(space='dartsrl', num_nodes=2)
  probs = {t: np.full(s, 1 / s[1], np.float32)
           for t, s in supernet.alpha_shapes().items()}
  supernet(tf.zeros([1, 8, 8, 3]), probs)
  fresh = [v.numpy().copy() for v in supernet.trainable_variables]
  digits = image_data.load_digits()
  pretrain.restore(supernet, digits, root)
  assert any((f != v.numpy()).any() for f, v in
             zip(fresh, supernet.trainable_variables))
  # Weights pretrained for another supernet or data set are refused.
  wider = darts_networks.DartsSupernet(space='dartsrl', channels=6, layers=3,
                                       num_nodes=2)
  with pytest.raises(ValueError, match=r"channels 4 \(checkpoint\) vs 6"):
    pretrain.restore(wider, digits, root)
  other_data = image_data.ImageData(
      'cifar10', np.zeros([2, 32, 32, 3], np.uint8), np.zeros(2, int),
      digits.test_images, digits.test_labels, digits.mean, digits.std, 4, True)
  with pytest.raises(ValueError, match="dataset 'digits' .checkpoint. vs "
                     "'cifar10'.*image_shape"):
    pretrain.restore(supernet, other_data, root)


def test_a_cutout_as_large_as_the_images_is_an_error(tmp_path):
  """DARTS's 16 blanks every 8x8 digit (its square covers the image)."""
  helpers.parse_gin(TINY + "load_dataset.dataset = 'digits'")
  with pytest.raises(ValueError, match=(
      r'Regularization.cutout = 16 blanks most or all of every 8x8 image; '
      r'allowed: 0 \(off\) to 7')):
    darts_eval.train(str(tmp_path), DARTS_V2)


def test_darts_eval_and_describe_launchers(tmp_path):
  out = helpers.launch(
      'launchers.darts_eval', tmp_path / 'eval',
      ['--gin_configs=gin_configs/darts_eval/dartsrl_code.gin',
       "--gin_bindings=load_dataset.dataset = 'digits'",
       '--gin_bindings=DartsNetwork.channels = 4',
       '--gin_bindings=DartsNetwork.layers = 5',
       '--gin_bindings=OptimizerSettings.epochs = 2',
       '--gin_bindings=Regularization.cutout = 4',
       f'--genotype={DARTS_V2}'])
  assert 'Final test accuracy' in out
  rows = helpers.rows(tmp_path / 'eval' / 'metrics.csv')
  assert [int(r['epoch']) for r in rows] == [1, 2]
  assert 0 <= float(rows[-1]['test_acc']) <= 1
  described = subprocess.run(
      [sys.executable, '-m', 'launchers.describe',
       '--darts_genotype=DARTS_V2'], cwd=helpers.REPO, capture_output=True,
      text=True, timeout=300, check=True)
  assert '3,349,342 parameters without the auxiliary head' in described.stdout
  message = helpers.fails('launchers.darts_eval', tmp_path / 'bad',
                          ["--gin_bindings=load_dataset.dataset = 'digits'",
                           '--gin_bindings=Regularization.cutout = 4',
                           '--genotype=Genotype(normal=[oops])'])
  assert "expected Genotype(normal=[('op', input), ...]" in message
  message = helpers.fails('launchers.darts_eval', tmp_path / 'default',
                          [f'--genotype={DARTS_V2}'])
  assert "dataset 'cifar10' needs a data directory" in message  # darts.gin.
  message = helpers.fails('launchers.nas_rl', tmp_path / 'bad2',
                          ['--gin_configs=gin_configs/nas_rl/disc_acc.gin',
                           '--data_dir=/no/cifar'])
  assert "CIFAR-10 directory '/no/cifar': no such directory" in message
