"""SAC on DM-Control from pixels (RL-DARTS App. A.3): the rendered, action-
repeated, frame-stacked environment; who trains the shared encoder; and the
launcher's supernet search killed and resumed. (Each config takes SAC steps
in tests/test_configs.py.)"""

import os
import subprocess
import sys

import gin
import numpy as np
import pytest
import tensorflow as tf

from rl_darts.agents.sac import train
from rl_darts.envs import control_env
from tests import helpers

TINY = ["ControlTask.domain = 'cartpole'", "ControlTask.task = 'swingup'",
        'ControlTask.image_size = 16', 'Supernet.depths = [4]',
        'Supernet.num_nodes = 2', 'SACSettings.hidden_units = [8]',
        'SACSettings.batch_size = 4', 'SACSettings.initial_collect_steps = 10',
        'SACSettings.steps_per_iteration = 80',
        'SACSettings.eval_episodes = 1']


def test_pixels_repeat_actions_stack_frames_and_truncate():
  task = control_env.ControlTask(domain='cartpole', task='swingup',
                                 image_size=16)
  assert task.repeat == 8  # PlaNet's for cartpole-swingup.
  env = task.make(seed=3)
  twin = control_env._suite().load('cartpole', 'swingup',  # pylint: disable=protected-access
                                   task_kwargs={'random': 3})
  twin.reset()
  step = env.reset()
  assert env.observation_spec().shape == (16, 16, 9)
  assert step.observation.dtype == np.uint8 and step.observation.std() > 0
  np.testing.assert_array_equal(step.observation[..., :3],
                                step.observation[..., 6:])  # One frame x 3.
  action = np.array([0.7], np.float32)
  previous = step.observation
  step = env.step(action)
  # The reward of 8 physics steps with the action, the same physics.
  assert step.reward == pytest.approx(
      sum(twin.step(action).reward for _ in range(8)), rel=1e-6)
  np.testing.assert_array_equal(step.observation[..., :6],
                                previous[..., 3:])  # The stack shifts.
  assert not np.array_equal(step.observation[..., 6:], previous[..., 6:])
  steps = 1
  while not step.is_last():
    step = env.step(action)
    steps += 1
  assert steps == 1000 // 8  # The suite's 1,000-step limit, a truncation.
  assert step.discount == 1.0
  assert env.step(action).is_first()
  with pytest.raises(ValueError, match=r'action array\(\[0.1, 0.2\].*does '
                     r'not fit the action spec'):
    env.step(np.array([0.1, 0.2], np.float32))
  with pytest.raises(ValueError, match='unknown DM-Control task cheetah-walk;'
                     ' allowed: .*cheetah-run'):
    control_env.ControlTask(domain='cheetah', task='walk')


def test_without_a_gl_backend_the_error_says_what_to_install():
  result = subprocess.run(
      [sys.executable, '-c', 'from rl_darts.envs import control_env; '
       'control_env.ControlTask().make(0)'],
      cwd=helpers.REPO, env={**os.environ, 'MUJOCO_GL': 'no_such_backend'},
      capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode != 0
  assert 'MuJoCo cannot render offscreen here' in result.stderr
  assert 'apt-get install libegl1 libgl1-mesa-dri' in result.stderr


def test_the_critic_loss_trains_the_shared_encoder_and_alpha(monkeypatch):
  """Both critics hold one encoder (a supernet's alpha among its variables);
  the targets another; the actor reads features but owns no encoder
  variable, so only the critic loss moves it."""
  monkeypatch.chdir(helpers.REPO)  # Includes are relative to the checkout.
  gin.clear_config()
  gin.parse_config_files_and_bindings(['gin_configs/sac/micro_search.gin'],
                                      TINY)
  try:
    settings = train.SACSettings()
    agent, encoder = train.build_agent(settings, settings.task.make(0))
  finally:
    gin.clear_config()
  ids = lambda variables: {id(v) for v in variables}  # pylint: disable=unnecessary-lambda-assignment
  shared = ids(encoder.trainable_variables)
  assert any('alpha' in v.name for v in encoder.trainable_variables)
  critics = [agent._critic_network_1, agent._critic_network_2]  # pylint: disable=protected-access
  targets = [agent._target_critic_network_1, agent._target_critic_network_2]  # pylint: disable=protected-access
  assert all(shared <= ids(c.trainable_variables) for c in critics)
  assert targets[0].encoder is targets[1].encoder is not encoder
  assert not shared & ids(agent._actor_network.trainable_variables)  # pylint: disable=protected-access
  # The actor's features depend on the encoder but pass no gradient to it.
  images = tf.random.uniform([2, 16, 16, 9], 0, 255, tf.int32)
  with tf.GradientTape() as tape:
    distribution, _ = agent._actor_network(tf.cast(images, tf.uint8))  # pylint: disable=protected-access
    loss = tf.reduce_sum(distribution.mean())
  assert all(g is None for g in tape.gradient(loss, encoder.trainable_variables))


def test_search_writes_alpha_and_a_genotype_and_resumes_after_sigkill(
    tmp_path):
  root = str(tmp_path / 'search')
  args = ['--gin_configs=gin_configs/sac/micro_search.gin',
          *(f'--gin_bindings={b}' for b in TINY)]
  process = helpers.launch('launchers.sac', root, args,
                           'SACSettings.total_env_steps = 100000',
                           wait=False)
  done = helpers.kill_at_checkpoint(process, root, min_step=160)
  out = helpers.launch('launchers.sac', root, args,
                       f'SACSettings.total_env_steps = {done + 160}',
                       f'SACSettings.discretize_at = {done + 80}')
  assert f'Resuming at {done} env steps' in out
  rows = helpers.rows(os.path.join(root, 'metrics.csv'))
  steps = [int(r['step']) for r in rows]
  assert steps == sorted(set(steps)) and steps[-1] >= done + 160
  assert all(np.isfinite(float(r['critic_loss'])) for r in rows)
  assert float(rows[-1]['train_steps']) > float(rows[0]['train_steps'])
  alpha = helpers.rows(os.path.join(root, 'alpha.csv'))
  first, last = ([float(v) for k, v in r.items() if k != 'step']
                 for r in (alpha[0], alpha[-1]))
  assert np.abs(np.subtract(first, last)).max() > 1e-4  # Alpha trained.
  for name in ('genotype.json', 'genotype_normal.png', 'alpha.png'):
    assert os.path.exists(os.path.join(root, name)), name
