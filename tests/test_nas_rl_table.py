"""Table 1 over seeds: the summary from fixture runs with known numbers, and
the launcher's errors (it runs end to end in tests/test_study.py)."""

import csv
import json
import os

import pytest

from rl_darts.nas_rl import table
from rl_darts.space import genotypes
from rl_darts.space import paper_cells
from tests import helpers


def _write_csv(path, rows):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w', newline='') as f:
    writer = csv.DictWriter(f, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)


def _fixture_eval(directory, final, best):
  _write_csv(os.path.join(directory, 'eval', 'metrics.csv'), [
      {'epoch': 1, 'test_acc': best - 0.1, 'best_test_acc': best - 0.1},
      {'epoch': 2, 'test_acc': best, 'best_test_acc': best},
      {'epoch': 3, 'test_acc': final, 'best_test_acc': best}])


def _fixture_seed(root, row, seed, final, best, iterations, check=None,
                  genotype='DISC_NWOT'):
  directory = table.seed_dir(root, row, seed)
  if check:
    os.makedirs(os.path.join(directory, 'search'), exist_ok=True)
    with open(os.path.join(directory, 'search', 'reward_check.json'),
              'w') as f:
      json.dump({'reward': 'nwot', 'final': check[0], 'random_mean': check[1],
                 'fraction_below_final': check[2]}, f)
  _fixture_eval(directory, final, best)
  _write_csv(os.path.join(directory, 'search', 'metrics.csv'),
             [{'step': s, 'env_steps_per_s': r} for s, r in iterations])
  genotypes.Genotype.load_any(genotype).save(
      os.path.join(directory, 'search', 'genotype.json'))
  with open(os.path.join(directory, 'search', 'split.json'), 'w') as f:
    json.dump({'dataset': 'digits'}, f)


def test_summary_numbers_from_fixture_runs(tmp_path):
  root = str(tmp_path)
  _fixture_seed(root, 'disc_nwot', 0, 0.5, 0.6, [(100, 50.0), (200, 100.0)],
                check=(300.0, 280.0, 1.0))
  _fixture_seed(root, 'disc_nwot', 1, 0.7, 0.8, [(100, 25.0), (200, 25.0)],
                check=(290.0, 280.0, 0.5))
  _fixture_seed(root, 'disc_acc', 0, 0.9, 0.9, [(3600, 1.0)])
  os.makedirs(table.seed_dir(root, 'disc_acc', 1))  # Unfinished: left out.
  _fixture_eval(table.reference_dir(root, 'DARTS_V2', 1), 0.95, 0.97)
  summary = table.summarize(root, ['disc_nwot', 'disc_acc', 'disc_loss'],
                            [0, 1], ['DARTS_V2', 'DARTS_V1'])
  assert [e['row'] for e in summary] == ['disc_nwot', 'disc_acc',
                                         'DARTS_V2 (paper cell)']
  nwot, acc, darts = summary
  assert nwot['seeds'] == '0 1' and acc['seeds'] == '0'
  assert nwot['test_acc_mean'] == pytest.approx(60.0)
  assert nwot['test_acc_std'] == pytest.approx(14.1421, abs=1e-4)
  assert nwot['test_acc_max'] == pytest.approx(70.0)
  assert nwot['best_epoch_test_acc_mean'] == pytest.approx(70.0)
  # Seed 0: 100/50 + 100/100 = 3 s; seed 1: 8 s; mean 5.5 s.
  assert nwot['search_hours'] == pytest.approx(5.5 / 3600)
  assert acc['test_acc_std'] == 0.0 and acc['search_hours'] == 1.0
  assert nwot['epochs'] == 3 and nwot['search_env_steps'] == 200
  assert nwot['final_cell_reward'] == 295.0 and nwot['reward'] == 'nwot'
  assert nwot['random_cells_below_final'] == 0.75
  assert acc['final_cell_reward'] is None  # No reward_check.json.
  assert darts['seeds'] == '1' and darts['test_acc_mean'] == 95.0
  assert darts['search_hours'] is None and darts['search_env_steps'] is None
  table.write(root, summary, 'gin_configs/darts_eval/darts.gin')
  with open(os.path.join(root, 'table.md')) as f:
    markdown = f.read()
  assert '# Table 1 (RL for DARTS) on digits' in markdown
  # Beside ours, the paper's Table 1 entry (CIFAR-10, 3 runs) of each row.
  assert ('| disc_nwot | 0 1 | 60.00 ± 14.14 (70.00) | 96.74 ± 0.30 (97.01) | '
          '70.00 | 3 | 200 | 0.002 | 295.0000 | 280.0000 | 75% |') in markdown
  assert ('| disc_acc | 0 | 90.00 ± 0.00 (90.00) | 93.78 ± 0.12 (93.94) | '
          '90.00 | 3 | 3,600 | 1.000 |  |  |  |') in markdown
  assert ('| DARTS_V2 (paper cell) | 1 | 95.00 ± 0.00 (95.00) |  | 97.00 | 3 '
          '|  |  |  |  |  |') in markdown
  assert paper_cells.NAMED['DISC_NWOT'].split('[')[1][:30] in markdown
  rows = helpers.rows(os.path.join(root, 'table.csv'))
  assert rows[0]['row'] == 'disc_nwot'
  assert float(rows[0]['test_acc_std']) == pytest.approx(14.1421, abs=1e-4)
  assert float(rows[0]['paper_test_acc_mean']) == 96.74
  assert rows[2]['paper_test_acc_mean'] == ''  # A paper cell: no Table 1 row.


