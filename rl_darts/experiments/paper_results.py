"""The RL-DARTS paper's results as plans of runs, at paper or smoke scale.

Each `Result` names its games, seeds and arms; an `Arm` is one launcher run
per game and seed (a config, its budget, its stage). A retraining arm trains
the `genotype.json` of a search arm of the same game and seed, so it runs in
the stage after it. `plan(result, scale, root_dir)` lays the runs out under
root_dir/runs/<arm>/<game>/seed_<s>; at 'paper' scale every budget is the
paper's, at 'smoke' the structure is kept (every arm and stage, 2 games, 2
seeds) at tiny sizes that finish in minutes on a laptop.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Optional, Sequence

from rl_darts.envs import procgen_env
from rl_darts.runtime import plans
from rl_darts.runtime import run_queue

SCALES = ('smoke', 'paper')
SMOKE_GAMES = ('dodgeball', 'starpilot')  # Random play ends episodes in 40-70 steps.
SMOKE_SEEDS = (0, 1)
_SPACE = ('Supernet.depths = [4]', 'Supernet.num_nodes = 2')
SMOKE = {  # Tiny networks; enough steps for a few episodes per env.
    'ppo': (*_SPACE, 'Environment.num_envs = 4',
            'PPOSettings.rollout_length = 16', 'PPOSettings.minibatch_size = 32',
            'PPOSettings.num_epochs = 1', 'PPOSettings.eval_every = 0',
            'ImpalaCNN.depths = [4]', 'DiscreteNetwork.depths = [4]'),
    'rainbow': (*_SPACE, 'Environment.num_envs = 2',
                'DuelingC51.hidden_units = 8', 'ImpalaCNN.depths = [4]',
                'DiscreteNetwork.depths = [4]',
                'RainbowSettings.min_replay_size = 32',
                'RainbowSettings.batch_size = 8',
                'RainbowSettings.steps_per_iteration = 64',
                'RainbowSettings.replay_size = 1000',
                'RainbowSettings.eval_every = 1',
                'RainbowSettings.eval_episodes = 2'),
    'sac': (*_SPACE, 'DiscreteNetwork.depths = [4]', 'ConvEncoder.filters = 4',
            'FeatureHead.units = 8', 'ControlTask.image_size = 16',
            'SACSettings.initial_collect_steps = 10',
            'SACSettings.steps_per_iteration = 80',
            'SACSettings.batch_size = 4', 'SACSettings.hidden_units = [8]',
            'SACSettings.eval_episodes = 1'),
}
SMOKE_STEPS = {'ppo': 384, 'rainbow': 192, 'sac': 160}
JACOB_COV_SMOKE = ('--depths=4', '--frames=4', '--batches=2',
                   '--policy_steps=8')
SETTINGS = {'ppo': 'PPOSettings', 'rainbow': 'RainbowSettings',
            'sac': 'SACSettings'}
# App. A.3 (Fig. R2), SAC from pixels: the authors' PI-SAC code sets the
# action repeat, the random warm-up steps and the budget per task (its
# env_features table, google/brain_autorl rl_darts/algorithms/sac/
# train_pisac.py). Fig. R2's own tasks are not in the reference notes: these
# are PlaNet's six, all in that table. 'domain-task': (action repeat,
# initial collect steps, env steps).
SAC_TASKS = {'cartpole-swingup': (4, 1_000, 200_000),
             'reacher-easy': (4, 1_000, 300_000),
             'ball_in_cup-catch': (4, 1_000, 200_000),
             'finger-spin': (1, 10_000, 200_000),
             'cheetah-run': (4, 10_000, 2_000_000),
             'walker-walk': (2, 10_000, 1_000_000)}
# Env steps/s of the nearest benchmarked encoder on this 2-core machine
# (docs/benchmarks.md: PPO end to end; Rainbow learner samples/s over 4
# samples per insert; SAC learner steps/s x action repeat 4, one train step
# per agent step), to estimate a plan's cost.
RATES = {'ppo/impala_cnn': 242, 'ppo/classic_supernet': 80,
         'ppo/discrete_64x3': 52, 'rainbow/impala_cnn': 162,
         'rainbow/micro_supernet': 48, 'rainbow/micro_supernet_64x3': 5,
         'rainbow/discrete_64x3': 17,
         'sac/conv': 6.9, 'sac/micro_supernet': 0.53}
# The paper's Table 3: V100 GPU-days to 25M env steps at 16x3. Other networks
# of the same agent are scaled from its supernet's by this machine's rate
# ratio (FLOP-bound, so an estimate on the high side for wide networks, which
# use a GPU better); SAC has no row.
PAPER_GPU_DAYS = {'ppo/impala_cnn': 1.0, 'ppo/classic_supernet': 2.5,
                  'rainbow/impala_cnn': 0.5, 'rainbow/micro_supernet': 1.5}
_GPU_ANCHORS = {'ppo': 'ppo/classic_supernet',
                'rainbow': 'rainbow/micro_supernet'}


@dataclasses.dataclass(frozen=True)
class Arm:
  """One run per game and seed (`joint`: per seed, over all the games in
  every batch, under root/<arm>/joint/seed_<s>). `trains_genotype_of`: the
  search arm whose genotype.json this arm trains (it runs in the stage
  after). A random search (`agent` 'random_search') trains
  `runs_per_search` cells with the agent of its `rate`; its `marks` are
  (label, arm) pairs whose runs of the same game and seed its histogram
  marks (it runs in the last stage, after them)."""

  name: str
  agent: str  # ppo | rainbow | sac | random_search | jacob_cov
  # What a training arm trains (a scoring arm trains nothing: none of them).
  config: str = ''
  paper_steps: int = 0  # Per trained network (SAC: per task, `SAC_TASKS`).
  rate: str = ''  # A RATES key.
  bindings: tuple[str, ...] = ()  # The arm's own, last (over the scale's).
  # The searches' discretization, as a share of the budget (at smoke
  # scale: at the end).
  discretize_share: Optional[float] = None
  overlays: tuple[str, ...] = ()  # Configs added after `config`.
  trains_genotype_of: Optional[str] = None
  joint: bool = False  # One run per seed over all the games at once.
  game_configs: tuple[tuple[str, str], ...] = ()  # (game, config) overrides.
  runs_per_search: int = 4  # Table 4's: 3 cells at 16x3, the best at 64x3.
  marks: tuple[tuple[str, str], ...] = ()
  # A Jacobian-covariance scoring (`agent` 'jacob_cov'): the random-search
  # arm whose cells it scores and the Rainbow arm whose policy plays the
  # frames, both of the same game and seed.
  scores: tuple[str, str] = ()

  def __post_init__(self):
    if bool(self.scores) == bool(self.config and self.rate):
      raise ValueError(f'arm {self.name!r}: a training arm has a config and '
                       'a rate; a scoring arm has `scores` and neither')

  @property
  def trained_by(self) -> str:
    """The agent of this arm's training runs ('ppo', 'rainbow', 'sac')."""
    return self.rate.split('/')[0]

  @property
  def stage(self) -> str:
    if self.scores:
      return 'score'
    if self.marks:
      return 'study'
    return 'retrain' if self.trains_genotype_of else 'train'


