"""The throughput scripts' supernet/IMPALA-CNN ratios and their medians."""

import os
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
