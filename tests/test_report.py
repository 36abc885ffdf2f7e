"""The report generator on fixture runs with known numbers: the score table
(mean ± sample std over seeds, the average over games, the random-search
column, Rainbow scored by its greedy evaluator), the test-level table, the
integrality gap beside IMPALA-CNN's score, the cost table, curves, copied
pictures and the self-contained HTML."""

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from rl_darts.experiments import aggregate
from rl_darts.experiments import power
from rl_darts.experiments import report
from tests import helpers

ENCODER = {'impala': '@ImpalaCNN', 'rainbow_impala': '@ImpalaCNN',
           'classic_search': '@Supernet',
           'classic_multigame': '@Supernet', 'cell': '@DiscreteNetwork'}
FINALS = {  # (arm, game, seed): final normalized return.
    ('impala', 'starpilot', 0): 0.4, ('impala', 'starpilot', 1): 0.6,
    ('impala', 'maze', 0): 0.2, ('impala', 'maze', 1): 0.3,
    ('classic_search', 'starpilot', 0): 0.55,
    ('classic_search', 'starpilot', 1): 0.45,
    ('classic_search', 'maze', 0): 0.1,
    ('cell', 'starpilot', 0): 0.45,
    ('rainbow_impala', 'starpilot', 0): 0.7,  # Greedy; epsilon-greedy 0.1.
}


def _run(path, arm, game, seed, final, genotype=None):
  """A run dir; `game` and `final` may be lists (a multi-game run). PPO
  runs log a test score 0.1 below the train one; Rainbow runs score by their
  greedy column, with an epsilon-greedy train column of 0.1 beside it."""
  path.mkdir(parents=True)
  games, finals = ([game], [final]) if isinstance(game, str) else (game, final)
  rainbow = arm.startswith('rainbow')
  score = ('greedy_train_return_normalized' if rainbow else
           'train_return_normalized')
  columns = ([score] if len(games) == 1 else
             [f'{score}/{g}' for g in games])
  extra = ['train_return_normalized'] if rainbow else (
      ['test_return_normalized'] if len(games) == 1 else [])
  lines = [','.join(['step', *columns, *extra, 'env_steps_per_s'])]
  for i in range(1, 11):
    values = [f - 0.05 * (10 - i) for f in finals]
    tail = [0.1] if rainbow else [values[0] - 0.1] if extra else []
    lines.append(','.join([str(100 * i), *(f'{v:.4f}' for v in values),
                           *(f'{v:.4f}' for v in tail), '50']))
  (path / 'metrics.csv').write_text('\n'.join(lines) + '\n')
  config = [f'make_encoder.network = {ENCODER[arm]}',
            f'Environment.game = {game!r}']
  if rainbow:
    config.append('RainbowSettings.batch_size = 256')
  if genotype:  # Long enough for gin's wrapped form.
    config.append(f"DiscreteNetwork.genotype = \\\n    '{genotype}'")
  (path / 'operative_config.gin').write_text('\n'.join(config) + '\n')
  (path / 'seed.json').write_text(json.dumps({'seed': seed}))
  if arm == 'classic_search':  # Alpha records at 0, 100 and 200 steps;
    # the cell changed at 100 (seed 1's changed at 200 too).
    (path / 'alpha.csv').write_text(
        'step,normal:0->1:Skip,normal:0->1:Zero\n'
        '0,0.5,0.5\n100,0.6,0.4\n200,0.7,0.3\n')
    (path / 'alpha_stats.csv').write_text(
        'step,hamming,entropy/normal:e0,margin/normal:e0,entropy/normal,'
        'margin/normal\n0,,1,0,1,0\n100,1,0.97,0.2,0.97,0.2\n'
        f'200,{seed},0.88,0.4,0.88,0.4\n')
    (path / 'genotype.json').write_text('{}')
    (path / 'genotype_normal.png').write_bytes(b'cell')


def _score_cell(values):
  """A table cell: mean ± sample std [the mean's 95% t interval] (n)."""
  mean, std = np.mean(values), np.std(values, ddof=1)
  half = stats.t.ppf(0.975, len(values) - 1) * std / np.sqrt(len(values))
  return (f'{mean:.3f} ± {std:.3f} [{mean - half:.3f}, {mean + half:.3f}] '
          f'(n={len(values)})')