@dataclasses.dataclass(frozen=True)
class Result:
  name: str
  title: str
  games: tuple[str, ...]
  seeds: tuple[int, ...]
  arms: tuple[Arm, ...]
  # The paper's average score over its games, per arm (or 'random search').
  paper_scores: tuple[tuple[str, float], ...] = ()


_PPO_SEARCH = Arm('classic_search', 'ppo', 'gin_configs/ppo/classic_search.gin',
                  50_000_000, 'ppo/classic_supernet', discretize_share=0.5)
_PPO_CELL = Arm('classic_cell_64x3', 'ppo', 'gin_configs/ppo/discrete_64x3.gin',
                25_000_000, 'ppo/discrete_64x3',
                trains_genotype_of='classic_search')
_PPO_IMPALA = Arm('impala_cnn_64x3', 'ppo', 'gin_configs/ppo/impala_cnn_64x3.gin',
                  25_000_000, 'ppo/impala_cnn')
_RANDOM = Arm('random_search', 'random_search',
              'gin_configs/random_search/ppo_classic.gin', 25_000_000,
              'ppo/discrete_64x3')
_RAINBOW_SEARCH = Arm('micro_search', 'rainbow',
                      'gin_configs/rainbow/micro_search.gin', 25_000_000,
                      'rainbow/micro_supernet', discretize_share=1.0)
