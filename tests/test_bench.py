"""The throughput scripts' supernet/IMPALA-CNN ratios and their medians."""

import json
import os
import re
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..', 'bench'))
import harness  # pylint: disable=g-import-not-at-top,wrong-import-position


def _result(mflops, learn, gflops):
  return {'mflops': mflops, 'learn': learn, 'gflops': gflops}


def test_ratios_against_impala_16x3():
  results = {'impala_16x3': _result(35.0, 1400.0, 150.0),
             'micro_16x3': _result(140.0, 280.0, 120.0),
             'impala_16_32_32': _result(60.0, 1000.0, 180.0)}
  flop_ratio, cost_ratio, relative, share = harness.ratios(
      results, 'learn')['micro_16x3']
  assert flop_ratio == pytest.approx(4.0)
  assert cost_ratio == pytest.approx(5.0)
  assert relative == pytest.approx(1.25)
  assert share == pytest.approx(0.8)
  assert set(harness.ratios(results, 'learn')) == {'micro_16x3'}
  assert harness.ratios({'micro_16x3': results['micro_16x3']}, 'learn') == {}


def test_several_rounds_report_their_median(capsys):
  rounds = [{'impala_16x3': _result(35.0, base, 150.0 * base / 1400.0),
             'micro_16x3': _result(140.0, 300.0, 128.0)}
            for base in (1400.0, 1800.0, 1500.0)]
  harness.print_ratios(rounds, 'learn')
  line = capsys.readouterr().out.strip()
  # Cost ratios 4.67, 6.0, 5.0 over the FLOP ratio 4: median 1.25; GFLOP/s
  # shares 85%, 66%, 80%: median 80%.
  assert line.startswith('micro_16x3 vs impala_16x3 (median of 3 rounds): '
                         'FLOP ratio 4.0x, training cost ratio 5.0x (1.25 of '
                         'the FLOP ratio; target <= 1.10), GFLOP/s 80% of')
  assert line.endswith('per round (of the FLOP ratio / of GFLOP/s): '
                       '1.17 / 85%, 1.50 / 66%, 1.25 / 80%')


def test_alternate_times_the_steps_in_turn_every_round():
  calls = []
  steps = {'fused': (lambda: calls.append('fused'), 256),
           'tf_ops': (lambda: calls.append('tf_ops'), 2048)}
  rates = harness.alternate(steps, rounds=3)
  assert calls == ['fused', 'tf_ops'] * 3
  assert [len(v) for v in rates.values()] == [3, 3]
  assert all(rate > 0 for v in rates.values() for rate in v)


def test_fused_ab_reports_medians():
  import fused_ab  # pylint: disable=g-import-not-at-top
  lines = fused_ab.table({'fused': [300.0, 340.0, 330.0],
                          'tf_ops': [260.0, 250.0, 280.0]})
  assert lines[1].split()[:4] == ['fused', '330', '340', '1.00x']
  assert lines[2].split()[:4] == ['tf_ops', '260', '280', '0.79x']
  assert lines[2].endswith('260 250 280')


def test_paired_rounds_give_ratios_from_rates_timed_in_turn(capsys):
  # The table's rounds give the MFLOP/sample; the paired child, the rates.
  measured = [{'impala_16x3': _result(35.0, 1600.0, 168.0),
               'micro_16x3': _result(140.0, 300.0, 126.0)}]
  rates = {'impala_16x3': [1600.0, 1200.0, 1400.0],
           'micro_16x3': [360.0, 300.0, 330.0]}
  rounds = harness.paired_results(rates, measured, 'learn')
  assert len(rounds) == 3
  harness.print_ratios(rounds, 'learn', 'paired round')
  line = capsys.readouterr().out.strip()
  # GFLOP/s shares 4 x 360 / 1600 = 90%, 100%, 94%; cost ratios over the
  # FLOP ratio 4: 1.11, 1.00, 1.06.
  assert '(median of 3 paired rounds)' in line
  assert 'GFLOP/s 94% of' in line
  assert line.endswith('per paired round (of the FLOP ratio / of GFLOP/s): '
                       '1.11 / 90%, 1.00 / 100%, 1.06 / 94%')


