"""The report generator on fixture runs with known numbers: the score table
(mean ± std over seeds, the average over games, the random-search column),
the integrality gap, curves, copied pictures and the self-contained HTML."""

import json
import subprocess
import sys

from tests import helpers

ENCODER = {'impala': '@ImpalaCNN', 'classic_search': '@Supernet',
           'classic_multigame': '@Supernet', 'cell': '@DiscreteNetwork'}
FINALS = {  # (arm, game, seed): final normalized return.
    ('impala', 'starpilot', 0): 0.4, ('impala', 'starpilot', 1): 0.6,
    ('impala', 'maze', 0): 0.2, ('impala', 'maze', 1): 0.3,
    ('classic_search', 'starpilot', 0): 0.55,
    ('classic_search', 'starpilot', 1): 0.45,
    ('classic_search', 'maze', 0): 0.1,
    ('cell', 'starpilot', 0): 0.45,
}


def _run(path, arm, game, seed, final, genotype=None):
  """A run dir; `game` and `final` may be lists (a multi-game run)."""
  path.mkdir(parents=True)
  games, finals = ([game], [final]) if isinstance(game, str) else (game, final)
  columns = (['train_return_normalized'] if len(games) == 1 else
             [f'train_return_normalized/{g}' for g in games])
  lines = [','.join(['step', *columns, 'env_steps_per_s'])]
  lines += [','.join([str(100 * i), *(f'{f - 0.05 * (10 - i):.4f}'
                                       for f in finals), '50'])
            for i in range(1, 11)]
  (path / 'metrics.csv').write_text('\n'.join(lines) + '\n')
  config = [f'make_encoder.network = {ENCODER[arm]}',
            f'Environment.game = {game!r}']
  if genotype:  # Long enough for gin's wrapped form.
    config.append(f"DiscreteNetwork.genotype = \\\n    '{genotype}'")
  (path / 'operative_config.gin').write_text('\n'.join(config) + '\n')
  (path / 'seed.json').write_text(json.dumps({'seed': seed}))
  if arm == 'classic_search':
    (path / 'alpha.png').write_bytes(b'alpha')
    (path / 'genotype.json').write_text('{}')


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
       '--runs', str(root), str(tmp_path / 'random')],
      cwd=helpers.REPO, capture_output=True, text=True, timeout=300,
      check=False)
  assert result.returncode == 0, result.stdout + result.stderr
  markdown = (out / 'report.md').read_text()
  scores = markdown.split('## Normalized scores')[1].split('\n## ')[0]
  lines = [[c.strip() for c in line.strip('|').split('|')]
           for line in scores.splitlines() if line.startswith('| ')]
  header = lines[0]
  table = {row[0]: dict(zip(header, row)) for row in lines[1:]}
  assert header[1:] == ['cell', 'classic_multigame (joint)', 'classic_search',
                        'impala', 'random search']
  assert table['starpilot']['impala'] == '0.500 ± 0.100 (n=2)'
  assert table['starpilot']['classic_search'] == '0.500 ± 0.050 (n=2)'
  assert table['starpilot']['random search'] == '0.300 ± 0.000 (n=1)'
  assert table['maze']['impala'] == '0.250 ± 0.050 (n=2)'
  # The joint run's per-game columns give its per-game scores.
  assert table['maze']['classic_multigame (joint)'] == '0.150 ± 0.000 (n=1)'
  assert table['average']['classic_multigame (joint)'] == (
      '0.250 ± 0.000 (n=1)')
  # Average over games per seed: impala 0.3 (seed 0), 0.45 (seed 1);
  # classic_search has maze for seed 0 only: 0.325.
  assert table['average']['impala'] == '0.375 ± 0.075 (n=2)'
  assert table['average']['classic_search'] == '0.325 ± 0.000 (n=1)'
  gap = [line for line in markdown.splitlines()
         if line.startswith('| starpilot | 0 | classic_search')]
  assert gap == ['| starpilot | 0 | classic_search | cell | 0.550 | 0.450 | '
                 '0.100 | 1.100 | 0.900 |']
  assert '| impala | starpilot | 0 | impala_cnn | 1,000 | 0.01 |' in markdown
  assert markdown.startswith('# RL-DARTS report\n\n10 runs and 1 random '
                             'search under ')
  search_row = next(line for line in markdown.splitlines()
                    if line.startswith(f'| {search} |'))
  assert search_row == (f'| {search} | starpilot | 0 | 0.900, n/a | 0 | '
                        '0.300 |')
  assert (out / 'figures' / 'curves_maze.png').stat().st_size > 0
  alpha = out / 'figures' / 'classic_search_starpilot_seed1_alpha.png'
  assert alpha.read_bytes() == b'alpha'
  config = out / 'configs' / 'cell_starpilot_seed0.gin'
  assert "Environment.game = 'starpilot'" in config.read_text()
  assert '- [cell_starpilot_seed0](configs/cell_starpilot_seed0.gin)' in (
      markdown)
  page = (out / 'report.html').read_text()
  assert page.count('data:image/png;base64,') == markdown.count('![')
  assert '0.500 ± 0.100 (n=2)' in page and 'src="figures' not in page
  assert page.count('<details>') == 9  # Every run's settings, inline.
  assert 'cell_0' not in markdown.split('## Runs')[1].split('Random')[0]
