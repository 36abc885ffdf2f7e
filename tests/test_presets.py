"""The shipped presets hold the papers' stated settings (each assertion cites
where the paper states it)."""

import gin
import pytest

from rl_darts.agents.ppo import train as ppo_train
from rl_darts.agents.rainbow import train as rainbow_train
from rl_darts.nas_rl import environment
from rl_darts.space import networks


def _parse(*configs: str) -> None:
  gin.clear_config()
  gin.parse_config_files_and_bindings(list(configs), [])


@pytest.fixture(autouse=True)
def _clear():
  yield
  gin.clear_config()


@pytest.mark.parametrize('kernel', [3, 5])
def test_table1_impala_cnns_are_large_and_train_50m_steps(kernel):
  """App. C.1 and Table 1's caption: IMPALA-CNN 64 x 5, PPO, 50M steps."""
  _parse(f'gin_configs/ppo/impala_cnn_conv{kernel}x{kernel}_dodgeball.gin')
  assert gin.query_parameter('ImpalaCNN.depths') == [64] * 5
  assert gin.query_parameter('ImpalaCNN.kernel_size') == kernel
  settings = ppo_train.PPOSettings()
  assert settings.total_env_steps == 50_000_000
  assert settings.environment.game == 'dodgeball'


def _optimizer(config: str) -> tuple:
  _parse(config)
  settings = ppo_train.PPOSettings()
  return (settings.minibatch_size, settings.num_epochs,
          gin.query_parameter('make_agent.learning_rate'))


def test_table5a_baseline_offered_at_the_cells_settings():
  """App. F.3: the cells train with minibatch 256, 1 epoch, lr 1e-4;
  IMPALA-CNN with the Procgen standard 2048, 3, 5e-4."""
  assert _optimizer('gin_configs/ppo/impala_cnn_64x3.gin') == (2048, 3, 5e-4)
  darts = _optimizer('gin_configs/ppo/impala_cnn_64x3_darts_settings.gin')
  assert darts == (256, 1, 1e-4)
  assert gin.query_parameter('ImpalaCNN.depths') == [64, 64, 64]
  gin.clear_config()
  gin.parse_config_files_and_bindings(
      ['gin_configs/ppo/discrete_64x3.gin'],
      ["DiscreteNetwork.genotype = 'unused.json'"])
  settings = ppo_train.PPOSettings()
  assert (settings.minibatch_size, settings.num_epochs,
          gin.query_parameter('make_agent.learning_rate')) == darts


def test_table2_frozen_alpha_is_rainbow_micro_on_dodgeball():
  """App. B.2, Fig. 12: Rainbow with the Micro supernet on dodgeball."""
  _parse('gin_configs/rainbow/micro_frozen_uniform_alpha.gin')
  assert networks.Supernet().space.name == 'micro'
  assert gin.query_parameter('Supernet.freeze_alpha')
  assert rainbow_train.RainbowSettings().environment.game == 'dodgeball'


def test_fig7_too_deep_supernet_is_the_micro_search_at_64x3():
  """Fig. 7: the Rainbow Micro search of App. F.2 with its depth D at 64x3
  (the evaluation depth) instead of 16x3, on dodgeball; nothing else moves."""
  gin.clear_config()
  gin.parse_config_files_and_bindings(['gin_configs/rainbow/micro_search.gin'],
                                      ["Environment.game = 'dodgeball'"])
  searched = (gin.query_parameter('Supernet.depths'),
              rainbow_train.RainbowSettings())
  _parse('gin_configs/rainbow/micro_search_64x3.gin')
  assert networks.Supernet().space.name == 'micro'
  assert searched[0] == [16] * 3
  assert gin.query_parameter('Supernet.depths') == [64] * 3
  assert rainbow_train.RainbowSettings() == searched[1]
  assert searched[1].environment.game == 'dodgeball'


