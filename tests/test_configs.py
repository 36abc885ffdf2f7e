"""Every shipped gin config runs: each is built as its launcher builds it and
takes at least one step of the real loop, shrunk by the same bindings as every
other config of that launcher (no hand-shrunk copies); the few that the
study's smoke test runs through their launchers are left to it."""

import glob
import os

import gin
import pytest
import tensorflow as tf

from launchers import describe
from launchers import synthetic_search
from rl_darts.agents.ppo import train as ppo_train
from rl_darts.agents.rainbow import train as rainbow_train
from rl_darts.agents.sac import train as sac_train
from rl_darts.experiments import cell_studies
from rl_darts.nas_rl import darts_eval
from rl_darts.nas_rl import environment  # pylint: disable=unused-import
from rl_darts.nas_rl import pretrain
from rl_darts.space import darts_networks
from rl_darts.space import networks
from tests import helpers

PROCGEN = ['Supernet.depths = [4]', 'Supernet.num_nodes = 2',
           'ImpalaCNN.depths = [4]', 'DiscreteNetwork.depths = [4]',
           "Environment.game = 'starpilot'", 'Environment.num_envs = 2']
DARTS = ["load_dataset.dataset = 'digits'", 'DartsSupernet.channels = 4',
         'DartsSupernet.layers = 3', 'DartsSupernet.num_nodes = 2',
         'DartsNetwork.channels = 4',
         'DartsNetwork.layers = 3', 'OptimizerSettings.epochs = 1']
# Per launcher (the config's folder): the shrinking bindings and what runs.
TINY = {
    'ppo': PROCGEN + ['PPOSettings.rollout_length = 8',
                      'PPOSettings.minibatch_size = 8',
                      'PPOSettings.total_env_steps = 16',
                      'PPOSettings.eval_steps = 4'],
    'rainbow': PROCGEN + ['DuelingC51.hidden_units = 8',
                          'RainbowSettings.batch_size = 4',
                          'RainbowSettings.min_replay_size = 8',
                          'RainbowSettings.steps_per_iteration = 16',
                          'RainbowSettings.total_env_steps = 32',
                          'RainbowSettings.eval_episodes = 1',
                          'RainbowSettings.eval_max_steps = 8'],
    'nas_rl': DARTS + ['Environment.num_envs = 1',
                       'SearchSettings.reward_batch = 8',
                       'SearchSettings.compiled_forward = False',
                       'SearchSettings.passes = 1',
                       'SearchSettings.check_cells = 2',
                       'SearchSettings.check_batches = 1',
                       'PPOSettings.rollout_length = 8',
                       'PPOSettings.minibatch_size = 8',
                       'PPOSettings.num_epochs = 1',
                       'PPOSettings.total_env_steps = 8',
                       'OptimizerSettings.batch_size = 256'],
    'darts_eval': DARTS + ['OptimizerSettings.batch_size = 256',
                           'DartsNetwork.auxiliary = False',  # 8x8 digits.
                           'Regularization.cutout = 4'],
    'sac': PROCGEN + ['ConvEncoder.filters = 4', "ControlTask.domain = 'cartpole'",
                      "ControlTask.task = 'swingup'", 'ControlTask.image_size = 16',
                      'SACSettings.total_env_steps = 160',
                      'SACSettings.initial_collect_steps = 10',
                      'SACSettings.steps_per_iteration = 80',
                      'SACSettings.batch_size = 4',
                      'SACSettings.hidden_units = [8]',
                      'SACSettings.eval_episodes = 1'],
    'networks': PROCGEN,
    'random_search': PROCGEN,
    'cell_evolution': PROCGEN,
    '': PROCGEN + ['synthetic_search.num_steps = 1',
                   'synthetic_search.batch_size = 4'],
}
SEARCH_OF_DISCRETE = {'ppo': 'gin_configs/ppo/classic_search.gin',
                      'rainbow': 'gin_configs/rainbow/micro_search.gin',
                      'sac': 'gin_configs/sac/micro_search.gin',
                      'networks': 'gin_configs/networks/classic_supernet.gin'}
# Overlays, added after a launcher config: the one they are tried on.
OVERLAYS = {'gin_configs/procgen_200_levels.gin': 'gin_configs/ppo/impala_cnn.gin',
            'gin_configs/procgen_all_games.gin': 'gin_configs/ppo/impala_cnn.gin',
            'gin_configs/rainbow/multigame_schedule.gin':
                'gin_configs/rainbow/micro_multigame.gin',
            'gin_configs/sac/pisac.gin': 'gin_configs/sac/micro_search.gin',
            'gin_configs/ppo/procgen_standard_optimizer.gin':
                'gin_configs/ppo/classic_search.gin',
            'gin_configs/rainbow/fast_learner.gin':
                'gin_configs/rainbow/impala_cnn.gin',
            'gin_configs/nas_rl/sgd_every_5.gin':
                'gin_configs/nas_rl/cont_acc_step.gin'}