def _table(markdown, heading):
  """{first cell: {column: cell}} of the table under `heading`."""
  section = markdown.split(f'## {heading}')[1].split('\n## ')[0]
  lines = [[c.strip() for c in line.strip('|').split('|')]
           for line in section.splitlines() if line.startswith('| ')]
  return lines[0], {row[0]: dict(zip(lines[0], row)) for row in lines[1:]}


def test_report_tables_number_by_number(tmp_path):
  root = tmp_path / 'runs'
  for (arm, game, seed), final in FINALS.items():
    source = (root / 'classic_search' / game / f'seed_{seed}' /
              'genotype.json') if arm == 'cell' else None
    _run(root / arm / game / f'seed_{seed}', arm, game, seed, final,
         str(source) if source else None)
  _run(root / 'classic_multigame' / 'seed_0', 'classic_multigame',
       ['maze', 'starpilot'], 0, [0.15, 0.35])
  search = tmp_path / 'random' / 'rs'
  _run(search / 'best', 'cell', 'starpilot', 0, 0.3)
  _run(search / 'cell_0' / 'train', 'cell', 'starpilot', 0, 0.9)
  (search / 'summary.json').write_text(json.dumps({
      'seed': 0, 'best_cell': 0, 'best_final_return': 0.3,
      'cells': [{'cell': 0, 'final_return': 0.9},
                {'cell': 1, 'final_return': None}]}))  # No episode ended.
  out = tmp_path / 'report'
  result = subprocess.run(
      [sys.executable, '-m', 'launchers.report', f'--out={out}',
       '--compare=classic_search:impala', '--compare=impala:random search',
       '--target_gap=0.2', '--runs', str(root), str(tmp_path / 'random')],
      cwd=helpers.REPO, capture_output=True, text=True, timeout=300,
      check=False)
  assert result.returncode == 0, result.stdout + result.stderr
  markdown = (out / 'report.md').read_text()
  header, table = _table(markdown, 'Scores (the form of Tables 4 and 5)')
  assert header[1:] == ['cell', 'classic_multigame (joint)', 'classic_search',
                        'impala', 'rainbow_impala', 'random search']
  # Mean ± sample std over seeds [95% t interval]: 0.4 and 0.6 give 0.141.
  assert table['starpilot']['impala'] == _score_cell([0.4, 0.6])
  assert _score_cell([0.4, 0.6]).startswith('0.500 ± 0.141 [')
  assert table['starpilot']['classic_search'] == _score_cell([0.55, 0.45])
  assert table['starpilot']['random search'] == '0.300 (n=1)'
  assert table['maze']['impala'] == _score_cell([0.2, 0.3])
  # Rainbow's score is its greedy evaluation, not its epsilon-greedy return.
  assert table['starpilot']['rainbow_impala'] == '0.700 (n=1)'
  # The joint run's per-game columns give its per-game scores.
  assert table['maze']['classic_multigame (joint)'] == '0.150 (n=1)'
  assert table['average']['classic_multigame (joint)'] == '0.250 (n=1)'
  # Average over games per seed: impala 0.3 (seed 0), 0.45 (seed 1);
  # classic_search has maze for seed 0 only: 0.325.
  assert table['average']['impala'] == _score_cell([0.3, 0.45])
  assert table['average']['classic_search'] == '0.325 (n=1)'
  # Over games: impala's 2 seeds x 2 games; arms of one game stay out.
  header, overall = _table(markdown, 'Aggregates over games')
  assert sorted(overall) == ['classic_multigame (joint)', 'classic_search',
                             'impala']
  assert overall['impala']['mean [95% CI]'].startswith('0.375 [')
  assert overall['impala']['runs x games'] == '2 x 2'
  assert (out / 'figures' / 'profiles.png').stat().st_size > 0
  # Test levels: PPO's test column (0.1 below train), no random search.
  header, test = _table(markdown, 'Scores on test levels')
  assert 'random search' not in header
  assert test['starpilot']['impala'] == _score_cell([0.3, 0.5])
  # Every table also as CSV, named by its heading.
  scores_csv = helpers.rows(out / 'tables' /
                            'scores_the_form_of_tables_4_and_5.csv')
  assert [r['game'] for r in scores_csv] == ['maze', 'starpilot', 'average']
  assert scores_csv[1]['impala'] == table['starpilot']['impala']
  assert (out / 'tables' / 'training_cost_the_form_of_table_3_this_machine'
          '.csv').is_file()
  # Arms compared: the gap with Welch's interval, the pooled std and seeds.
  rows = [line for line in markdown.split('## Comparisons')[1].split(
      '\n## ')[0].splitlines() if line.startswith('| ')]
  assert rows[0].endswith('| seeds per arm for 0.2 |')
  search_a, impala_a = [0.55, 0.45], [0.4, 0.6]
  compared = power.compare(search_a, impala_a, 0.2)
  parts = np.var(search_a, ddof=1) / 2, np.var(impala_a, ddof=1) / 2
  df = sum(parts) ** 2 / sum(p ** 2 for p in parts)  # Welch, 1 df each.
  assert compared.high == pytest.approx(
      stats.t.ppf(0.975, df) * np.sqrt(sum(parts)))
  assert rows[2] == ('| classic_search | impala | starpilot | 2, 2 | '
                     f'0.000 [{compared.low:.3f}, {compared.high:.3f}] | '
                     f'{np.sqrt((0.005 + 0.02) / 2):.3f} | n/a | '
                     f'{power.seeds_needed(compared.std, 0.2)} |')
  assert rows[3] == ('| impala | random search | starpilot | 2, 1 | 0.200 | '
                     f'0.141 | {power.seeds_needed(np.sqrt(0.02), 0.2)} | '
                     f'{power.seeds_needed(np.sqrt(0.02), 0.2)} |')
  assert len(rows) == 4  # Random search has no maze run.
  # Scores compared as differences, beside IMPALA-CNN's (mean 0.5).
  gap = [line for line in markdown.splitlines()
         if line.startswith('| starpilot | 0 | classic_search')]
  assert gap == ['| starpilot | 0 | classic_search | cell | 0.550 | 0.450 | '
                 '0.100 | 0.500 | -0.050 |']
  assert '| impala | starpilot | 0 | impala_cnn | 1,000 | 0.01 |' in markdown
  # Table 3's form: 4 PPO IMPALA-CNN runs at 50 env steps/s.
  assert '| ppo | impala_cnn | 4 | 50.0 | 138.9 |' in markdown
  assert '| rainbow | impala_cnn | 1 | 50.0 | 138.9 |' in markdown
  # The joint run counts once, though it gives a record per game.
  assert '| ppo | supernet | 4 | 50.0 | 138.9 |' in markdown  # 3 + joint.
  assert markdown.startswith('# RL-DARTS report\n\n11 runs and 1 random '
                             'search under ')
  search_row = next(line for line in markdown.splitlines()
                    if line.startswith(f'| {search} |'))
  assert search_row == (f'| {search} | starpilot | 0 | 0.900, n/a | 0 | '
                        '0.300 |')
  assert (out / 'figures' / 'curves_maze.png').stat().st_size > 0
  # Each search's alpha and its stability, drawn from its CSVs; diagrams
  # copied.
  figures = out / 'figures'
  for name in ('alpha', 'alpha_stats'):
    assert (figures / f'classic_search_starpilot_seed1_{name}.png').read_bytes(
        ).startswith(b'\x89PNG')
  assert (figures / 'classic_search_starpilot_seed1_genotype_normal.png'
          ).read_bytes() == b'cell'
  stability = helpers.rows(out / 'tables' / 'alpha_over_the_search.csv')
  assert [(r['game'], r['seed'], r['cell last changed at'])
          for r in stability] == [('maze', '0', '100'), ('starpilot', '0', '100'),
                                  ('starpilot', '1', '200')]
  assert stability[0]['mean entropy'] == '0.880 (normal)'
  assert stability[0]['mean top-1 margin'] == '0.400 (normal)'
  assert stability[0]['alpha records'] == '3'
  config = out / 'configs' / 'cell_starpilot_seed0.gin'
  assert "Environment.game = 'starpilot'" in config.read_text()
  assert '- [cell_starpilot_seed0](configs/cell_starpilot_seed0.gin)' in (
      markdown)
  page = (out / 'report.html').read_text()
  assert page.count('data:image/png;base64,') == markdown.count('![')
  assert _score_cell([0.4, 0.6]) in page and 'src="figures' not in page
  assert page.count('<details>') == 10  # Every run's settings, inline.
  assert 'cell_0' not in markdown.split('## Runs')[1].split('Random')[0]