_RAINBOW_CELL = Arm('micro_cell_64x3', 'rainbow',
                    'gin_configs/rainbow/discrete_64x3.gin', 25_000_000,
                    'rainbow/discrete_64x3', trains_genotype_of='micro_search')
# Fig. 7's failure mode: the Micro search with its depth D too high (64x3),
# and the cell it finds, retrained at 64x3 as the 16x3 search's is.
_RAINBOW_SEARCH_64X3 = dataclasses.replace(
    _RAINBOW_SEARCH, name='micro_search_64x3',
    config='gin_configs/rainbow/micro_search_64x3.gin',
    rate='rainbow/micro_supernet_64x3')
_RAINBOW_CELL_FROM_64X3 = dataclasses.replace(
    _RAINBOW_CELL, name='micro_cell_64x3_from_64x3',
    trains_genotype_of='micro_search_64x3')
_RAINBOW_IMPALA = Arm('impala_cnn_64x3', 'rainbow',
                      'gin_configs/rainbow/impala_cnn_64x3.gin', 25_000_000,
                      'rainbow/impala_cnn')
# App. A.3: the authors' PI-SAC settings (gin_configs/sac/pisac.gin) over
# each network's config; the search discretizes at half its budget, and its
# cell (one sequence of 32, as the search) trains from scratch after it.
_PISAC = ('gin_configs/sac/pisac.gin',)
_SAC_CONV = Arm('conv_encoder', 'sac', 'gin_configs/sac/conv_baseline.gin', 0,
                'sac/conv', overlays=_PISAC)
_SAC_SEARCH = Arm('micro_search', 'sac', 'gin_configs/sac/micro_search.gin', 0,
                  'sac/micro_supernet', discretize_share=0.5, overlays=_PISAC)
_SAC_CELL = Arm('micro_cell', 'sac', 'gin_configs/sac/discrete_32x3.gin', 0,
                'sac/micro_supernet', trains_genotype_of='micro_search',
                overlays=_PISAC)


def _on_levels(arm: Arm, num_levels: int) -> Arm:
  """`arm` trained on `num_levels` levels (0: infinite), named for them."""
  levels = 'inf' if num_levels == 0 else str(num_levels)
  return dataclasses.replace(
      arm, name=f'{arm.name}_{levels}_levels', discretize_share=None,
      bindings=(*arm.bindings, f'Environment.num_levels = {num_levels}'))


# Table 2 (App. B): the ablations beside the searches they ablate, each on
# infinite levels and on 200, dodgeball, to 25M env steps.
_TABLE2_ARMS = tuple(
    _on_levels(dataclasses.replace(arm, paper_steps=25_000_000), levels)
    for arm in (
        _PPO_SEARCH,
        Arm('classic_no_relu_search', 'ppo',
            'gin_configs/ppo/classic_no_relu_search.gin', 25_000_000,
            'ppo/classic_supernet'),
        _RAINBOW_SEARCH,
        Arm('micro_frozen_alpha', 'rainbow',
            'gin_configs/rainbow/micro_frozen_uniform_alpha.gin', 25_000_000,
            'rainbow/micro_supernet'))
    for levels in (0, 200))



def _swept(arm: Arm, parameter: str, values: Sequence, label: str
           ) -> tuple[Arm, ...]:
  """`arm` once per value of a gin `parameter`, named '<arm>_<label><v>'."""
  return tuple(dataclasses.replace(
      arm, name=f'{arm.name}_{label}{value}',
      bindings=(*arm.bindings, f'{parameter} = {value}')) for value in values)