def _rows(returns, greedy=()):
  greedy = dict(greedy)
  return [{'step': str(10_000 * (i + 1)), 'train_return': str(r),
           'greedy_train_return': str(greedy.get(i, ''))}
          for i, r in enumerate(returns)]


AUDIT = """
import json, sys
sys.path.insert(0, 'bench')
import harness
import tensorflow as tf
from rl_darts.space import networks
encoder = None

@tf.function
def step():
  with tf.GradientTape() as tape:
    loss = tf.reduce_sum(encoder(tf.zeros([2, 16, 16, 3]), training=True))
  return tape.gradient(loss, encoder.trainable_variables)

def build_and_step():
  global encoder
  encoder = networks.Supernet('micro', depths=(4,), normal_cells=1,
                              reduction_cells=0, num_nodes=2)
  step()

print(json.dumps(harness.placement(build_and_step)))
try:
  harness.placement(step)  # TF is running now: its placement log is fixed.
except RuntimeError as error:
  print(error)
"""


def test_placement_audit_reads_where_a_train_step_runs():
  """The GPU check's audit, in a fresh process: on this CPU-only machine a
  supernet's train step has every op, its convolutions and pools among them,
  on the CPU; asked once TF runs, it says it cannot see."""
  out = subprocess.run([sys.executable, '-c', AUDIT], cwd=harness.REPO,
                       capture_output=True, text=True, check=True).stdout
  first, second = out.strip().splitlines()[-2:]
  result = json.loads(first)
  assert result['ops_gpu'] == 0 and result['ops_cpu'] > 50
  assert {'Conv2DBackpropFilter', 'MaxPool', 'MaxPoolGrad', 'Relu'} <= set(
      result['compute_on_cpu']), result
  assert 'Const' not in result['compute_on_cpu']
  assert second.startswith('no placement log')


def test_learning_check_verdict_against_random_play():
  import learning_check  # pylint: disable=g-import-not-at-top
  returns = [1.0, 1.2, 0.8, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0]
  text, learned = learning_check.report(
      _rows(returns, {2: 0.7, 11: 5.0}), 'starpilot', 0.1, random=1.5)
  assert learned
  assert 'starpilot (easy): Rmin 2.5, Rmax 64' in text
  # 10% of 12 rows, rounded up: 2 rows at each end.
  assert 'train return, first 2 rows: 1.10 (steps 10,000-20,000)' in text
  assert 'train return, last 2 rows: 5.75 (steps 110,000-120,000)' in text
  assert 'greedy_train_return: 0.70 at 30,000 -> 5.00 at 120,000' in text
  assert text.endswith('learns: yes (last 2 rows 5.75 against 1.5 x random '
                       '2.25; last greedy train 5.00 against random 1.50)')
  # The end must reach 1.5x random play, and the greedy policy beat it.
  assert not learning_check.report(_rows(returns, {11: 5.0}), 'starpilot',
                                   0.1, random=4.0)[1]
  assert not learning_check.report(_rows(returns, {11: 1.4}), 'starpilot',
                                   0.1, random=1.5)[1]
  # Without random play: above the start and above Rmin.
  text, learned = learning_check.report(_rows([1.0, 1.0, 2.0, 2.0]),
                                        'starpilot', 0.5, random=None)
  assert not learned and text.endswith('(end above its start and above Rmin)')
  assert learning_check.report(_rows([1.0, 1.0, 3.0, 3.0]), 'starpilot', 0.5,
                               random=None)[1]
  with pytest.raises(ValueError, match='3 metric rows with returns; the '
                     'check needs at least 4'):
    learning_check.report(_rows([1.0, 2.0, 3.0]), 'starpilot', 0.5, None)


