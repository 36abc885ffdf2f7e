"""Run artifacts: CSV resume, distinct genotypes, diagrams, alpha plot."""

import csv
import io
import os
import time

import numpy as np
import pytest
import tensorflow as tf

from rl_darts.runtime import checkpointing
from rl_darts.runtime import recording
from rl_darts.runtime import runs
from rl_darts.space import diagrams
from rl_darts.space import genotypes
from rl_darts.space import networks


def _rows(path):
  with open(path, newline='') as f:
    return list(csv.reader(f))


def test_csv_log_resume_drops_rows_after_the_checkpoint(tmp_path):
  path = str(tmp_path / 'm.csv')
  log = recording.CsvLog(path, ['step', 'x'])
  for step in range(1, 6):
    log.write({'step': step, 'x': step * 10})
  log.close()
  log = recording.CsvLog(path, ['step', 'x'], resume_step=3)
  log.write({'step': 4, 'x': 'again'})
  log.close()
  assert _rows(path) == [['step', 'x'], ['1', '10'], ['2', '20'], ['3', '30'],
                         ['4', 'again']]
  # A start before any checkpoint logs its step-0 record once, not twice.
  for _ in range(2):
    log = recording.CsvLog(path, ['step', 'x'], resume_step=0)
    log.write({'step': 0, 'x': 'start'})
    log.close()
  assert _rows(path) == [['step', 'x'], ['0', 'start']]


def test_alpha_recorder_keeps_distinct_genotypes_and_draws(tmp_path):
  supernet = networks.Supernet('micro', depths=(4,), normal_cells=2)
  supernet(tf.zeros([1, 64, 64, 3], tf.uint8))
  recorder = recording.AlphaRecorder(str(tmp_path), supernet)
  assert recorder.record(0) is not None
  assert recorder.record(1) is None  # Same alpha, same genotype.
  alpha = supernet.alpha['normal']
  alpha.assign(tf.one_hot(np.full(10, 2), 5) * 3.0)  # Tanh everywhere.
  new = recorder.record(2)
  assert all(op == 'Tanh' for node in new.normal for op, _ in node)
  genotype = recorder.finish()
  assert genotype == new
  assert sorted(os.listdir(tmp_path / 'genotypes')) == [
      'step_000000000000.json', 'step_000000000002.json']
  rows = _rows(tmp_path / 'alpha.csv')
  assert rows[0][1] == 'normal:0->1:Conv3x3' and len(rows) == 4
  assert float(rows[3][3]) > 0.99  # p(Tanh) on edge 0->1 at step 2.
  for name in ('alpha.png', 'genotype_normal.png', 'genotype_normal.svg',
               'supernet_normal.png', 'genotype.json'):
    assert (tmp_path / name).stat().st_size > 100, name
  assert (tmp_path / 'genotype_normal.png').read_bytes()[:4] == b'\x89PNG'
  # Entropy and margin per edge, and the cell's change between records.
  stats = {int(r['step']): r for r in csv.DictReader(
      open(tmp_path / 'alpha_stats.csv', newline=''))}
  assert stats[0]['hamming'] == ''  # Nothing recorded before.
  assert int(stats[1]['hamming']) == 0
  changed = int(stats[2]['hamming'])
  assert changed == recording.hamming(
      genotypes.Genotype.load(str(tmp_path / 'genotypes' /
                                  'step_000000000000.json')), new) > 0
  assert float(stats[0]['entropy/normal']) == pytest.approx(1.0, abs=1e-3)
  assert float(stats[2]['entropy/normal:e0']) < 0.05
  assert float(stats[2]['margin/normal']) > 0.99
  assert (tmp_path / 'alpha_stats.png').stat().st_size > 100
  # A resumed recorder forgets genotypes met after its checkpoint.
  recording.AlphaRecorder(str(tmp_path), supernet, resume_step=1)
  assert os.listdir(tmp_path / 'genotypes') == ['step_000000000000.json']


def test_alpha_statistics_and_hamming_by_hand():
  p = {'normal': np.array([[0.25, 0.25, 0.25, 0.25], [0.7, 0.1, 0.1, 0.1]])}
  stats = recording.alpha_statistics(p)
  assert stats['entropy/normal:e0'] == pytest.approx(1.0)
  assert stats['margin/normal:e0'] == 0.0
  h = -(0.7 * np.log(0.7) + 3 * 0.1 * np.log(0.1)) / np.log(4)
  assert stats['entropy/normal:e1'] == pytest.approx(h)
  assert stats['margin/normal:e1'] == pytest.approx(0.6)
  assert stats['entropy/normal'] == pytest.approx((1 + h) / 2)
  a = genotypes.Genotype(normal=((('Conv3x3', 0),), (('ReLU', 0),
                                                      ('Tanh', 1))))
  b = genotypes.Genotype(normal=((('Conv3x3', 0),), (('ReLU', 1),
                                                      ('Conv3x3', 1))))
  assert recording.hamming(a, b) == 2 and recording.hamming(a, a) == 0