# App. E (Figs. 9 and 18): 100 uniform Micro cells, each trained once at 64x3
# with Rainbow and scored over the game's maximum return, as a histogram
# marking the searched cell and IMPALA-CNN at the same size.
_RANDOM_CELLS = Arm(
    'random_cells', 'random_search', 'gin_configs/random_search/micro_study.gin',
    25_000_000, 'rainbow/discrete_64x3',
    game_configs=(('maze', 'gin_configs/random_search/micro_study_maze.gin'),),
    runs_per_search=100,
    marks=(('DARTS cell', 'micro_cell_64x3'), ('IMPALA-CNN', 'impala_cnn_64x3')))

# App. A.2 (Fig. R1): the Jacobian covariance score (Mellor et al.) of App.
# E's random cells, untrained at 64x3, on frames of a trained policy's play
# (the Rainbow IMPALA-CNN 64x3 of the same game), against their trained
# returns; the paper found it not predictive.
_SCORED_CELLS = dataclasses.replace(_RANDOM_CELLS, marks=(), game_configs=())
_JACOB_COV = Arm('jacob_cov', 'jacob_cov',
                 scores=('random_cells', 'impala_cnn_64x3'))

# App. F.1 and F.3 do not say on which games their sweeps ran: dodgeball, the
# game of the paper's ablations (Table 2, Figs. 7, 9, 12).
_SWEEP_GAMES = ('dodgeball',)

@dataclasses.dataclass(frozen=True)
class TableResult:
  """A result of the RL-for-DARTS paper: one `launchers.nas_rl_table` run
  (its own resumable queue of pretraining, searches and evaluations) over
  Table 1's `rows` ('all': the nine rows; 'robustness': S2-S4) and seeds."""
  name: str
  title: str
  rows: str
  seeds: tuple[int, ...] = (0, 1, 2)


# Smoke scale of the table runner (as the study's SMOKE=1): the embedded
# digits, a tiny supernet and network, a few meta-steps and one epoch.
TABLE_SMOKE_FLAGS = (
    "--gin_bindings=load_dataset.dataset = 'digits'",
    '--gin_bindings=DartsSupernet.channels = 4',
    '--gin_bindings=DartsSupernet.layers = 3',
    '--gin_bindings=DartsSupernet.num_nodes = 2',
    '--pretrain_bindings=OptimizerSettings.epochs = 1',
    '--eval_bindings=OptimizerSettings.epochs = 1',
    '--eval_bindings=DartsNetwork.channels = 4',
    '--eval_bindings=DartsNetwork.layers = 3',
    '--eval_bindings=DartsNetwork.auxiliary = False',
    '--eval_bindings=Regularization.cutout = 4',
    '--search_bindings=Environment.num_envs = 1',
    '--search_bindings=PPOSettings.rollout_length = 28',
    '--search_bindings=PPOSettings.minibatch_size = 28',
    '--search_bindings=PPOSettings.total_env_steps = 56',
    '--search_bindings=SearchSettings.passes = 1',
    '--search_bindings=SearchSettings.compiled_forward = False',
    '--search_bindings=SearchSettings.check_cells = 2')
# Meta-steps/s of the paper's supernet on this machine (docs/benchmarks.md,
# "RL-for-DARTS search throughput", discrete rows on 32x32 images).
META_RATE = 136
TABLE_META_STEPS = {'all': 5 * 1_000_000 + 4 * 250_000,  # Discrete, continuous.
                    'robustness': 3 * 1_000_000}


