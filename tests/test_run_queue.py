"""Queues of runs: finished runs are skipped, the rest run (in parallel when
asked), a failure stops new runs and reports the log; sweeps' grids."""

import dataclasses
import os
import sys

import pytest

from rl_darts import run_queue
from tests import helpers

# A stand-in launcher: appends its start and end times to ROOT/times, sleeps
# (long when ROOT's name says 'slow'), and fails when it says 'bad'.
SCRIPT = """
import os, sys, time
root = sys.argv[1]
os.makedirs(root, exist_ok=True)
with open(os.path.join(root, 'times'), 'a') as f:
  f.write(f'{time.time()} ')
  time.sleep(2.0 if 'slow' in root else 0.1)
  f.write(f'{time.time()}\\n')
print('ran', root)
sys.exit(3 if 'bad' in root else 0)
"""


@dataclasses.dataclass(frozen=True)
class _Run(run_queue.Run):

  def command(self) -> list[str]:
    return [sys.executable, '-c', SCRIPT, self.root_dir]


def _runs(tmp_path, names):
  return [_Run(name, 'unused', str(tmp_path / name), 0) for name in names]


def _times(run):
  with open(os.path.join(run.root_dir, 'times')) as f:
    return [tuple(map(float, line.split())) for line in f]


def test_finished_runs_are_skipped_and_the_rest_run(tmp_path):
  runs = _runs(tmp_path, ['a', 'b'])
  run_queue.run_all(runs)
  assert all(r.done and len(_times(r)) == 1 for r in runs)
  assert 'ran' in open(runs[0].log).read()
  os.remove(os.path.join(runs[1].root_dir, 'DONE'))  # b did not finish.
  run_queue.run_all(runs)
  assert len(_times(runs[0])) == 1 and len(_times(runs[1])) == 2


def test_parallel_runs_overlap_and_serial_ones_do_not(tmp_path):
  for parallel, overlap in ((1, False), (2, True)):
    runs = _runs(tmp_path / str(parallel), ['slow_a', 'slow_b'])
    run_queue.run_all(runs, parallel)
    (start_a, end_a), = _times(runs[0])
    (start_b, _), = _times(runs[1])
    assert (start_b < end_a) == overlap


def test_a_failure_stops_new_runs_and_shows_the_log(tmp_path):
  runs = _runs(tmp_path, ['bad', 'after'])
  with pytest.raises(SystemExit, match=r'(?s)bad failed \(exit 3\).*ran'):
    run_queue.run_all(runs)
  assert not runs[0].done and not os.path.exists(runs[1].root_dir)
  with pytest.raises(ValueError, match='share a root dir'):
    run_queue.run_all(_runs(tmp_path, ['x', 'x']))


def test_sweep_grid_names_one_run_per_config_game_and_seed(tmp_path):
  runs = run_queue.grid(str(tmp_path), 'ppo', ['gin_configs/ppo/a.gin',
                                               'gin_configs/ppo/b.gin'],
                        ['maze', 'dodgeball'], [0, 1], ['X.y = 1'])
  assert len(runs) == 8 and len({r.root_dir for r in runs}) == 8
  run = runs[-1]
  assert run.root_dir == str(tmp_path / 'b' / 'dodgeball' / 'seed_1')
  command = run.command()
  assert command[1:3] == ['-m', 'launchers.ppo'] and '--seed=1' in command
  assert "--gin_bindings=Environment.game = 'dodgeball'" in command
  assert command[-1] == '--gin_bindings=X.y = 1'
  assert '--gin_configs=gin_configs/ppo/b.gin' in command


def test_sweep_grid_crosses_binding_axes(tmp_path):
  """App. F.3's lr x epochs grid: 3 x 2 points, one directory each."""
  runs = run_queue.grid(
      str(tmp_path), 'ppo', ['gin_configs/ppo/discrete_64x3.gin'], [], [0],
      [], [('make_agent.learning_rate', ['1e-4', '2.5e-4', '5e-4']),
           ('PPOSettings.num_epochs', ['1', '3'])])
  assert len(runs) == 6 and len({r.root_dir for r in runs}) == 6
  run = runs[3]
  assert run.root_dir == str(
      tmp_path / 'discrete_64x3' /
      'make_agent.learning_rate=2.5e-4,PPOSettings.num_epochs=3' / 'seed_0')
  assert run.bindings == ('make_agent.learning_rate = 2.5e-4',
                          'PPOSettings.num_epochs = 3')


def test_sweep_names_a_bad_grid(tmp_path):
  out = helpers.fails('launchers.sweep', tmp_path,
                      ['--configs=gin_configs/ppo/classic_search.gin',
                       '--grid=temperature:5'])
  assert "--grid='temperature:5' must read PARAM=V1,V2,..." in out