def test_learning_check_runs_the_launcher(tmp_path):
  """The real command at smoke scale: a tiny Rainbow on Procgen."""
  tiny = ['Environment.num_envs = 4', 'ImpalaCNN.depths = [4]',
          'DuelingC51.hidden_units = 16', 'RainbowSettings.batch_size = 8',
          'RainbowSettings.min_replay_size = 16',
          'RainbowSettings.steps_per_iteration = 16',
          'RainbowSettings.eval_every = 2', 'RainbowSettings.eval_episodes = 1',
          'RainbowSettings.eval_max_steps = 16']
  result = subprocess.run(
      [sys.executable, os.path.join(harness.REPO, 'bench', 'learning_check.py'),
       '--agent=rainbow', '--game=starpilot', '--total_env_steps=512',
       '--tail_fraction=0.1', f'--root_dir={tmp_path}', '--random_steps=300',
       *(f'--gin_bindings={b}' for b in tiny)],
      capture_output=True, text=True, timeout=600, check=False)
  assert result.returncode == 0, result.stdout + result.stderr
  out = result.stdout
  assert "Environment.game = 'starpilot'" in out
  assert 'starpilot (easy): Rmin 2.5, Rmax 64' in out
  assert re.search(r'train return, last \d+ rows: ', out)
  assert 'uniformly random policy: ' in out
  assert out.rstrip().splitlines()[-1].startswith('learns: ')
  assert ' x random ' in out.rstrip().splitlines()[-1]


def test_nas_rl_throughput_reports_a_case():
  """A continuous case with gradient features: every part of the split."""
  result = subprocess.run(
      [sys.executable, os.path.join(harness.REPO, 'bench',
                                    'nas_rl_throughput.py'),
       '--cases=cont_acc_grad', '--data=digits', '--rollout_length=28',
       '--gin_bindings=DartsSupernet.channels = 4',
       '--gin_bindings=DartsSupernet.layers = 3',
       # 5 edges a cell (quick traces): 10-step episodes, one SGD step each.
       '--gin_bindings=DartsSupernet.num_nodes = 2',
       '--gin_bindings=SearchSettings.sgd_every = 10',
       '--gin_bindings=SearchSettings.passes = 1',
       '--gin_bindings=PPOSettings.num_epochs = 1',
       '--gin_bindings=PPOSettings.minibatch_size = 28',
       '--gin_bindings=SearchSettings.compiled_forward = False'],
      cwd=harness.REPO, capture_output=True, text=True, timeout=600,
      check=False)
  assert result.returncode == 0, result.stdout + result.stderr
  rows = [line.split('|')[1:-1] for line in result.stdout.splitlines()
          if line.startswith('| cont_acc_grad')]
  assert len(rows) == 1 and rows[0][1].strip() == 'digits'
  values = [float(v) for v in rows[0][2:8]]
  assert all(v > 0 for v in values[:4]) and values[5] > 0, values
  floor = re.search(r'Reward forward floor on digits: ([\d.]+) s per batch.* '
                    r'bound of (\d+) meta-steps/s', result.stdout)
  assert floor and float(floor[1]) > 0 and int(floor[2]) > 0, result.stdout
  rate = re.search(r'Its ([\d.]+) GFLOP run at (\d+) GFLOP/s, (\d+)% of this '
                   r"machine's fp32 matmul rate \((\d+) GFLOP/s\)",
                   result.stdout)
  assert rate and float(rate[1]) > 0 and int(rate[4]) > 0, result.stdout


def test_rainbow_throughput_reports_a_row_with_chunks():
  """The script at smoke scale, its learner in 2 chunks, blocks recomputed:
  one table row with the process's and the tensors' peak memory."""
  result = subprocess.run(
      [sys.executable, os.path.join(harness.REPO, 'bench',
                                    'rainbow_throughput.py'),
       '--encoders=impala_16x3', '--batch_size=16', '--learner_steps=1',
       '--num_envs=2', '--paired_rounds=0', '--gradient_chunks=2',
       '--recompute=blocks'],
      capture_output=True, text=True, timeout=600, check=False)
  assert result.returncode == 0, result.stdout + result.stderr
  assert 'batch 16 in 2 chunk(s)' in result.stdout
  assert 'recomputed: blocks' in result.stdout
  row = next(line for line in result.stdout.splitlines()
             if line.startswith('impala_16x3'))
  peak, tensors = (float(v) for v in row.split()[-2:])
  assert 100 < peak and 0 < tensors < peak  # MB.


def test_an_unknown_recompute_name_is_named():
  result = subprocess.run(
      [sys.executable, os.path.join(harness.REPO, 'bench', 'ppo_throughput.py'),
       '--encoders=impala_16x3', '--recompute=cells'],
      capture_output=True, text=True, timeout=600, check=False)
  assert result.returncode != 0
  assert "unknown --recompute ['cells']; known: blocks, inside_cells" in (
      result.stdout + result.stderr)
