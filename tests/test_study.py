"""The committed study's regeneration script, at smoke scale (SMOKE=1 shrinks
every budget), so its commands cannot rot: every stage runs the real
launchers on Procgen and digits, and the report and Table 1 come out (this
is also launchers.nas_rl_table's end-to-end test)."""

import json
import os
import subprocess
import sys

import pytest

from tests import helpers
from tests import test_configs

SCRIPT = os.path.join(helpers.REPO, 'docs', 'results', 'two_core_study',
                      'regenerate.sh')


def test_regeneration_script_runs_every_stage_at_smoke_scale(tmp_path):
  with open(SCRIPT) as f:  # test_configs leaves these configs to this test.
    script = f.read()
  for config in test_configs.RUN_BY_THE_STUDY:
    assert os.path.splitext(os.path.basename(config))[0] in script, config
  env = {**os.environ, 'SMOKE': '1', 'ROOT': str(tmp_path / 'data'),
         'OUT': str(tmp_path), 'PYTHON': sys.executable}
  result = subprocess.run(['bash', SCRIPT], env=env, capture_output=True,
                          text=True, timeout=1200, check=False)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  with open(tmp_path / 'report' / 'report.md') as f:
    report = f.read()
  header = next(line for line in report.splitlines()
                if line.startswith('| game |'))
  for arm in ('classic_frozen_uniform_alpha', 'classic_no_relu_search',
              'classic_search',
              'discrete_16x3', 'impala_cnn_16x3', 'micro_search',
              'random search'):
    assert f' {arm} |' in header, header
  # Every arm's run, at the smoke budget (one PPO iteration of 2 x 8 steps;
  # Rainbow's 3 iterations of 16).
  for arm, encoder, steps in (
      ('impala_cnn_16x3', 'impala_cnn', 16), ('classic_search', 'supernet', 16),
      ('classic_frozen_uniform_alpha', 'supernet', 16),
      ('classic_no_relu_search', 'supernet', 16),
      ('discrete_16x3', 'discrete', 16), ('micro_search', 'supernet', 48)):
    assert f'| {arm} | coinrun | 0 | {encoder} | {steps} |' in report, arm
  # The claims' arms compared (no episode ends at this budget: no scores).
  for first, second in (
      ('classic_search', 'impala_cnn_16x3'), ('discrete_16x3', 'classic_search'),
      ('classic_frozen_uniform_alpha', 'classic_search'),
      ('classic_no_relu_search', 'classic_search'),
      ('discrete_16x3', 'random search')):
    assert f'| {first} | {second} | coinrun | 0, 0 | n/a |' in report, first
  with open(tmp_path / 'report' / 'table.md') as f:
    table = f.read()
  # Table 1's smoke row starts from a pretrained supernet: pretraining, the
  # search and the evaluation ran under the table launcher, seeded.
  line = next(l for l in table.splitlines()
              if l.startswith('| disc_ckpt_loss |'))
  assert line.endswith('% |'), line  # With its reward check.
  assert '| DARTS_V2 (paper cell) | 0 |' in table
  nas_rl = tmp_path / 'data' / 'nas_rl'
  with open(nas_rl / 'pretrain' / 'seed_0' / 'seed.json') as f:
    assert json.load(f)['seed'] == 0
  row = helpers.rows(tmp_path / 'report' / 'table.csv')[0]
  evaluation = helpers.rows(nas_rl / 'disc_ckpt_loss' / 'seed_0' / 'eval' /
                            'metrics.csv')
  assert float(row['test_acc_mean']) == pytest.approx(
      100 * float(evaluation[-1]['test_acc']), abs=1e-3)
  assert int(row['search_env_steps']) == 28 and row['reward'] == 'loss'
