"""Launchers end to end: describe, the synthetic search (and its resume), and
clear errors on bad flags, gin files, gin bindings and genotype paths."""

import csv
import os
import subprocess
import sys

import pytest

from rl_darts.space import genotypes

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSIC = 'gin_configs/networks/classic_supernet.gin'


def _run(module, *args, check=True):
  result = subprocess.run([sys.executable, '-m', f'launchers.{module}', *args],
                          cwd=REPO, capture_output=True, text=True,
                          timeout=600, check=False)
  if check and result.returncode:
    raise AssertionError(f'{module} failed:\n{result.stdout}\n{result.stderr}')
  return result


@pytest.mark.slow  # A whole search or build; not in make test-fast.
def test_describe_prints_parameters_and_space_size():
  out = _run('describe', f'--gin_configs={CLASSIC}').stdout
  assert 'stem' in out and 'block2/1:normal' in out and 'alpha' in out
  assert '414,720,000,000' in out  # App. G.1: ~4e11 for Classic.
  out = _run('describe', '--gin_configs=gin_configs/networks/impala_cnn.gin',
             '--gin_bindings=ImpalaCNN.depths = [16, 16, 16]').stdout
  assert 'total' in out and 'search space' not in out
  # A launcher's config: the encoder of that run (R = 0: no reduce cells).
  out = _run('describe', '--gin_configs=gin_configs/ppo/'
             'classic_r0_last_node_search.gin').stdout
  assert "search space 'classic': 6 nodes" in out and 'reduce' not in out


@pytest.mark.parametrize('args, message', [
    ([f'--gin_configs={CLASSIC}', '--gin_bindings=Supernet.dpths = [4]'],
     "bad gin binding 'Supernet.dpths = [4]'"),
    (['--gin_configs=gin_configs/nope.gin'],
     "gin config 'gin_configs/nope.gin' does not exist"),
    ([f'--gin_configs={CLASSIC}', "--gin_bindings=Supernet.space = 'nope'"],
     "unknown search space 'nope'; known spaces: classic"),
    (['--gin_configs=gin_configs/networks/discrete_64x3.gin',
      "--gin_bindings=DiscreteNetwork.genotype = '/no/such.json'"],
     "genotype file '/no/such.json' does not exist"),
])
def test_bad_input_gives_clear_errors(args, message):
  result = _run('describe', *args, check=False)
  assert result.returncode != 0
  assert message in result.stdout + result.stderr
  assert 'Traceback' not in result.stderr


def _steps(path):
  with open(path, newline='') as f:
    return [int(row['step']) for row in csv.DictReader(f)]


@pytest.mark.slow  # A whole search or build; not in make test-fast.
def test_synthetic_search_writes_artifacts_and_resumes(tmp_path):
  root = str(tmp_path / 'run')
  common = ['--gin_configs=gin_configs/synthetic_search.gin', f'--root_dir={root}',
            '--gin_bindings=Supernet.depths = [4]',
            '--gin_bindings=synthetic_search.batch_size = 8',
            '--gin_bindings=synthetic_search.record_every = 2',
            '--gin_bindings=synthetic_search.checkpoint_every = 2']
  first = _run('synthetic_search', *common,
               '--gin_bindings=synthetic_search.num_steps = 4')
  assert root in first.stdout
  for name in ('genotype.json', 'genotype_normal.png', 'genotype_reduce.svg',
               'supernet_normal.png', 'alpha.png', 'alpha.csv', 'metrics.csv'):
    assert os.path.getsize(os.path.join(root, name)) > 0, name
  assert os.listdir(os.path.join(root, 'tb'))
  second = _run('synthetic_search', *common,
                '--gin_bindings=synthetic_search.num_steps = 6')
  assert 'Resuming at 4 steps' in second.stdout
  assert _steps(os.path.join(root, 'metrics.csv')) == [1, 2, 3, 4, 5, 6]
  assert _steps(os.path.join(root, 'alpha.csv')) == [0, 2, 4, 6]
  genotype = genotypes.Genotype.load(os.path.join(root, 'genotype.json'))
  assert genotype.reduce is not None and len(genotype.normal) == 4


def test_synthetic_search_needs_a_supernet(tmp_path):
  result = _run('synthetic_search',
                '--gin_configs=gin_configs/synthetic_search.gin',
                '--gin_bindings=make_encoder.network = @ImpalaCNN',
                f'--root_dir={tmp_path}', check=False)
  assert result.returncode != 0
  assert 'searches a supernet, got ImpalaCNN' in result.stdout + result.stderr


def test_gpu_check_fails_clearly_without_a_usable_gpu():
  """This machine and CI run TF's CPU build: the check names it and exits 1
  (a GPU host's pass is not checkable here)."""
  result = _run('gpu_check', check=False)
  assert result.returncode == 1, result.stdout + result.stderr
  assert 'CUDA none' in result.stdout and 'devices: CPU:0' in result.stdout
  assert 'error: this TF is a CPU build: make TF=gpu setup' in result.stderr
  assert result.stdout.strip().endswith('FAIL')
