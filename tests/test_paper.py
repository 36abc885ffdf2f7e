"""The paper's results as plans: structure at both scales, the paper's
settings at paper scale, bad input named; Table 4 end to end at smoke scale."""

import itertools
import os

import numpy as np
import pytest

from rl_darts.envs import procgen_env
from rl_darts.experiments import paper_results
from tests import helpers


PROCGEN = sorted(name for name, r in paper_results.RESULTS.items()
                 if isinstance(r, paper_results.Result))


@pytest.mark.parametrize('name', PROCGEN)
@pytest.mark.parametrize('scale', paper_results.SCALES)
def test_every_result_plans_every_arm_game_and_seed(name, scale, tmp_path):
  result = paper_results.get(name)
  plan = paper_results.plan(result, scale, str(tmp_path))
  games, seeds = paper_results.games_and_seeds(result, scale)
  if scale == 'smoke':
    assert len(seeds) >= 2 and (len(games) >= 2 or len(result.games) == 1)
  else:
    assert (games, seeds) == (result.games, result.seeds)
  assert {arm for arm, _ in result.paper_scores} <= (
      {a.name for a in result.arms} | {'random search'})
  retrained = [a for a in result.arms if a.trains_genotype_of]
  marking = [a for a in result.arms if a.marks]
  scoring = [a for a in result.arms if a.scores]
  assert [s.name for s in plan.stages] == (
      ['train'] + ['retrain'] * bool(retrained) + ['study'] * bool(marking) +
      ['score'] * bool(scoring))
  assert len(plan.runs) == sum(1 if arm.joint else len(games)
                               for arm in result.arms) * len(seeds)
  for run in plan.stages[1].runs if retrained else ():
    arm, game, seed = run.root_dir.split(os.sep)[-3:]
    (need,) = run.needs
    search = [a for a in result.arms if a.name == arm][0].trains_genotype_of
    assert need == os.path.join(str(tmp_path), 'runs', search, game, seed,
                                'genotype.json')
    assert f"DiscreteNetwork.genotype = '{need}'" in run.bindings


def _bindings(plan, arm):
  runs = [r for r in plan.runs if f'{os.sep}{arm}{os.sep}' in r.root_dir]
  return runs, set(runs[0].bindings)


def test_table2_runs_both_ablations_beside_their_searches(tmp_path):
  """App. B: no-ReLU Classic (PPO) and frozen alpha (Rainbow + Micro), each
  beside the search it ablates, on infinite and on 200 levels, dodgeball."""
  plan = paper_results.plan(paper_results.get('table2'), 'paper',
                            str(tmp_path))
  configs = {}
  for arm in ('classic_search', 'classic_no_relu_search', 'micro_search',
              'micro_frozen_alpha'):
    for levels in (0, 200):
      name = f"{arm}_{'inf' if levels == 0 else levels}_levels"
      runs, bindings = _bindings(plan, name)
      assert len(runs) == 3 and {
          "Environment.game = 'dodgeball'",
          f'Environment.num_levels = {levels}'} <= bindings
      assert not any('discretize_at' in b for b in bindings)
      assert any(b.endswith('total_env_steps = 25000000') for b in bindings)
      configs[arm] = runs[0].configs[0]
  assert configs['classic_no_relu_search'].endswith(
      'ppo/classic_no_relu_search.gin')
  assert configs['micro_frozen_alpha'].endswith(
      'rainbow/micro_frozen_uniform_alpha.gin')
  assert len(plan.runs) == 24


@pytest.mark.parametrize('scale', paper_results.SCALES)
def test_fig9_studies_random_cells_after_the_runs_it_marks(scale, tmp_path):
  """App. E: 100 random Micro cells at 64x3 per game (Rainbow), in a stage
  after the searched cell and IMPALA-CNN it marks on its histogram; maze
  takes its own study config."""
  result = paper_results.get('fig9')
  plan = paper_results.plan(result, scale, str(tmp_path))
  study = plan.stages[-1]
  games, seeds = paper_results.games_and_seeds(result, scale)
  assert study.name == 'study' and len(study.runs) == len(games) * len(seeds)
  for run in study.runs:
    _, game, seed = run.root_dir.split(os.sep)[-3:]
    marked = {label: os.path.join(str(tmp_path), 'runs', arm, game, seed)
              for label, arm in (('DARTS cell', 'micro_cell_64x3'),
                                 ('IMPALA-CNN', 'impala_cnn_64x3'))}
    assert (f'--gin_bindings=RandomSearch.reference_runs = {marked!r}'
            in run.flags)
    assert set(run.needs) == {os.path.join(d, 'DONE')
                              for d in marked.values()}
    assert run.configs == ((
        'gin_configs/random_search/micro_study_maze.gin' if game == 'maze'
        else 'gin_configs/random_search/micro_study.gin'),)
    assert ('--run_bindings=RainbowSettings.total_env_steps = 25000000' in
            run.flags) == (scale == 'paper')
  if scale == 'paper':
    assert {r.root_dir.split(os.sep)[-2] for r in study.runs} == {
        'dodgeball', 'maze'}
    assert any(line.startswith('random_cells: 2 runs x 2,500,000,000 env')
               for line in paper_results.cost_lines(result, scale))