RESULTS = {r.name: r for r in (
    Result('table4', 'Table 4: IMPALA-CNN, RL-DARTS and random search, PPO, '
           '16 games', procgen_env.GAMES, (0, 1, 2),
           (_PPO_IMPALA, _PPO_SEARCH, _PPO_CELL, _RANDOM),
           # Table 4: average normalized reward over the 16 games.
           (('impala_cnn_64x3', 0.708), ('classic_cell_64x3', 0.709),
            ('random search', 0.489))),
    Result('table5a', 'Table 5a and Fig. 17: PPO + Classic, supernet and '
           'discrete cell (64x3) against IMPALA-CNN 64x3', procgen_env.GAMES,
           (0, 1, 2), (_PPO_IMPALA, _PPO_SEARCH, _PPO_CELL)),
    Result('table5b', 'Table 5b and Fig. 17: Rainbow + Micro, supernet and '
           'discrete cell (64x3) against IMPALA-CNN 64x3', procgen_env.GAMES,
           (0, 1, 2), (_RAINBOW_IMPALA, _RAINBOW_SEARCH, _RAINBOW_CELL)),
    Result('fig7', "Fig. 7: the integrality gap and its failure mode, the "
           'Micro supernet at 16x3 and with its depth D too high (64x3), '
           'each beside its cell retrained at 64x3, Rainbow, dodgeball',
           ('dodgeball',), (0, 1, 2),
           (_RAINBOW_SEARCH, _RAINBOW_CELL, _RAINBOW_SEARCH_64X3,
            _RAINBOW_CELL_FROM_64X3)),
    Result('table2', 'Table 2, Figs. 11 and 12: no-ReLU Classic (PPO) and '
           'frozen uniform alpha (Rainbow + Micro) beside their searches, '
           'infinite and 200 levels, dodgeball', ('dodgeball',), (0, 1, 2),
           _TABLE2_ARMS),
    Result('fig10', 'Fig. 10: one Micro supernet and one IMPALA-CNN, each '
           'trained jointly over the 16 games, Rainbow', procgen_env.GAMES,
           (0, 1, 2),
           (Arm('micro_multigame', 'rainbow',
                'gin_configs/rainbow/micro_multigame.gin', 25_000_000,
                'rainbow/micro_supernet', joint=True),
            Arm('impala_cnn_multigame', 'rainbow',
                'gin_configs/rainbow/impala_cnn_multigame.gin', 25_000_000,
                'rainbow/impala_cnn', joint=True))),
    Result('table1_conv', 'Table 1 / Fig. 13: IMPALA-CNN 64x5 with Conv3x3 or '
           'Conv5x5, PPO, dodgeball, 50M', ('dodgeball',), (0, 1, 2),
           (Arm('conv3x3', 'ppo', 'gin_configs/ppo/impala_cnn_conv3x3_dodgeball.gin',
                50_000_000, 'ppo/impala_cnn'),
            Arm('conv5x5', 'ppo', 'gin_configs/ppo/impala_cnn_conv5x5_dodgeball.gin',
                50_000_000, 'ppo/impala_cnn'))),
    Result('fig9', 'App. E, Figs. 9 and 18: 100 random Micro cells at 64x3 '
           '(Rainbow) on dodgeball and maze, beside the searched cell and '
           'IMPALA-CNN', ('dodgeball', 'maze'), (0,),
           (_RAINBOW_SEARCH, _RAINBOW_CELL, _RAINBOW_IMPALA, _RANDOM_CELLS)),
    Result('a2_jacob_cov', 'App. A.2 / Fig. R1: the Jacobian covariance score '
           'of 100 random Micro cells (untrained, 64x3) on frames of a '
           "trained Rainbow IMPALA-CNN's play against the cells' trained "
           'returns, dodgeball', ('dodgeball',), (0,),
           (_RAINBOW_IMPALA, _SCORED_CELLS, _JACOB_COV)),
    Result('f1_ppo', 'App. F.1: the PPO + Classic search at softmax '
           'temperature 5, 10 and 15', _SWEEP_GAMES, (0, 1, 2),
           _swept(_PPO_SEARCH, 'Supernet.temperature', (5, 10, 15), 'T')),
    Result('f1_rainbow', 'App. F.1: the Rainbow + Micro search at softmax '
           'temperature 10, 20 and 50', _SWEEP_GAMES, (0, 1, 2),
           _swept(_RAINBOW_SEARCH, 'Supernet.temperature', (10, 20, 50),
                  'T')),
    Result('f3_ppo', 'App. F.3: the PPO + Classic search (minibatch 256) at '
           'learning rate 1e-4, 2.5e-4, 5e-4 x 1, 2, 3 epochs', _SWEEP_GAMES,
           (0, 1, 2),
           tuple(swept for lr_arm in _swept(
               _PPO_SEARCH, 'make_agent.learning_rate',
               ('1e-4', '2.5e-4', '5e-4'), 'lr')
                 for swept in _swept(lr_arm, 'PPOSettings.num_epochs',
                                     (1, 2, 3), 'epochs'))),
    Result('a3_sac', 'App. A.3 / Fig. R2: SAC from pixels on DM-Control, the '
           'Micro search (N 3, I 4, K 1, depth 32) and its cell against the '
           '4-layer conv encoder, PI-SAC settings', tuple(SAC_TASKS),
           (0, 1, 2), (_SAC_CONV, _SAC_SEARCH, _SAC_CELL)),
    TableResult('nas_rl_table1', 'RL for DARTS, Table 1: the nine rows '
                '(discrete and continuous; acc, loss, NASWOT), each searched '
                'cell trained on CIFAR-10', 'all'),
    TableResult('nas_rl_robustness', 'RL for DARTS, Sec. 4.3: disc-nwot on '
                "RobustDARTS' S2, S3 and S4", 'robustness'),
)}


