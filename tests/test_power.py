"""Confidence intervals and seed counts against known values and simulation."""

import numpy as np
import pytest
from scipy import stats

from rl_darts.experiments import power


def test_interval_is_the_t_interval_of_the_mean():
  mean, low, high = power.interval([1.0, 2.0, 3.0])
  half = stats.t.ppf(0.975, 2) / np.sqrt(3)  # Sample std 1.
  assert (mean, low, high) == pytest.approx((2.0, 2.0 - half, 2.0 + half))
  assert power.interval([0.4]) == (0.4, 0.4, 0.4)


def test_sample_std_divides_by_n_minus_one_and_is_0_for_one_value():
  assert power.sample_std([0.2, 0.4, 0.9]) == pytest.approx(
      np.std([0.2, 0.4, 0.9], ddof=1))
  assert power.sample_std([0.7]) == 0.0


def test_seeds_needed_matches_the_textbook_values():
  # Cohen's d = 1 at alpha 0.05, power 0.8: 17 per arm, or 10 against a
  # known value (G*Power's t-test tables).
  assert power.seeds_needed(1.0, 1.0) == 17
  assert power.seeds_needed(1.0, 1.0, two_arms=False) == 10
  # Large n: the normal approximation 2 (1.96 + 0.84)^2 / d^2 = 392.
  assert 392 <= power.seeds_needed(1.0, 0.2) <= 395
  assert power.seeds_needed(0.5, 1.0) < power.seeds_needed(1.0, 1.0)
  assert power.seeds_needed(1.0, 0.001, most=50) == 51
  with pytest.raises(ValueError, match='gap > 0'):
    power.seeds_needed(1.0, 0.0)


def test_seeds_needed_gives_the_power_asked_for_in_simulation():
  rng = np.random.default_rng(0)
  n = power.seeds_needed(std=2.0, gap=1.5)
  trials = 4000
  a = rng.normal(0.0, 2.0, (trials, n))
  b = rng.normal(1.5, 2.0, (trials, n))
  detected = np.mean(stats.ttest_ind(a, b, axis=1).pvalue < 0.05)
  assert 0.78 < detected < 0.86
  fewer = n - 3
  detected_fewer = np.mean(stats.ttest_ind(
      a[:, :fewer], b[:, :fewer], axis=1).pvalue < 0.05)
  assert detected_fewer < 0.78


def test_adam_steps_to_concentrate_inverts_the_softmax():
  steps = power.adam_steps_to_concentrate(0.5, 6, temperature=5.0,
                                          learning_rate=1e-4)
  alpha = np.zeros(6)
  alpha[0] = steps * 1e-4  # One logit moved by lr per step.
  p = np.exp(5.0 * alpha) / np.exp(5.0 * alpha).sum()
  assert p[0] == pytest.approx(0.5)
  assert steps == pytest.approx(np.log(5) / 5 / 1e-4)
  with pytest.raises(ValueError, match='share must lie in'):
    power.adam_steps_to_concentrate(1 / 6, 6, 5.0, 1e-4)


def test_gap_interval_is_welchs_and_matches_scipys_test():
  first, second = [5.2, 5.4, 5.0], [4.6, 4.9, 4.4, 4.8]
  gap, low, high = power.gap_interval(first, second)
  assert gap == pytest.approx(np.mean(first) - np.mean(second))
  # The interval excludes 0 exactly when Welch's test rejects at 5%, and
  # at its edge the test's p-value is 0.05.
  shifted = np.asarray(first) - low
  assert stats.ttest_ind(shifted, second, equal_var=False).pvalue == (
      pytest.approx(0.05))
  assert power.gap_interval([1.0], [0.0, 2.0]) == (0.0, None, None)


def test_compare_pools_the_std_and_counts_seeds_for_both_gaps():
  first, second = [1.0, 2.0, 3.0], [0.0, 2.0]
  result = power.compare(first, second, target=0.5)
  # Squares about each mean: 2 and 2 over 5 - 2 degrees of freedom.
  assert result.std == pytest.approx(np.sqrt(4 / 3))
  assert result.seeds_for_gap == power.seeds_needed(result.std, 1.0)
  assert result.seeds_for_target == power.seeds_needed(result.std, 0.5)
  assert result.seeds_for_target > result.seeds_for_gap
  alone = power.compare([1.0], [2.0], target=0.5)  # No spread to pool.
  assert (alone.gap, alone.std, alone.seeds_for_gap) == (-1.0, None, None)