@pytest.mark.parametrize('scale', paper_results.SCALES)
def test_app_f_sweeps_cross_the_papers_grids(scale, tmp_path):
  """App. F.1: temperature {5, 10, 15} (PPO), {10, 20, 50} (Rainbow); F.3:
  lr {1e-4, 2.5e-4, 5e-4} x epochs {1, 2, 3} (PPO): one search per point,
  game and seed, whose grid values win over the scale's own settings."""
  for name, arm, grid in (
      ('f1_ppo', 'classic_search_T{}', [('Supernet.temperature = {}',
                                         (5, 10, 15))]),
      ('f1_rainbow', 'micro_search_T{}', [('Supernet.temperature = {}',
                                           (10, 20, 50))]),
      ('f3_ppo', 'classic_search_lr{}_epochs{}', [
          ('make_agent.learning_rate = {}', ('1e-4', '2.5e-4', '5e-4')),
          ('PPOSettings.num_epochs = {}', (1, 2, 3))])):
    plan = paper_results.plan(paper_results.get(name), scale, str(tmp_path))
    points = list(itertools.product(*[values for _, values in grid]))
    assert len(plan.runs) == len(points) * (2 if scale == 'smoke' else 3)
    for point in points:
      runs, _ = _bindings(plan, arm.format(*point))
      for run in runs:
        for (template, _), value in zip(grid, point):
          parameter = template.split(' = ')[0]
          last = [b for b in run.bindings if b.startswith(parameter)][-1]
          assert last == template.format(value), (name, run.bindings)


@pytest.mark.parametrize('scale', paper_results.SCALES)
def test_fig10_trains_each_network_once_over_all_its_games(scale, tmp_path):
  plan = paper_results.plan(paper_results.get('fig10'), scale, str(tmp_path))
  games, _ = paper_results.games_and_seeds(paper_results.get('fig10'), scale)
  assert len(games) == (16 if scale == 'paper' else 2)
  for arm in ('micro_multigame', 'impala_cnn_multigame'):
    runs, bindings = _bindings(plan, arm)
    assert [r.root_dir.split(os.sep)[-2:] for r in runs] == [
        ['joint', 'seed_0'], ['joint', 'seed_1'], ['joint', 'seed_2']][
            :len(runs)]
    assert f'Environment.game = {list(games)!r}' in bindings
    assert runs[0].configs[0].endswith(f'rainbow/{arm}.gin')


def test_table4_at_paper_scale_is_the_papers(tmp_path):
  """Sec. 4 / App. F.3: 16 games x 3 seeds; the supernet 50M, discretized at
  25M; the cell and IMPALA-CNN at 64x3 for 25M; 3 random cells at 16x3."""
  plan = paper_results.plan(paper_results.get('table4'), 'paper',
                            str(tmp_path))
  assert len(procgen_env.GAMES) == 16
  search, bindings = _bindings(plan, 'classic_search')
  assert len(search) == 48 and search[0].configs == (
      'gin_configs/ppo/classic_search.gin',)
  assert {'PPOSettings.total_env_steps = 50000000',
          'PPOSettings.discretize_at = 25000000'} <= bindings
  cell, bindings = _bindings(plan, 'classic_cell_64x3')
  assert cell[0].configs == ('gin_configs/ppo/discrete_64x3.gin',)
  assert 'PPOSettings.total_env_steps = 25000000' in bindings
  impala, bindings = _bindings(plan, 'impala_cnn_64x3')
  assert impala[0].configs == ('gin_configs/ppo/impala_cnn_64x3.gin',)
  assert not any('depths' in b for b in bindings)  # The config's 64x3.
  random, _ = _bindings(plan, 'random_search')
  assert random[0].module == 'random_search' and random[0].configs == (
      'gin_configs/random_search/ppo_classic.gin',)
  assert '--run_bindings=PPOSettings.total_env_steps = 25000000' in (
      random[0].flags)
  # The paper's Table 4 averages, keyed by this result's own columns.
  assert dict(paper_results.get('table4').paper_scores) == {
      'impala_cnn_64x3': 0.708, 'classic_cell_64x3': 0.709,
      'random search': 0.489}
  lines = paper_results.cost_lines(paper_results.get('table4'), 'paper')
  assert lines[-3].startswith('total: about ')
  # On GPUs (Table 3: V100 GPU-days per 25M env steps at 16x3): IMPALA-CNN
  # 1, the Classic supernet 2.5 (50M here), the 64x3 cell scaled by the
  # rate ratio here (80 / 52), random search 4 such trainings.
  cell = 2.5 * 80 / 52
  assert lines[-2].startswith(
      f'one V100 GPU: about {48 * (1 + 2 * 2.5 + cell + 4 * cell):,.1f} '
      'GPU-days')
  # Stage train lasts as the random search, stage retrain as the cell.
  assert lines[-1].endswith(f'about {4 * cell + cell:,.1f} days on up to '
                            '144 GPUs')