def get(name: str) -> Result:
  if name not in RESULTS:
    raise ValueError(f'unknown result {name!r}; known: {", ".join(RESULTS)}')
  return RESULTS[name]


def _seeds(result: Result | TableResult, scale: str) -> tuple[int, ...]:
  """The result's seeds at `scale` (smoke: `SMOKE_SEEDS`); a bad scale is
  named."""
  if scale not in SCALES:
    raise ValueError(f'unknown scale {scale!r}; allowed: {", ".join(SCALES)}')
  return SMOKE_SEEDS if scale == 'smoke' else result.seeds


def table_plan(result: TableResult, scale: str, root_dir: str,
               data_dir: Optional[str] = None) -> plans.Plan:
  """One stage, one `nas_rl_table` run under root_dir/table (CIFAR-10 from
  `data_dir` at paper scale; the embedded digits at smoke scale)."""
  seeds = _seeds(result, scale)
  flags = [f'--rows={result.rows}', f'--seeds={",".join(map(str, seeds))}']
  if scale == 'smoke':
    flags += TABLE_SMOKE_FLAGS
  elif data_dir:
    flags.append(f'--data_dir={data_dir}')
  run = run_queue.Run(result.name, 'nas_rl_table',
                      os.path.join(os.path.abspath(root_dir), 'table'), 0,
                      flags=tuple(flags))
  return plans.Plan((plans.Stage('table', (run,)),))


def table_cost_lines(result: TableResult, scale: str) -> list[str]:
  """The searches' hours at the measured meta-step rate; the evaluations'
  cost is not measured here."""
  seeds = _seeds(result, scale)
  if scale == 'smoke':
    return [f'{result.name}: smoke scale, a few minutes per row and seed']
  steps = TABLE_META_STEPS[result.rows] * len(seeds)
  return [f'searches: {steps:,} meta-steps over {len(seeds)} seeds, about '
          f'{steps / META_RATE / 3600:,.1f} h at {META_RATE} meta-steps/s',
          'evaluations: each searched cell\'s 20-cell network for 600 '
          'CIFAR-10 epochs, not measured on this machine (DARTS reports '
          'GPU-days per cell)']


def games_and_seeds(result: Result, scale: str,
                    games: Sequence[str] = ()) -> tuple[tuple[str, ...],
                                                        tuple[int, ...]]:
  """The result's games (or `games`, a subset of them) and seeds."""
  seeds = _seeds(result, scale)
  outside = sorted(set(games) - set(result.games))
  if outside:
    raise ValueError(f'games {outside} are not in {result.name}; allowed: '
                     f'{", ".join(result.games)}')
  if games:
    chosen = tuple(games)
  elif scale == 'smoke' and len(result.games) > 1:
    chosen = (SMOKE_GAMES if set(SMOKE_GAMES) <= set(result.games)
              else result.games[:2])
  else:
    chosen = result.games
  return chosen, seeds


