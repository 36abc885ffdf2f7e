"""dm-acme 0.4.0 on TF 2.15 / Reverb 0.14 through rl_darts.agents.acme_compat."""

import sys

import dm_env
import numpy as np
import pytest
import reverb

from rl_darts.agents import acme_compat  # Before acme.
import acme  # pylint: disable=g-bad-import-order
from acme import datasets
from acme import specs
from acme.adders import reverb as adders


@pytest.fixture(name='spec')
def _spec():
  return specs.EnvironmentSpec(
      observations=specs.Array((4,), np.float32),
      actions=specs.DiscreteArray(3),
      rewards=specs.Array((), np.float32),
      discounts=specs.BoundedArray((), np.float32, 0.0, 1.0))


def test_acme_imports_without_launchpad_or_jax():
  assert acme.__version__ == '0.4.0'
  assert 'jax' not in sys.modules  # The stand-in lived only during import.
  from acme.utils import signals  # pylint: disable=g-import-not-at-top
  with signals.runtime_terminator():
    pass
  acme_compat.install()  # Idempotent.


def test_n_step_adder_writes_to_reverb_and_dataset_reads(spec):
  table = reverb.Table(
      'priority_table', reverb.selectors.Uniform(),
      reverb.selectors.Fifo(), max_size=100,
      rate_limiter=reverb.rate_limiters.MinSize(1),
      signature=adders.NStepTransitionAdder.signature(spec))
  server = reverb.Server([table], port=None)
  address = f'localhost:{server.port}'
  try:
    client = reverb.Client(address)
    adder = adders.NStepTransitionAdder(client, n_step=2, discount=0.5)
    adder.add_first(dm_env.restart(np.zeros(4, np.float32)))
    for i in range(1, 4):
      adder.add(np.int32(i % 3), dm_env.transition(
          np.float32(1.0), np.full(4, i, np.float32), np.float32(1.0)))
    adder.add(np.int32(0), dm_env.TimeStep(
        dm_env.StepType.LAST, np.float32(1.0), np.float32(0.0),
        np.full(4, 9, np.float32)))
    assert client.server_info()['priority_table'].current_size >= 4
    dataset = datasets.make_reverb_dataset(
        server_address=address, batch_size=64, table='priority_table',
        num_parallel_calls=1)
    data = next(iter(dataset)).data
    assert data.observation.shape == (64, 4)
    # The 2-step transition from o_1: r_2 + 0.5 r_3 = 1.5, discount 0.5 (acme
    # stores gamma^(n-1); learners apply the last gamma), next observation o_3
    # (some sample starts at o_1 with probability ~1 - 1e-6).
    from_one = data.observation.numpy()[:, 0] == 1
    assert from_one.any()
    np.testing.assert_allclose(data.reward.numpy()[from_one], 1.5)
    np.testing.assert_allclose(data.discount.numpy()[from_one], 0.5)
    np.testing.assert_allclose(data.next_observation.numpy()[from_one, 0], 3)
  finally:
    server.stop()
