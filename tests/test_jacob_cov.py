"""Jacobian covariance: the score against a direct computation, what lowers
it, and the random-search study's table (in process, then by its launcher on
Procgen frames)."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats
import tensorflow as tf

from rl_darts.experiments import jacob_cov
from rl_darts.space import genotypes
from rl_darts.space import networks
from rl_darts.space import ops
from tests import helpers
from rl_darts.experiments import cell_studies


def _relu_model(w):
  return lambda x: tf.nn.relu(tf.reshape(x, [tf.shape(x)[0], -1]) @ w)


def test_score_equals_a_direct_computation():
  rng = np.random.default_rng(0)
  frames = rng.integers(0, 256, (6, 4, 4, 3), dtype=np.uint8)
  w = rng.standard_normal((48, 10)).astype(np.float32)
  x = frames.reshape(6, -1) / 255.0
  jacobians = (x @ w > 0) @ w.T  # d sum(relu(x W)) / dx, per frame.
  s = np.linalg.eigvalsh(np.corrcoef(jacobians)) + 1e-5
  expected = -np.sum(np.log(s) + 1 / s)
  assert jacob_cov.score(_relu_model(tf.constant(w)), frames) == (
      pytest.approx(expected, rel=1e-4))


def test_equal_jacobians_score_far_below_distinct_ones():
  rng = np.random.default_rng(1)
  frames = rng.integers(0, 256, (8, 4, 4, 3), dtype=np.uint8)
  w = tf.constant(rng.standard_normal((48, 32)).astype(np.float32))
  distinct = jacob_cov.score(_relu_model(w), frames)
  linear = jacob_cov.score(lambda x: tf.reshape(x, [8, -1]) @ w, frames)
  twins = jacob_cov.score(_relu_model(w), np.concatenate([frames[:7],
                                                          frames[:1]]))
  assert linear < twins < distinct and distinct - twins > 1e4


def test_a_frame_with_dead_features_scores_nan():
  rng = np.random.default_rng(2)
  frames = rng.integers(1, 256, (4, 4, 4, 3), dtype=np.uint8)
  frames[2] = 0  # Every feature dead on it: a constant Jacobian.
  model = lambda x: tf.nn.relu(x - 0.5)
  assert np.isnan(jacob_cov.score(model, frames))
  assert np.isfinite(jacob_cov.score(model, frames[[0, 1, 3]]))


def test_study_scores_every_cell_against_its_return(tmp_path):
  tf.random.set_seed(0)
  micro = ops.get_space('micro')
  rng = np.random.default_rng(0)
  cells = []
  for i in range(4):
    cell = genotypes.sample(micro, 1, 2, 1, rng)
    cell.save(cell_studies.cell_path(str(tmp_path), i))
    cells.append({'cell': i, 'final_return': [0.2, 0.9, 0.5, None][i]})
  (tmp_path / 'summary.json').write_text(json.dumps({'cells': cells}))
  batches = rng.integers(0, 256, (2, 5, 16, 16, 3), dtype=np.uint8)
  result = jacob_cov.study(str(tmp_path), batches, [4, 4])
  with open(tmp_path / 'jacob_cov.csv', newline='') as f:
    rows = list(csv.DictReader(f))
  assert [float(r['score']) for r in rows] == pytest.approx(
      [r['score'] for r in result['rows']], nan_ok=True)
  # Cell 3 has no return; a tiny cell can be dead on a frame (NaN score).
  ranked = [(r['score'], r['final_return']) for r in result['rows'][:3]
            if np.isfinite(r['score'])]
  # A cell's score is the mean over the mini-batches' finite scores.
  network = networks.DiscreteNetwork(genotypes.Genotype.load(
      cell_studies.cell_path(str(tmp_path), 0)), depths=[4, 4])
  assert jacob_cov.mean_score(network, batches) == pytest.approx(np.nanmean(
      [jacob_cov.score(network, b) for b in batches]), nan_ok=True)
  assert result['ranked'] == len(ranked)
  expected = (stats.spearmanr(*zip(*ranked)).statistic if len(ranked) > 2
              else float('nan'))
  assert result['spearman_rho'] == pytest.approx(expected, nan_ok=True)
  assert (tmp_path / 'jacob_cov.png').stat().st_size > 0
  result = subprocess.run(
      [sys.executable, '-m', 'launchers.jacob_cov',
       f'--random_search_dir={tmp_path}', '--game=starpilot', '--frames=4',
       '--batches=2', '--policy_steps=3', '--depths=4,4'], cwd=helpers.REPO,
      capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode == 0, result.stdout + result.stderr
  assert "2 mini-batches of 4 from random play on starpilot" in result.stdout
  assert 'Spearman rank correlation' in result.stdout
  assert ' of 4 cells' in result.stdout
  rows = list(csv.DictReader(open(tmp_path / 'jacob_cov.csv', newline='')))
  assert [int(r['cell']) for r in rows] == [0, 1, 2, 3]


def test_frames_come_from_a_trained_rainbow_policy(tmp_path):
  """App. A.2: a finished Rainbow run's policy plays the frames, on its
  game, the results going to --root_dir; a PPO run or another game is a
  clear error."""
  policy = tmp_path / 'policy'
  helpers.launch('launchers.rainbow', policy, [
      '--gin_configs=gin_configs/rainbow/impala_cnn.gin',
      '--gin_bindings=Environment.game = "dodgeball"',
      '--gin_bindings=Environment.num_envs = 2',
      '--gin_bindings=ImpalaCNN.depths = [4]',
      '--gin_bindings=DuelingC51.hidden_units = 8',
      '--gin_bindings=RainbowSettings.batch_size = 4',
      '--gin_bindings=RainbowSettings.min_replay_size = 8',
      '--gin_bindings=RainbowSettings.steps_per_iteration = 16',
      '--gin_bindings=RainbowSettings.total_env_steps = 16',
      '--gin_bindings=RainbowSettings.eval_every = 0'])
  search = tmp_path / 'search'
  micro = ops.get_space('micro')
  rng = np.random.default_rng(0)
  for i in range(2):
    genotypes.sample(micro, 1, 2, 1, rng).save(
        cell_studies.cell_path(str(search), i))
  (search / 'summary.json').write_text(json.dumps(
      {'cells': [{'cell': 0, 'final_return': 0.1},
                 {'cell': 1, 'final_return': 0.2}]}))
  args = [f'--random_search_dir={search}', f'--policy_dir={policy}',
          '--frames=4', '--batches=2', '--policy_steps=3', '--depths=4,4']
  out = tmp_path / 'scores'  # --root_dir: the results beside, not inside.
  result = _jacob_cov(args + [f'--root_dir={out}'])
  assert result.returncode == 0, result.stdout + result.stderr
  assert f"2 mini-batches of 4 from '{policy}' on dodgeball" in result.stdout
  rows = list(csv.DictReader(open(out / 'jacob_cov.csv', newline='')))
  assert [int(r['cell']) for r in rows] == [0, 1]
  assert (out / 'jacob_cov.png').is_file()
  assert not (search / 'jacob_cov.csv').exists()
  result = _jacob_cov(args + ['--game=maze'])
  assert result.returncode != 0 and 'Traceback' not in result.stderr
  assert ("--game=maze but the policy of --policy_dir played 'dodgeball'"
          in result.stdout + result.stderr)


def _jacob_cov(args):
  return subprocess.run([sys.executable, '-m', 'launchers.jacob_cov', *args],
                        cwd=helpers.REPO, capture_output=True, text=True,
                        timeout=600, check=False)