def test_aggregates_are_iqm_and_mean_with_intervals():
  """rliable's IQM is the 25% trimmed mean of every run of every game; its
  stratified-bootstrap interval holds it; seeds missing a game are left out,
  and so are arms of one game."""
  rng = np.random.default_rng(0)
  finals = {'a': {g: {s: float(rng.normal(g, 1.0)) for s in range(5)}
                  for g in range(4)},
            'b': {0: {0: 1.0, 1: 2.0}, 1: {0: 3.0}},
            'one game': {0: {0: 1.0, 1: 2.0}}}
  matrices = aggregate.score_matrices(finals)
  assert sorted(matrices) == ['a', 'b'] and matrices['b'].shape == (1, 2)
  estimates = aggregate.intervals(matrices)
  values = matrices['a'].ravel()
  point, low, high = estimates['a']['IQM']
  assert point == pytest.approx(stats.trim_mean(values, 0.25))
  assert low < point < high and high - low < 2.0
  assert estimates['a']['mean'][0] == pytest.approx(np.mean(values))
  assert estimates['b']['mean'] == pytest.approx((2.0, 2.0, 2.0))


def _files(run, metrics: str, config: str):
  """A run directory holding just these metrics and operative config."""
  run.mkdir(parents=True)
  (run / 'metrics.csv').write_text(metrics)
  (run / 'operative_config.gin').write_text(config)
  return run