def test_fig7_sets_a_too_deep_supernet_beside_the_papers(tmp_path):
  """Fig. 7: the Micro search at 16x3 (App. F.2) and with D too high
  (64x3; tests/test_presets.py checks the configs), on dodgeball, 25M env
  steps each; each cell, retrained at 64x3, trains its own search's
  genotype."""
  plan = paper_results.plan(paper_results.get('fig7'), 'paper', str(tmp_path))
  for search, cell in (('micro_search', 'micro_cell_64x3'),
                       ('micro_search_64x3', 'micro_cell_64x3_from_64x3')):
    runs, bindings = _bindings(plan, search)
    assert len(runs) == 3 and {"Environment.game = 'dodgeball'",
                               'RainbowSettings.total_env_steps = 25000000'
                               } <= bindings
    assert runs[0].configs == (f'gin_configs/rainbow/{search}.gin',)
    assert not any('depths' in b for b in bindings)  # The configs' own.
    cells, _ = _bindings(plan, cell)
    assert cells[0].configs == ('gin_configs/rainbow/discrete_64x3.gin',)
    for run in cells:
      seed = run.root_dir.split(os.sep)[-1]
      assert run.needs == (os.path.join(str(tmp_path), 'runs', search,
                                        'dodgeball', seed, 'genotype.json'),)
  assert any(line.startswith('micro_search_64x3: 3 runs x 25,000,000 env')
             for line in paper_results.cost_lines(paper_results.get('fig7'),
                                                  'paper'))


@pytest.mark.parametrize('scale', paper_results.SCALES)
def test_a2_scores_random_cells_on_a_trained_policys_frames(scale, tmp_path):
  """App. A.2: after App. E's random cells and the Rainbow IMPALA-CNN of the
  same game and seed have finished, the Jacobian covariance launcher scores
  the cells (untrained, 64x3) on frames of that policy's play."""
  plan = paper_results.plan(paper_results.get('a2_jacob_cov'), scale,
                            str(tmp_path))
  train, score = plan.stages
  assert sorted({r.root_dir.split(os.sep)[-3] for r in train.runs}) == [
      'impala_cnn_64x3', 'random_cells']
  assert all(not r.flags or '--gin_bindings=RandomSearch.reference_runs'
             not in ' '.join(r.flags) for r in train.runs)  # Marks nothing.
  for run in score.runs:
    _, game, seed = run.root_dir.split(os.sep)[-3:]
    cells, policy = (os.path.join(str(tmp_path), 'runs', arm, game, seed)
                     for arm in ('random_cells', 'impala_cnn_64x3'))
    assert run.module == 'jacob_cov'
    assert run.needs == (os.path.join(cells, 'DONE'),
                         os.path.join(policy, 'DONE'))
    assert run.flags[:2] == (f'--random_search_dir={cells}',
                             f'--policy_dir={policy}')
    assert ('--depths=64,64,64' in run.flags) == (scale == 'paper')
  assert len(score.runs) == (1 if scale == 'paper' else 2)


@pytest.mark.parametrize('fields', [
    {'agent': 'ppo'},  # Trains, without a config or rate.
    {'agent': 'jacob_cov', 'config': 'x.gin', 'rate': 'ppo/impala_cnn_16x3',
     'scores': ('cells', 'policy')}])  # Scores, with them.
