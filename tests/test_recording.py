"""Run artifacts: CSV resume, distinct genotypes, diagrams, alpha plot."""

import csv
import io
import os
import time

import numpy as np
import tensorflow as tf

from rl_darts import diagrams
from rl_darts import genotypes
from rl_darts import networks
from rl_darts import recording


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
  # A resumed recorder forgets genotypes met after its checkpoint.
  recording.AlphaRecorder(str(tmp_path), supernet, resume_step=1)
  assert os.listdir(tmp_path / 'genotypes') == ['step_000000000000.json']


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