def test_alpha_recorder_discretizes_at_discretize_at(tmp_path):
  """genotype.json is the cell at the first record from `discretize_at` on
  (paper Sec. 4.4: discretized at 25M of 50M); the final cell is
  genotype_final.json; a resume from before that step discretizes again."""
  supernet = networks.Supernet('micro', depths=(4,), normal_cells=2)
  supernet(tf.zeros([1, 64, 64, 3], tf.uint8))
  recorder = recording.AlphaRecorder(str(tmp_path), supernet,
                                     discretize_at=10)
  recorder.record(5)
  assert not (tmp_path / 'genotype.json').exists()
  at_10 = supernet.genotype()
  recorder.record(10)
  supernet.alpha['normal'].assign(tf.one_hot(np.full(10, 2), 5) * 3.0)
  recorder.record(15)
  assert recorder.finish() == at_10
  load = genotypes.Genotype.load
  assert load(str(tmp_path / 'genotype.json')) == at_10
  assert load(str(tmp_path / 'genotype_final.json')) == supernet.genotype()
  assert at_10 != supernet.genotype()
  resumed = recording.AlphaRecorder(str(tmp_path), supernet, resume_step=5,
                                    discretize_at=10)
  resumed.record(10)
  assert load(str(tmp_path / 'genotype.json')) == supernet.genotype()


def test_diagram_labels_discrete_and_supernet_edges():
  genotype = genotypes.Genotype(normal=[[('Conv3x3', 0)],
                                        [('Tanh', 0), ('Skip', 1)]])
  source = diagrams.genotype_graph(genotype, 'normal').source
  assert 'label=Conv3x3' in source and 'label=Skip' in source
  probs = np.array([[0.7, 0.1, 0.1, 0.05, 0.05]] * 3)
  source = diagrams.supernet_graph(probs, ('Conv3x3', 'ReLU', 'Tanh', 'Skip',
                                           'Zero'), 1, 'Zero', 'x').source
  assert source.count('Conv3x3 0.70') == 3 and 'others 0.10' in source


def test_progress_rates_count_from_the_start_step():
  stream = io.StringIO()
  progress = recording.Progress(1000, unit='env steps', interval=0.0,
                                stream=stream, start=200)
  time.sleep(0.05)
  progress.update(400, loss=1.5)  # The first line already has a rate.
  line = stream.getvalue()
  assert line.startswith('[400/1000 env steps] ') and 'loss 1.5' in line
  rate = float(line.split('] ')[1].split()[0])
  assert 0 < rate < 200 / 0.05
  # Slow runs (an epoch in 20 s) keep their digits.
  assert [recording.format_rate(r) for r in (0.048, 0.5, 161.23)] == [
      '0.048', '0.5', '161.2']


def test_run_log_stops_on_non_finite_values_before_checkpointing(tmp_path):
  encoder = networks.ImpalaCNN(depths=[4])
  encoder(tf.zeros([1, 8, 8, 3]))
  log = runs.RunLog(str(tmp_path), encoder, ['step', 'loss'], 100, 'test',
                    network=encoder)
  log.counter.assign(10)
  log.write({'loss': 1.0}, checkpoint=True)
  good = log.checkpointer.manager.latest_checkpoint
  log.counter.assign(20)
  with pytest.raises(checkpointing.NonFiniteError, match=(
      rf'loss = inf at env step 20: stopped without checkpointing; the last '
      rf'good checkpoint is {good} \(a rerun resumes from it\)')):
    log.write({'loss': float('inf')}, checkpoint=True)
  weight = encoder.trainable_variables[0]
  weight.assign(tf.tensor_scatter_nd_update(
      weight, [[0, 0, 0, 0]], [float('nan')]))
  with pytest.raises(checkpointing.NonFiniteError, match=f'variable {weight.name} at '
                     'env step 20'):
    log.write({'loss': 1.0}, checkpoint=True)
  assert log.checkpointer.manager.latest_checkpoint == good
  log.metrics_log.close()
  assert [row[0] for row in _rows(tmp_path / 'metrics.csv')] == ['step', '10']


def test_csv_log_gains_columns_appended_since_a_run_began(tmp_path):
  path = str(tmp_path / 'metrics.csv')
  old = recording.CsvLog(path, ['step', 'loss'])
  for step in (1, 2, 3):
    old.write({'step': step, 'loss': step / 10})
  old.close()
  resumed = recording.CsvLog(path, ['step', 'loss', 'gap'], resume_step=2)
  resumed.write({'step': 3, 'loss': 0.3, 'gap': 1.5})
  resumed.close()
  with open(path, newline='') as f:
    assert list(csv.reader(f)) == [['step', 'loss', 'gap'], ['1', '0.1', ''],
                                   ['2', '0.2', ''], ['3', '0.3', '1.5']]
  with pytest.raises(ValueError, match='use a new --root_dir'):
    recording.CsvLog(path, ['step', 'reward'])