def test_an_arm_either_trains_or_scores(fields):
  with pytest.raises(ValueError, match="arm 'x': a training arm has a "
                     'config and a rate; a scoring arm'):
    paper_results.Arm('x', **fields)


@pytest.mark.parametrize('scale', paper_results.SCALES)
def test_a3_sac_runs_each_task_as_the_authors_code(scale, tmp_path):
  """App. A.3: the conv encoder, the Micro search and its cell under the
  authors' PI-SAC settings, each task with its action repeat, warm-up and
  budget from their code's table; the search discretizes at half."""
  result = paper_results.get('a3_sac')
  plan = paper_results.plan(result, scale, str(tmp_path))
  games, seeds = paper_results.games_and_seeds(result, scale)
  assert games == (tuple(paper_results.SAC_TASKS) if scale == 'paper' else
                   ('cartpole-swingup', 'reacher-easy'))
  assert len(plan.runs) == 3 * len(games) * len(seeds)
  for arm, config in (('conv_encoder', 'conv_baseline'),
                      ('micro_search', 'micro_search'),
                      ('micro_cell', 'discrete_32x3')):
    runs, _ = _bindings(plan, arm)
    assert {r.module for r in runs} == {'sac'}
    assert runs[0].configs == (f'gin_configs/sac/{config}.gin',
                               'gin_configs/sac/pisac.gin')
  search = [r for r in plan.runs if r.root_dir.endswith(os.path.join(
      'micro_search', games[-1], 'seed_0'))][0]
  domain, task = games[-1].split('-')
  repeat, warm_up, steps = paper_results.SAC_TASKS[games[-1]]
  expected = {f"ControlTask.domain = '{domain}'",
              f"ControlTask.task = '{task}'",
              f'ControlTask.action_repeat = {repeat}'}
  if scale == 'paper':
    assert games[-1] == 'walker-walk' and steps == 1_000_000
    expected |= {f'SACSettings.total_env_steps = {steps}',
                 f'SACSettings.discretize_at = {steps // 2}',
                 f'SACSettings.initial_collect_steps = {warm_up}'}
  assert expected <= set(search.bindings)
  assert not any(b.startswith('Environment.game') for b in search.bindings)
  last = paper_results.cost_lines(result, scale)[-1]
  if scale == 'paper':
    assert last == ('GPUs: not estimated (conv_encoder, micro_cell, '
                    "micro_search: no row in the paper's Table 3)")
  else:  # Smoke runs take minutes: no GPU figures.
    assert last.startswith('total: about ')


@pytest.mark.parametrize('name, rows', [('nas_rl_table1', 'all'),
                                        ('nas_rl_robustness', 'robustness')])
def test_rl_for_darts_results_are_one_table_run(name, rows, tmp_path):
  """The table runner over the paper's rows: 3 seeds on CIFAR-10 at paper
  scale, 2 seeds on the embedded digits at smoke scale."""
  result = paper_results.get(name)
  (paper,) = paper_results.table_plan(result, 'paper', str(tmp_path),
                                      '/data/cifar').runs
  assert paper.module == 'nas_rl_table'
  assert paper.root_dir == os.path.join(str(tmp_path), 'table')
  assert paper.flags == (f'--rows={rows}', '--seeds=0,1,2',
                         '--data_dir=/data/cifar')
  (smoke,) = paper_results.table_plan(result, 'smoke', str(tmp_path)).runs
  assert smoke.flags[:2] == (f'--rows={rows}', '--seeds=0,1')
  assert "--gin_bindings=load_dataset.dataset = 'digits'" in smoke.flags
  cost = paper_results.table_cost_lines(result, 'paper')
  hours = (6_000_000 if rows == 'all' else 3_000_000) * 3 / 136 / 3600
  assert cost[0].endswith(f'about {hours:,.1f} h at 136 meta-steps/s')


@pytest.mark.parametrize('args, message', [
    (['--result=nas_rl_table1', '--games=coinrun'],
     'nas_rl_table1 runs on image data: it takes no --games'),
    (['--result=table9'], "unknown result 'table9'; known: table4"),
    (['--result=table4', '--scale=huge'],
     'flag --scale=huge: value should be one of <smoke|paper>'),
    (['--result=table1_conv', '--games=coinrun'],
     "games ['coinrun'] are not in table1_conv; allowed: dodgeball"),
])
def test_bad_input_is_named(args, message, tmp_path):
  assert message in helpers.fails('launchers.paper', tmp_path, args)


