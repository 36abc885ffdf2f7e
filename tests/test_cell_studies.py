"""Cell studies: random search and cell evolution end to end at tiny scale on
the synthetic task (seeded cells of the space, each trained by the PPO
launcher at the search depth, the best one retrained, a rerun that runs
nothing again; a search's cell trained by the cell-evolution launcher); cell
evolution's choice of cells and its table, on stand-in runs."""

import dataclasses
import json
import os
import subprocess
import sys

import gin
import numpy as np
import pytest

from rl_darts.experiments import cell_studies
from rl_darts.experiments import results
from rl_darts.runtime import run_queue
from rl_darts.space import genotypes
from rl_darts.space import ops
from tests import helpers

ARGS = [
    '--gin_configs=gin_configs/random_search/ppo_classic.gin',
    '--gin_bindings=Supernet.num_nodes = 2',
    '--gin_bindings=RandomSearch.num_cells = 2',
    "--gin_bindings=CellTraining.train_bindings = "
    "['DiscreteNetwork.depths = [4]']",
    '--run_bindings=DiscreteNetwork.depths = [8]',
    "--run_bindings=Environment.kind = 'quadrant'",  # One-step episodes.
    '--run_bindings=Environment.num_envs = 4',
    '--run_bindings=PPOSettings.rollout_length = 8',
    '--run_bindings=PPOSettings.minibatch_size = 16',
    '--run_bindings=PPOSettings.total_env_steps = 64',
    '--run_bindings=PPOSettings.eval_every = 0',
    '--seed=3',
]


def test_random_search_trains_each_cell_and_retrains_the_best(tmp_path):
  out = helpers.launch('launchers.random_search', tmp_path, ARGS)
  summary = json.loads((tmp_path / 'summary.json').read_text())
  cells = [genotypes.Genotype.load(str(tmp_path / f'cell_{i}' /
                                       'genotype.json')) for i in range(2)]
  assert cells[0] != cells[1]
  assert all(c.shape['space'] == 'classic' and len(c.normal) == 2 and
             c.reduce is not None for c in cells)
  returns = [results.final_return(str(tmp_path / f'cell_{i}' / 'train'),
                                  'train_return_normalized') for i in range(2)]
  assert [c['final_return'] for c in summary['cells']] == returns
  assert summary['best_cell'] == max(range(2), key=lambda i: returns[i])
  assert f"best: cell {summary['best_cell']}" in out
  # Cells train at the search depth, the best at the evaluation depth.
  for run, depths in ((tmp_path / 'cell_0' / 'train', [4]),
                      (tmp_path / 'best', [8])):
    config = (run / 'operative_config.gin').read_text()
    assert f'DiscreteNetwork.depths = {depths}' in config
  best_cell = tmp_path / f"cell_{summary['best_cell']}" / 'genotype.json'
  assert str(best_cell) in (tmp_path / 'best' /
                            'operative_config.gin').read_text()
  assert (tmp_path / 'returns.png').stat().st_size > 0
  logs = {p: p.stat().st_size for p in tmp_path.rglob('*.log')}
  assert len(logs) == 3
  helpers.launch('launchers.random_search', tmp_path, ARGS)  # All finished.
  assert {p: p.stat().st_size for p in tmp_path.rglob('*.log')} == logs
  # Cell evolution through the same launcher: a search whose genotypes/
  # holds one of these cells.
  search = tmp_path / 'search'
  cells[1].save(str(search / 'genotypes' / 'step_000000000640.json'))
  evolution = [a for a in ARGS if not a.startswith(
      ('--gin_configs', '--gin_bindings=Supernet', '--gin_bindings=Random'))]
  out = helpers.launch(
      'launchers.cell_evolution', tmp_path / 'evolution',
      ['--gin_configs=gin_configs/cell_evolution/ppo_classic.gin',
       f'--search_dir={search}', *evolution])
  assert 'cell of step 640: final return' in out
  evolved = helpers.rows(tmp_path / 'evolution' / 'cell_evolution.csv')
  assert [int(r['step']) for r in evolved] == [640]
  assert float(evolved[0]['final_return']) == results.final_return(
      str(tmp_path / 'evolution' / 'step_000000000640'),
      'train_return_normalized')
  other_seed = [a.replace('--seed=3', '--seed=4') for a in ARGS]
  result = subprocess.run(
      [sys.executable, '-m', 'launchers.random_search',
       f'--root_dir={tmp_path}', *other_seed], cwd=helpers.REPO,
      capture_output=True, text=True, timeout=300, check=False)
  assert result.returncode != 0
  assert 'holds another cell than seed 4 draws' in result.stderr


# A stand-in training run: its final return is its step's last digits / 100.
SCRIPT = """
import os, sys
root = sys.argv[1]
os.makedirs(root, exist_ok=True)
with open(os.path.join(root, 'metrics.csv'), 'w') as f:
  f.write(f'step,train_return_normalized\\n1,0\\n2,{int(root[-3:]) / 100}\\n')
"""