def _budget(arm: Arm, scale: str, game: str | Sequence[str]
            ) -> tuple[int, list[str]]:
  """An arm's env steps per trained network on `game` and the bindings that
  set them (a SAC task's also its action repeat and warm-up)."""
  agent = arm.trained_by
  settings = SETTINGS[agent]
  repeat, warm_up, steps = (SAC_TASKS[game] if agent == 'sac' else
                            (None, None, arm.paper_steps))
  if scale != 'paper':
    steps = SMOKE_STEPS[agent]
  bindings = [f'{settings}.total_env_steps = {steps}']
  if arm.discretize_share:
    at = int(steps * arm.discretize_share) if scale == 'paper' else steps
    bindings.append(f'{settings}.discretize_at = {at}')
  if repeat:
    bindings.append(f'ControlTask.action_repeat = {repeat}')
    if scale == 'paper':
      bindings.append(f'{settings}.initial_collect_steps = {warm_up}')
  return steps, bindings + ([] if scale == 'paper' else list(SMOKE[agent]))


def _game_bindings(arm: Arm, game: str | Sequence[str]) -> list[str]:
  """Procgen's game (a joint arm's list), or DM-Control's domain and task."""
  if arm.joint:
    return [f'Environment.game = {list(game)!r}']
  if arm.trained_by == 'sac':
    domain, task = game.split('-', 1)
    return [f"ControlTask.domain = '{domain}'", f"ControlTask.task = '{task}'"]
  return [f"Environment.game = '{game}'"]


def arm_run(arm: Arm, scale: str, root: str, game: str | Sequence[str],
            seed: int) -> run_queue.Run:
  """The run of `arm` on `game` (a joint arm: the list of games) with `seed`
  under root/<arm>/<game or 'joint'>/seed_<s>."""
  if arm.scores:
    return _scoring_run(arm, scale, root, game, seed)
  _, bindings = _budget(arm, scale, game)
  bindings = [*_game_bindings(arm, game), *bindings, *arm.bindings]
  label = 'joint' if arm.joint else game
  root_dir = os.path.join(root, arm.name, label, f'seed_{seed}')
  name = f'{arm.name} {label} seed {seed}'
  if arm.agent == 'random_search':
    flags = [f'--run_bindings={b}' for b in bindings]
    if scale == 'smoke':
      flags += ['--gin_bindings=RandomSearch.num_cells = 1',
                f'--gin_bindings={_SPACE[1]}']
    marked = {label: os.path.join(root, marked_arm, game, f'seed_{seed}')
              for label, marked_arm in arm.marks}
    if marked:
      flags.append(f'--gin_bindings=RandomSearch.reference_runs = {marked!r}')
    config = dict(arm.game_configs).get(game, arm.config)
    return run_queue.Run(name, 'random_search', root_dir, seed, (config,),
                         (), tuple(flags), needs=tuple(
                             os.path.join(d, 'DONE') for d in marked.values()))
  needs = ()
  if arm.trains_genotype_of:
    genotype = os.path.join(root, arm.trains_genotype_of, game,
                            f'seed_{seed}', 'genotype.json')
    bindings.append(f"DiscreteNetwork.genotype = '{genotype}'")
    needs = (genotype,)
  return run_queue.Run(name, arm.agent, root_dir, seed,
                       (arm.config, *arm.overlays), tuple(bindings),
                       needs=needs)


def _scoring_run(arm: Arm, scale: str, root: str, game: str, seed: int
                 ) -> run_queue.Run:
  """App. A.2: `launchers.jacob_cov` scoring the cells of `arm.scores`'s
  random search, untrained at the evaluation depth (64x3; smoke: 4), on
  frames of its policy run's play, after both finished."""
  cells, policy = (os.path.join(root, name, game, f'seed_{seed}')
                   for name in arm.scores)
  flags = (f'--random_search_dir={cells}', f'--policy_dir={policy}',
           *(JACOB_COV_SMOKE if scale == 'smoke' else ('--depths=64,64,64',)))
  return run_queue.Run(
      f'{arm.name} {game} seed {seed}', 'jacob_cov',
      os.path.join(root, arm.name, game, f'seed_{seed}'), seed, flags=flags,
      needs=(os.path.join(cells, 'DONE'), os.path.join(policy, 'DONE')))