def test_a_root_dir_keeps_one_result(tmp_path):
  with open(tmp_path / 'result.json', 'w') as f:
    f.write('{"result": "table5b", "scale": "smoke"}')
  out = helpers.fails('launchers.paper', tmp_path, ['--result=table4'])
  assert 'holds the runs of table5b at scale smoke, not table4 at smoke' in out


def _score(run_dir):
  """A PPO run's score as the paper's: the mean normalized train return of
  the last 10% of the rows that log one (at least one row)."""
  values = [float(r['train_return_normalized'])
            for r in helpers.rows(os.path.join(run_dir, 'metrics.csv'))
            if r['train_return_normalized']]
  last = values[-max(1, int(np.ceil(0.1 * len(values)))):]
  return np.mean(last)


def _mean_std_interval(cell: str, scores: list) -> None:
  """`cell` reads 'mean ± sample std [95% t interval] (n=2)' of `scores`."""
  mean, std = np.mean(scores), np.std(scores, ddof=1)
  assert cell.startswith(f'{mean:.3f} ± {std:.3f} ['), (cell, scores)
  half = 12.706 * std / np.sqrt(2)  # t(0.975, 1 df).
  low, high = map(float, cell[cell.index('[') + 1:cell.index(']')].split(','))
  assert abs(low - (mean - half)) < 2e-3 and abs(high - (mean + half)) < 2e-3
  assert cell.endswith('(n=2)')


def test_table4_end_to_end_at_smoke_scale(tmp_path):
  """Plan, runs and report of Table 4 on one game: each column holds its
  arm's mean, sample std and interval over the seeds of the runs' own scores
  (random search: its best cell retrained), the gap table each seed's pair,
  the paper's averages beside ours; a rerun repeats no run."""
  out = helpers.launch('launchers.paper', tmp_path,
                       ['--result=table4', '--games=dodgeball', '--parallel=2'])
  assert 'report.md' in out
  runs, tables = tmp_path / 'runs', tmp_path / 'report' / 'tables'
  dirs = {arm: [runs / arm / 'dodgeball' / f'seed_{s}' for s in (0, 1)]
          for arm in ('classic_cell_64x3', 'classic_search', 'impala_cnn_64x3')}
  dirs['random search'] = [runs / 'random_search' / 'dodgeball' / f'seed_{s}' /
                           'best' for s in (0, 1)]
  scores = {arm: [_score(d) for d in found] for arm, found in dirs.items()}
  rows = helpers.rows(tables / 'scores_the_form_of_tables_4_and_5.csv')
  assert [r['game'] for r in rows] == ['dodgeball', 'average']
  assert set(rows[0]) == {'game', *dirs}
  for arm, values in scores.items():
    _mean_std_interval(rows[0][arm], values)
  gaps = helpers.rows(tables / 'integrality_gap_fig_7_table_5.csv')
  assert [r['seed'] for r in gaps] == ['0', '1']
  for gap, search, cell in zip(gaps, scores['classic_search'],
                               scores['classic_cell_64x3']):
    assert (gap['supernet'], gap['discrete cell']) == (
        'classic_search', 'classic_cell_64x3')
    assert float(gap['supernet score']) == pytest.approx(search, abs=1e-3)
    assert float(gap['cell score']) == pytest.approx(cell, abs=1e-3)
    assert float(gap['IMPALA-CNN score']) == pytest.approx(
        np.mean(scores['impala_cnn_64x3']), abs=1e-3)
  paper = {r['arm']: r for r in helpers.rows(
      tables / 'the_paper_s_numbers_beside_ours.csv')}
  assert {arm: float(r["the paper's"]) for arm, r in paper.items()} == {
      'impala_cnn_64x3': 0.708, 'classic_cell_64x3': 0.709,
      'random search': 0.489}
  for arm, row in paper.items():
    _mean_std_interval(row['ours: average over games'], scores[arm])
  assert (tmp_path / 'report' / 'figures' / 'curves_dodgeball.png').stat(
      ).st_size > 1000
  started = os.path.getmtime(runs / 'classic_search' / 'dodgeball' /
                             'seed_0.log')
  again = helpers.launch('launchers.paper', tmp_path,
                         ['--result=table4', '--games=dodgeball'])
  assert 'running' not in again
  assert os.path.getmtime(
      runs / 'classic_search' / 'dodgeball' / 'seed_0.log') == started