@dataclasses.dataclass(frozen=True)
class _ScriptRun(run_queue.Run):
  """A run whose command is a stand-in script on its root dir."""

  script: str = SCRIPT

  def command(self) -> list[str]:
    return [sys.executable, '-c', self.script, self.root_dir]


def _stand_in_runs(monkeypatch, script: str) -> list[run_queue.Run]:
  """Makes CellTraining's runs execute `script`; returns the runs it made
  (as the real CellTraining.run built them)."""
  made = []
  original = cell_studies.CellTraining.run

  def stand_in(self, *args, **kwargs):
    run = original(self, *args, **kwargs)
    made.append(run)
    return _ScriptRun(**dataclasses.asdict(run), script=script)
  monkeypatch.setattr(cell_studies.CellTraining, 'run', stand_in)
  return made


def test_cell_evolution_trains_every_kth_cell_and_the_last(tmp_path,
                                                           monkeypatch):
  search = tmp_path / 'search'
  classic = ops.get_space('classic')
  rng = np.random.default_rng(0)
  for step in (0, 150, 300, 420, 512):
    genotypes.sample(classic, 1, 2, 2, rng).save(
        str(search / 'genotypes' / f'step_{step:012d}.json'))
  made = _stand_in_runs(monkeypatch, SCRIPT)
  summary = cell_studies.cell_evolution(str(search), str(tmp_path / 'out'), 7,
                                        every=2, bindings=['X.y = 1'])
  assert [c['step'] for c in summary['cells']] == [0, 300, 512]
  # Final return: the mean of the last 10% rows (one of two) = step % 1000.
  assert [c['final_return'] for c in summary['cells']] == [0.0, 3.0, 5.12]
  assert made[1].bindings[0] == 'X.y = 1' and made[1].seed == 7
  assert made[1].bindings[-1] == ("DiscreteNetwork.genotype = '" + str(
      search / 'genotypes' / 'step_000000000300.json') + "'")
  assert 'DiscreteNetwork.depths = [16, 16, 16]' in made[1].bindings
  rows = helpers.rows(tmp_path / 'out' / 'cell_evolution.csv')
  assert [float(r['final_return']) for r in rows] == [0.0, 3.0, 5.12]
  assert (tmp_path / 'out' / 'cell_evolution.png').stat().st_size > 0
  assert os.path.isfile(tmp_path / 'out' / 'step_000000000512' / 'DONE')


# A stand-in Rainbow cell run on dodgeball: cell_<i>/train's final greedy
# raw return is 1.9 (i + 1).
RAINBOW_SCRIPT = """
import os, sys
root = sys.argv[1]
os.makedirs(root, exist_ok=True)
index = int(os.path.basename(os.path.dirname(root)).split('_')[1])
with open(os.path.join(root, 'metrics.csv'), 'w') as f:
  f.write(f'step,greedy_train_return\\n1,0\\n2,{1.9 * (index + 1)}\\n')
with open(os.path.join(root, 'operative_config.gin'), 'w') as f:
  f.write("Environment.game = 'dodgeball'\\n")
"""


def test_app_e_study_scores_by_max_return_and_marks_references(tmp_path,
                                                               monkeypatch):
  """App. E: cells at 64x3 on dodgeball, scored by the final greedy return
  over the maximum possible (19), DARTS cell and IMPALA-CNN marked."""
  references = {}
  for label, raw in (('DARTS cell', 9.5), ('IMPALA-CNN', 3.8)):
    run = tmp_path / label.replace(' ', '_')
    run.mkdir()
    (run / 'metrics.csv').write_text(f'step,greedy_train_return\n1,{raw}\n')
    (run / 'operative_config.gin').write_text(
        "Environment.game = 'dodgeball'\n")
    references[label] = str(run)
  gin.clear_config()
  gin.parse_config_files_and_bindings(
      ['gin_configs/random_search/micro_study.gin'],
      ['RandomSearch.num_cells = 3',
       f'RandomSearch.reference_runs = {references!r}'],
      finalize_config=False)
  made = _stand_in_runs(monkeypatch, RAINBOW_SCRIPT)
  try:
    summary = cell_studies.random_search(str(tmp_path / 'study'), 0)
  finally:
    gin.clear_config()
  assert [c['final_return'] for c in summary['cells']] == pytest.approx(
      [0.1, 0.2, 0.3])  # 1.9 (i + 1) / 19.
  assert summary['reference_final_returns'] == pytest.approx(
      {'DARTS cell': 0.5, 'IMPALA-CNN': 0.2})
  assert 'best_final_return' not in summary
  # At the evaluation config's 64x3 (no search-depth binding), on dodgeball.
  assert "Environment.game = 'dodgeball'" in made[0].bindings
  assert not any('depths' in b for b in made[0].bindings)
  assert made[0].configs == ('gin_configs/rainbow/discrete_64x3.gin',)
  assert (tmp_path / 'study' / 'returns.png').stat().st_size > 0
