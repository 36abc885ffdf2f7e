"""The committed study's regeneration script, at smoke scale (SMOKE=1 shrinks
every budget), so its commands cannot rot: every stage runs the real
launchers on Procgen and digits, and the report and Table 1 come out."""

import os
import subprocess
import sys

from tests import helpers

SCRIPT = os.path.join(helpers.REPO, 'docs', 'results', 'two_core_study',
                      'regenerate.sh')


def test_regeneration_script_runs_every_stage_at_smoke_scale(tmp_path):
  env = {**os.environ, 'SMOKE': '1', 'ROOT': str(tmp_path / 'data'),
         'OUT': str(tmp_path), 'PYTHON': sys.executable}
  result = subprocess.run(['bash', SCRIPT], env=env, capture_output=True,
                          text=True, timeout=1200, check=False)
  assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
  with open(tmp_path / 'report' / 'report.md') as f:
    report = f.read()
  header = next(line for line in report.splitlines()
                if line.startswith('| game |'))
  for arm in ('classic_frozen_uniform_alpha', 'classic_search',
              'discrete_16x3', 'impala_cnn_16x3', 'micro_search',
              'random search'):
    assert f' {arm} |' in header, header
  # Every arm's run, at the smoke budget (one PPO iteration of 2 x 8 steps;
  # Rainbow's 3 iterations of 16).
  for arm, encoder, steps in (
      ('impala_cnn_16x3', 'impala_cnn', 16), ('classic_search', 'supernet', 16),
      ('classic_frozen_uniform_alpha', 'supernet', 16),
      ('discrete_16x3', 'discrete', 16), ('micro_search', 'supernet', 48)):
    assert f'| {arm} | coinrun | 0 | {encoder} | {steps} |' in report, arm
  with open(tmp_path / 'report' / 'table.md') as f:
    table = f.read()
  line = next(l for l in table.splitlines() if l.startswith('| disc_nwot |'))
  assert line.endswith('% |'), line  # With its reward check.