def test_sac_runs_are_named_by_their_control_task(tmp_path):
  from rl_darts.experiments import report  # pylint: disable=g-import-not-at-top
  run = _files(tmp_path / 'sac' / 'seed_0',
               'step,train_return,greedy_return,env_steps_per_s\n'
               '100,10,20,50\n200,30,400,50\n',
               "SACSettings.batch_size = 256\nControlTask.domain = 'cheetah'\n"
               "ControlTask.task = 'run'\nmake_encoder.network = @ConvEncoder\n")
  [record] = report.read_runs(str(run), str(tmp_path))
  assert (record.game, record.agent, record.final) == ('cheetah-run', 'sac',
                                                       400.0)
  assert record.test_final is None


def test_an_arm_without_a_score_keeps_its_column(tmp_path):
  """A Rainbow run that never evaluated greedily has no score: its column
  stays, empty, rather than the arm vanishing from the table."""
  from rl_darts.experiments import report  # pylint: disable=g-import-not-at-top
  _files(tmp_path / 'rainbow_arm' / 'coinrun' / 'seed_0',
         'step,train_return_normalized,greedy_train_return_normalized,'
         'env_steps_per_s\n100,0.5,,50\n',
         "RainbowSettings.batch_size = 256\nEnvironment.game = 'coinrun'\n"
         'make_encoder.network = @ImpalaCNN\n')
  runs, searches = report.find([str(tmp_path)])
  header, rows = report.score_table(runs, searches)
  assert header == ['game', 'rainbow_arm'] and rows[0] == ['coinrun', '']


def test_comparing_an_unknown_arm_names_the_known_ones(tmp_path):
  _run(tmp_path / 'impala' / 'maze' / 'seed_0', 'impala', 'maze', 0, 0.2)
  runs, searches = report.find([str(tmp_path)])
  with pytest.raises(report.UnknownArmError,
                     match="unknown arm 'impla' to compare; known: impala"):
    report.comparison_table(runs, searches, [('impala', 'impla')], 0.1)


def test_the_papers_numbers_sit_beside_our_averages(tmp_path):
  for seed, final in ((0, 0.4), (1, 0.6)):
    _run(tmp_path / 'impala' / 'maze' / f'seed_{seed}', 'impala', 'maze',
         seed, final)
  runs, searches = report.find([str(tmp_path)])
  header, rows = report.paper_table(runs, searches,
                                    {'impala': 0.708, 'cell': 0.709})
  assert header == ['arm', 'ours: average over games', "the paper's"]
  assert rows == [['impala', _score_cell([0.4, 0.6]), '0.708'],
                  ['cell', 'not run', '0.709']]