# Configs the study's regeneration script runs end to end through their
# launchers at smoke scale (tests/test_study.py): not stepped again here.
RUN_BY_THE_STUDY = ('gin_configs/ppo/impala_cnn_16x3.gin',
                    'gin_configs/ppo/classic_search.gin',
                    'gin_configs/ppo/classic_frozen_uniform_alpha.gin',
                    'gin_configs/ppo/classic_no_relu_search.gin',
                    'gin_configs/ppo/discrete_16x3.gin',
                    'gin_configs/rainbow/micro_search.gin',
                    'gin_configs/nas_rl/disc_ckpt_loss.gin')
CONFIGS = sorted(
    c for c in (os.path.relpath(p, helpers.REPO) for p in glob.glob(
        os.path.join(helpers.REPO, 'gin_configs', '**', '*.gin'),
        recursive=True)) if c not in RUN_BY_THE_STUDY)


def _genotype_file(directory, search_config: str) -> str:
  """The genotype a search under `search_config` writes at its start."""
  _parse(search_config, TINY['networks'])
  supernet = networks.make_encoder()
  supernet(tf.zeros([1, 64, 64, 3]))
  path = os.path.join(directory, 'genotype.json')
  supernet.genotype().save(path)
  return path


def _parse(config: str, bindings: list[str]) -> None:
  """Parses `config` (after its base, for an overlay) and `bindings`, as the
  launchers do (`common.parse_gin`: the config stays open, so a module the
  run imports late, such as the planted bandit, may still register)."""
  gin.clear_config()
  gin.parse_config_files_and_bindings(
      [c for c in (OVERLAYS.get(config), config) if c], bindings,
      finalize_config=False)


def _run(config: str, root: str, pretrained: str) -> None:
  """Builds and steps `config` as its launcher does, under `root`."""
  folder = os.path.dirname(os.path.relpath(OVERLAYS.get(config, config),
                                           'gin_configs'))
  name = os.path.basename(config)
  base = os.path.basename(OVERLAYS.get(config, config))
  bindings = list(TINY[folder])
  if name.startswith('discrete_'):  # Bound to a search's genotype first.
    bindings.append(f"DiscreteNetwork.genotype = "
                    f"'{_genotype_file(root, SEARCH_OF_DISCRETE[folder])}'")
  if base.startswith(('disc_ckpt_', 'cont', 'planted')) and (
      folder == 'nas_rl'):  # From a pretrained supernet.
    bindings.append(f"SearchSettings.checkpoint = '{pretrained}'")
  if (base.endswith('_multigame.gin') or
      name == 'procgen_all_games.gin'):  # Two of its games, one env each.
    bindings.append("Environment.game = ['maze', 'starpilot']")
  _parse(config, bindings)
  if folder in ('random_search', 'cell_evolution'):  # Settings and space.
    training = cell_studies.CellTraining()
    assert os.path.isfile(os.path.join(helpers.REPO, training.cell_config))
    if folder == 'random_search':
      cells = cell_studies.draw_cells(root, 2, 0)
      assert cells[0].shape == networks.Supernet().shape
  elif folder == 'networks':  # Included by launcher configs: describe's build.
    assert 'parameters' in describe.describe(networks.make_encoder())
  elif name == 'supernet.gin':  # nas_rl's, included by every search.
    supernet = darts_networks.DartsSupernet()
    probs = {t: tf.fill(shape, 1 / shape[1])
             for t, shape in supernet.alpha_shapes().items()}
    assert supernet(tf.zeros([2, 8, 8, 3]), probs).shape == [2, 10]
  elif name == 'pretrain.gin':
    assert os.listdir(os.path.join(pretrained, 'best'))  # The fixture's run.
  elif folder in ('ppo', 'nas_rl'):
    assert ppo_train.train(root)['step'] > 0
  elif folder == 'rainbow':
    assert rainbow_train.train(root)['step'] > 0
  elif folder == 'sac':
    assert sac_train.train(root)['train_steps'] > 0
  elif folder == 'darts_eval':
    assert darts_eval.train(root, helpers.DARTS_V2)
  else:
    assert os.path.isfile(synthetic_search.synthetic_search(root))


@pytest.fixture(name='pretrained', scope='module')
def _pretrained(tmp_path_factory) -> str:
  """nas_rl/pretrain.gin's run: the checkpoint the ckpt searches start from."""
  root = str(tmp_path_factory.mktemp('pretrained'))
  cwd = os.getcwd()
  os.chdir(helpers.REPO)
  try:
    _parse('gin_configs/nas_rl/pretrain.gin', TINY['nas_rl'])
    assert pretrain.pretrain(root)
  finally:
    gin.clear_config()
    os.chdir(cwd)
  return root


@pytest.mark.parametrize('config', CONFIGS)
def test_config_runs(config, tmp_path, monkeypatch, pretrained):
  monkeypatch.chdir(helpers.REPO)  # Includes are relative to the checkout.
  try:
    _run(config, str(tmp_path), pretrained)
  finally:
    gin.clear_config()