def test_continuous_rows_offer_the_papers_sgd_every_5():
  """Sec. 3.2: one SGD step on the weights after every 5 steps."""
  _parse('gin_configs/nas_rl/cont_acc_step.gin')
  assert environment.SearchSettings().sgd_every == 28  # The code's.
  _parse('gin_configs/nas_rl/cont_acc_step.gin',
         'gin_configs/nas_rl/sgd_every_5.gin')
  assert environment.SearchSettings().sgd_every == 5


def test_disc_nwot_scores_the_papers_log_det_k():
  """Eq. 12 and the authors' code: log|K|, no ridge."""
  _parse('gin_configs/nas_rl/disc_nwot.gin')
  assert environment.SearchSettings().naswot_ridge == 0.0


def test_sac_offers_the_authors_pisac_settings():
  """App. A.3: the PI-SAC code's settings (its predictive-information loss
  off), as the authors' gin states them."""
  from rl_darts.agents.sac import train as sac_train  # pylint: disable=g-import-not-at-top
  from rl_darts.envs import control_env  # pylint: disable=g-import-not-at-top
  _parse('gin_configs/sac/conv_baseline.gin', 'gin_configs/sac/pisac.gin')
  settings = sac_train.SACSettings()
  assert (settings.batch_size, settings.critic_learning_rate,
          settings.actor_learning_rate, settings.temperature_learning_rate,
          settings.initial_temperature, settings.target_entropy_scale,
          settings.critic_loss_weight, settings.target_update_tau,
          settings.target_update_period, list(settings.hidden_units),
          settings.random_shift, settings.total_env_steps) == (
              256, 3e-4, 3e-4, 3e-4, 1.0, 0.5, 0.5, 0.005, 1, [256, 256], 4,
              1_000_000)
  assert control_env.ControlTask().action_repeat == 4
  encoder = networks.make_encoder()
  assert isinstance(encoder, networks.ConvEncoder)
  kinds = [kind for kind, _ in encoder.blocks[0]]
  assert kinds == ['conv', 'frn'] * 4
  assert (encoder.head.style, encoder.head.dense.units) == ('layer_norm', 50)


def test_cells_offered_at_the_procgen_standard_optimizer():
  """Table 5a with the optimizer held equal: minibatch 2048, 3 epochs,
  lr 5e-4 (Cobbe et al.), in 8 chunks of App. F.3's 256."""
  gin.clear_config()
  gin.parse_config_files_and_bindings(
      ['gin_configs/ppo/discrete_64x3.gin',
       'gin_configs/ppo/procgen_standard_optimizer.gin'],
      ["DiscreteNetwork.genotype = 'unused.json'"])
  settings = ppo_train.PPOSettings()
  assert (settings.minibatch_size, settings.num_epochs,
          gin.query_parameter('make_agent.learning_rate')) == (2048, 3, 5e-4)
  assert settings.minibatch_size // settings.gradient_chunks == 256


def test_processes_log_their_devices():
  """Every launcher prints the devices TF uses before anything else (no GPU
  here: the CPU alone; with one, its memory grows as needed)."""
  from rl_darts.runtime import runs  # pylint: disable=g-import-not-at-top
  assert runs.configure_devices() == ['CPU:0']


def test_optimizers_do_not_compile_with_xla_unless_asked():
  """Keras 2.15 would XLA-compile optimizer updates on a GPU; the paper's
  TF 2.8 optimizers did not."""
  from rl_darts.runtime import runs  # pylint: disable=g-import-not-at-top
  adam = runs.keras_optimizer('Adam', 1e-3, epsilon=1e-5)
  assert not adam.jit_compile and adam.epsilon == 1e-5
  _parse('gin_configs/ppo/impala_cnn.gin')
  from rl_darts.agents.ppo import train as ppo  # pylint: disable=g-import-not-at-top
  from rl_darts.envs import environments  # pylint: disable=g-import-not-at-top
  agent = ppo.build_agent(environments.QuadrantBandit(2))
  assert not agent._optimizer.jit_compile  # pylint: disable=protected-access