def test_a_cell_pairs_with_its_search_when_the_runs_were_moved(tmp_path):
  """The cell's config recorded the search's genotype under another
  checkout; the runs pair by <arm>/<game>/seed_<s>, and not across seeds."""
  _run(tmp_path / 'classic_search' / 'maze' / 'seed_0', 'classic_search',
       'maze', 0, 0.5)
  _run(tmp_path / 'classic_search' / 'maze' / 'seed_1', 'classic_search',
       'maze', 1, 0.7)
  _run(tmp_path / 'cell' / 'maze' / 'seed_0', 'cell', 'maze', 0, 0.3,
       '/elsewhere/data/classic_search/maze/seed_0/genotype.json')
  runs, _ = report.find([str(tmp_path)])
  _, rows = report.integrality_gaps(runs)
  assert [row[:7] for row in rows] == [['maze', '0', 'classic_search', 'cell',
                                        '0.500', '0.300', '0.200']]


def test_the_integrality_figure_pairs_supernets_with_their_cells(tmp_path):
  """Figs. 7 and 17's data: per game and search, the supernet's and its
  cell's finals over the seeds where both finished, drawn side by side."""
  for seed, (search, cell) in enumerate(((0.5, 0.3), (0.7, 0.4))):
    _run(tmp_path / 'classic_search' / 'maze' / f'seed_{seed}',
         'classic_search', 'maze', seed, search)
    _run(tmp_path / 'cell' / 'maze' / f'seed_{seed}', 'cell', 'maze', seed,
         cell, str(tmp_path / 'classic_search' / 'maze' / f'seed_{seed}' /
                   'genotype.json'))
  _run(tmp_path / 'classic_search' / 'maze' / 'seed_2', 'classic_search',
       'maze', 2, 0.9)  # No cell of its own.
  runs, _ = report.find([str(tmp_path)])
  assert report.integrality_pairs(runs) == [
      ('maze', 'classic_search', 'cell', [0.5, 0.7], [0.3, 0.4])]
  report.write([str(tmp_path)], str(tmp_path / 'report'))
  assert (tmp_path / 'report' / 'figures' / 'integrality.png').read_bytes(
      ).startswith(b'\x89PNG')
  assert '![supernet against its discretized cell (Figs. 7 and 17)](' in (
      tmp_path / 'report' / 'report.md').read_text()


def test_the_zero_shot_gap_sits_beside_the_retrained_cells(tmp_path):
  """A search's zero-shot columns give its gap on test levels; the cells
  retrained from its genotype give theirs (mean over them); a search
  without zero-shot columns has no row."""
  for seed, zero_shot in ((0, '0.2'), (1, '')):
    run = _files(tmp_path / 'search' / 'maze' / f'seed_{seed}',
                 'step,train_return_normalized,test_return_normalized,'
                 f'discrete_test_return_normalized,env_steps_per_s\n'
                 f'100,0.5,0.4,{zero_shot},50\n',
                 "Environment.game = 'maze'\n"
                 'make_encoder.network = @Supernet\n')
    (run / 'seed.json').write_text(json.dumps({'seed': seed}))
  source = tmp_path / 'search' / 'maze' / 'seed_0' / 'genotype.json'
  for name, test in (('cell_a', '0.1'), ('cell_b', '0.3')):
    _files(tmp_path / name / 'maze' / 'seed_0',
           f'step,train_return_normalized,test_return_normalized,'
           f'env_steps_per_s\n100,0.3,{test},50\n',
           "Environment.game = 'maze'\n"
           'make_encoder.network = @DiscreteNetwork\n'
           f"DiscreteNetwork.genotype = '{source}'\n")
  runs, _ = report.find([str(tmp_path)])
  header, rows = report.zero_shot_gaps(runs)
  assert header[3:] == ['supernet score', 'zero-shot cell score',
                        'zero-shot gap', 'retrained cell score',
                        'retrained gap']
  assert rows == [['maze', '0', 'search', '0.400', '0.200', '0.200', '0.200',
                   '0.200']]
  report.write([str(tmp_path)], str(tmp_path / 'report'))
  figures = tmp_path / 'report' / 'figures'
  # Drawn from the searches' metrics.csv, not for the cells (no columns).
  assert sorted(p.name for p in figures.glob('*zero_shot.png')) == [
      'search_maze_seed0_zero_shot.png', 'search_maze_seed1_zero_shot.png']
  assert (figures / 'search_maze_seed0_zero_shot.png').read_bytes(
      ).startswith(b'\x89PNG')
