"""Queues of runs: finished runs are skipped, the rest run (in parallel when
asked), a failure stops new runs and reports the log; sweeps' grids."""

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time

import pytest

from rl_darts.runtime import plans
from rl_darts.runtime import run_queue
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
  runs = plans.grid(str(tmp_path), 'ppo', ['gin_configs/ppo/a.gin',
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
  runs = plans.grid(
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


def test_lease_blocks_a_live_holder_and_takes_over_a_stale_one(tmp_path):
  root = str(tmp_path / 'run')
  lease = run_queue.Lease(root)
  lease.acquire()
  holder = lease.holder()
  assert holder['pid'] == os.getpid() and holder['host']
  with pytest.raises(run_queue.LeaseHeld, match=f'held by pid {os.getpid()}'):
    run_queue.Lease(root).acquire()  # This process is alive.
  lease.release()
  assert lease.holder() is None
  # A holder on this host whose process has ended: stale, taken over.
  gone = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'],
                        capture_output=True, text=True, check=True)
  with open(lease.path, 'w') as f:
    json.dump({'host': socket.gethostname(), 'pid': int(gone.stdout),
               'time': time.time()}, f)
  assert run_queue.states([_Run('r', 'unused', root, 0)]) == ['stale']
  lease.acquire()
  assert lease.holder()['pid'] == os.getpid()
  lease.release()
  # Another host's lease not refreshed for STALE_SECONDS: stale too.
  with open(lease.path, 'w') as f:
    json.dump({'host': 'elsewhere', 'pid': 1, 'time': 0.0}, f)
  assert run_queue.states([_Run('r', 'unused', root, 0)]) == ['running']
  old = time.time() - run_queue.STALE_SECONDS - 1
  os.utime(lease.path, (old, old))
  lease.acquire()
  lease.release()


CONCURRENT = """
import sys
sys.path.insert(0, {repo!r})
from tests import test_run_queue as t
from rl_darts.runtime import run_queue
run = t._Run('slow_one', 'unused', {root!r}, 0)
try:
  print(run_queue.run_one(run))
except run_queue.LeaseHeld as e:
  print('held:', e)
"""


def test_two_concurrent_starts_of_one_run_run_it_once(tmp_path):
  root = str(tmp_path / 'slow_one')
  script = CONCURRENT.format(repo=helpers.REPO, root=root)
  starts = [subprocess.Popen([sys.executable, '-c', script], cwd=helpers.REPO,
                             stdout=subprocess.PIPE, text=True)
            for _ in range(2)]
  outputs = sorted(p.communicate(timeout=120)[0].strip().splitlines()[-1]
                   for p in starts)
  assert outputs[0] == 'done' and outputs[1].startswith('held: ')
  assert len(_times(_Run('slow_one', 'unused', root, 0))) == 1
  assert not os.path.exists(f'{root}.lease')
  # Finished: a third start does nothing.
  assert run_queue.run_one(_Run('slow_one', 'unused', root, 0)) == 'finished'


SWEEP = ['--launcher=ppo', '--configs=gin_configs/ppo/demo.gin',
         '--seeds=0,1', *(f'--gin_bindings={b}' for b in (  # No spaces: the
             'Supernet.depths=[4]', 'Supernet.num_nodes=2',  # sbatch template
             'Environment.num_envs=2', 'PPOSettings.rollout_length=8',  # splits.
             'PPOSettings.minibatch_size=8', 'PPOSettings.total_env_steps=16',
             'PPOSettings.eval_every=0'))]


def test_sweep_lists_its_runs_and_names_a_bad_index(tmp_path):
  out = helpers.launch('launchers.sweep', tmp_path, SWEEP + ['--list'])
  lines = [line.split('\t') for line in out.strip().splitlines()]
  assert [(i, state) for i, state, _, _ in lines] == [('0', 'pending'),
                                                      ('1', 'pending')]
  assert lines[1][2] == str(tmp_path / 'demo' / 'seed_1')
  assert '--seed=1' in lines[1][3] and 'launchers.ppo' in lines[1][3]
  assert not os.path.exists(tmp_path / 'demo')  # Listing runs nothing.
  out = helpers.fails('launchers.sweep', tmp_path, SWEEP + ['--run_index=2'])
  assert '--run_index=2 is out of range: the sweep has runs 0-1' in out


def test_slurm_array_template_runs_every_index_once(tmp_path):
  """docs/slurm_sweep.sbatch under a fake sbatch that runs each array task
  in turn, as Slurm would on its nodes."""
  bin_dir = tmp_path / 'bin'
  bin_dir.mkdir()
  (bin_dir / 'sbatch').write_text(
      '#!/bin/bash\n'
      'array=${1#--array=}; script=$2\n'
      'for i in $(seq ${array%-*} ${array#*-}); do\n'
      '  SLURM_ARRAY_TASK_ID=$i bash "$script" || exit 1\n'
      'done\n')
  (bin_dir / 'sbatch').chmod(0o755)
  root = tmp_path / 'sweep'
  env = {**os.environ, 'PATH': f'{bin_dir}:{os.environ["PATH"]}',
         'SLURM_SUBMIT_DIR': helpers.REPO, 'RL_DARTS_DIR': helpers.REPO,
         'SWEEP_FLAGS': ' '.join(SWEEP) + f' --root_dir={root}'}
  result = subprocess.run(
      ['sbatch', '--array=0-1', 'docs/slurm_sweep.sbatch'], cwd=helpers.REPO,
      env=env, capture_output=True, text=True, timeout=900, check=False)
  assert result.returncode == 0, result.stdout + result.stderr
  assert result.stdout.count(': done (') == 2
  for seed in (0, 1):
    assert (root / 'demo' / f'seed_{seed}' / 'DONE').is_file()
  again = subprocess.run(
      ['sbatch', '--array=1-1', 'docs/slurm_sweep.sbatch'], cwd=helpers.REPO,
      env=env, capture_output=True, text=True, timeout=900, check=False)
  assert ': finished (' in again.stdout


def test_runs_start_in_the_checkout():
  """Launcher runs start in the checkout, where gin_configs/ resolves."""
  assert os.path.isfile(os.path.join(run_queue.REPO, 'Makefile'))
  assert os.path.isdir(os.path.join(run_queue.REPO, 'gin_configs', 'ppo'))