S4_CELL = ("Genotype(normal=[('noise', 0), ('sep_conv_3x3', 1), "
           "('noise', 0), ('noise', 1), ('noise', 2), ('noise', 0), "
           "('noise', 3), ('noise', 1)], normal_concat=[2, 3, 4, 5], "
           "reduce=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('noise', 0), "
           "('sep_conv_3x3', 1), ('noise', 2), ('noise', 0), ('noise', 3), "
           "('noise', 1)], reduce_concat=[2, 3, 4, 5])")


def test_robustness_rows_and_the_one_search_protocol(tmp_path):
  """S4: the shares of parametric (4 of 16) and noise (12 of 16) edges,
  beside the paper's verdict. one_search: seed 1 trains seed 0's cell."""
  root = str(tmp_path)
  _fixture_seed(root, 's4', 0, 0.5, 0.6, [(100, 50.0)], genotype=S4_CELL)
  _fixture_eval(table.seed_dir(root, 's4', 1), 0.7, 0.8)  # No search.
  per_seed = table.summarize(root, ['s4'], [0, 1])
  assert per_seed[0]['seeds'] == '0'  # Seed 1 has no search of its own.
  [s4] = table.summarize(root, ['s4'], [0, 1], protocol='one_search')
  assert s4['seeds'] == '0 1' and s4['test_acc_mean'] == pytest.approx(60.0)
  assert s4['parametric_edges'] == 0.25 and s4['noise_edges'] == 0.75
  table.write(root, [s4], 'gin_configs/darts_eval/darts.gin')
  with open(os.path.join(root, 'table.md')) as f:
    markdown = f.read()
  assert ('| s4 | 0 1 | 25% | 75% | a robust search avoids noise; the '
          "paper's search picked it (a failure) |") in markdown


def test_table_launcher_names_unknown_rows(tmp_path):
  """(The launcher runs end to end in tests/test_study.py.)"""
  message = helpers.fails('launchers.nas_rl_table', tmp_path,
                          ['--rows=disc_nowt'])
  assert "unknown Table 1 rows ['disc_nowt']; allowed: disc_nwot" in message
  assert 's2, s3, s4, all (the 9 rows) or robustness (S2-S4)' in message
  message = helpers.fails('launchers.nas_rl_table', tmp_path,
                          ['--reference_cells=DARTS_V3'])
  assert ("unknown --reference_cells ['DARTS_V3']; allowed: DARTS_V1, "
          "DARTS_V2") in message