def plan(result: Result, scale: str, root_dir: str,
         games: Sequence[str] = ()) -> plans.Plan:
  """Stage 'train' (searches and baselines), then 'retrain' (the searched
  cells), then 'study' (random cells marking the others), then 'score'
  (cells scored on a policy's frames), for every game and seed."""
  games, seeds = games_and_seeds(result, scale, games)
  root = os.path.join(os.path.abspath(root_dir), 'runs')
  stages = []
  for stage in ('train', 'retrain', 'study', 'score'):
    runs = tuple(arm_run(arm, scale, root, game, seed)
                 for arm in result.arms if arm.stage == stage
                 for game in ([games] if arm.joint else games)
                 for seed in seeds)
    if runs:
      stages.append(plans.Stage(stage, runs))
  return plans.Plan(tuple(stages))


def cost_lines(result: Result, scale: str, games: Sequence[str] = ()
               ) -> list[str]:
  """Per arm: runs, env steps each, and the estimated hours on this
  machine's measured rates; then the total, and at paper scale the cost on
  GPUs."""
  games, seeds = games_and_seeds(result, scale, games)
  lines, total, gpu_runs = [], 0.0, []
  for arm in result.arms:
    if arm.scores:
      lines.append(f'{arm.name}: {len(games) * len(seeds)} scorings of '
                   'untrained cells, minutes each')
      continue
    per_run = [_budget(arm, scale, game)[0] * (
        arm.runs_per_search if arm.agent == 'random_search' else 1)
               for game in ([games] if arm.joint else games)]
    count = len(per_run) * len(seeds)
    hours = sum(per_run) * len(seeds) / RATES[arm.rate] / 3600
    total += hours
    each = (f'{per_run[0]:,}' if len(set(per_run)) == 1 else
            f'{min(per_run):,}-{max(per_run):,}')
    lines.append(f'{arm.name}: {count} runs x {each} env steps, about '
                 f'{hours:,.1f} h at {RATES[arm.rate]} env steps/s '
                 f'({arm.rate})')
    gpu_runs += [(arm, steps) for steps in per_run for _ in seeds]
  lines.append(f'total: about {total:,.1f} h of this 2-core machine, one run '
               'at a time')
  return lines + (_gpu_lines(gpu_runs) if scale == 'paper' else [])


def gpu_days(arm: Arm, env_steps: int) -> Optional[float]:
  """V100 GPU-days of one run of `arm` over `env_steps` (PAPER_GPU_DAYS);
  None for an agent the paper's Table 3 does not cost."""
  anchor = _GPU_ANCHORS.get(arm.trained_by)
  if arm.rate in PAPER_GPU_DAYS:
    per_25m = PAPER_GPU_DAYS[arm.rate]
  elif anchor:
    per_25m = PAPER_GPU_DAYS[anchor] * RATES[anchor] / RATES[arm.rate]
  else:
    return None
  return env_steps / 25_000_000 * per_25m


def _gpu_lines(runs: Sequence[tuple[Arm, int]]) -> list[str]:
  """The runs' cost on one V100 (one run at a time) and on a Ray cluster
  with a GPU per run, each stage's runs at once (a stage lasts as long as
  its longest run)."""
  days = [(arm, gpu_days(arm, steps)) for arm, steps in runs]
  costed = [(arm, d) for arm, d in days if d is not None]
  missing = sorted({arm.name for arm, d in days if d is None})
  if not costed:
    return [f'GPUs: not estimated ({", ".join(missing)}: no row in the '
            "paper's Table 3)"]
  stages = {arm.stage for arm, _ in costed}
  wall = sum(max(d for arm, d in costed if arm.stage == stage)
             for stage in stages)
  widest = max(sum(arm.stage == stage for arm, _ in costed)
               for stage in stages)
  lines = [f'one V100 GPU: about {sum(d for _, d in costed):,.1f} GPU-days, '
           "one run at a time (the paper's Table 3 per 25M env steps; other "
           'networks scaled by the rate ratio here)',
           f'a Ray cluster with a GPU per run, each stage at once: about '
           f'{wall:,.1f} days on up to {widest} GPUs']
  if missing:
    lines.append(f'  not in the GPU figures: {", ".join(missing)} (no row '
                 "in the paper's Table 3)")
  return lines
