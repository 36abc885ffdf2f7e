"""Exact gradient accumulation: a minibatch trained as chunks gives the
same gradient and the same update as one pass of it, for each encoder kind."""

import gin
import numpy as np
import pytest
import tensorflow as tf
from tf_agents.specs import tensor_spec

from rl_darts.agents.ppo import train
from rl_darts.envs import environments
from rl_darts.fast import cells as fast_cells
from rl_darts.space import cells
from rl_darts.space import genotypes
from rl_darts.space import ops
from tests import helpers
from tests.helpers import ENCODERS

BATCH = 16


def _agent(gradient_chunks):
  env = environments.QuadrantBandit(2)
  return train.build_agent(env, gradient_chunks)


def _experience(agent, seed=0):
  """A minibatch of the agent's training data: random observations and
  policy info, every step valid (MID), as the learner's minibatches are."""
  tf.random.set_seed(seed)
  experience = tensor_spec.sample_spec_nest(agent.training_data_spec,
                                            outer_dims=(BATCH, 1))
  rng = np.random.default_rng(seed)
  normal = lambda *shape: tf.constant(rng.standard_normal(shape), tf.float32)
  info = {key: normal(BATCH, 1)
          for key in ('return', 'advantage', 'value_prediction')}
  info['dist_params'] = {'logits': 0.5 * normal(BATCH, 1, 4)}
  mid = tf.ones((BATCH, 1), tf.int32)
  return experience._replace(
      step_type=mid, next_step_type=mid, discount=tf.ones((BATCH, 1)),
      action=tf.constant(rng.integers(0, 4, (BATCH, 1)), tf.int32),
      policy_info=info)


@pytest.fixture(params=sorted(ENCODERS))
def encoder(request):
  helpers.parse_gin(ENCODERS[request.param])
  yield request.param
  helpers.parse_gin('')


def test_chunked_gradients_equal_the_whole_minibatch(encoder):
  tf.keras.utils.set_random_seed(0)
  agent = _agent(4)
  experience = _experience(agent)
  chunked, chunked_loss = agent.minibatch_gradients(experience)
  agent.gradient_chunks = 1
  whole, whole_loss = agent.minibatch_gradients(experience)
  assert len(whole) == len(agent.variables_to_train()) > 4
  assert np.isfinite(float(whole_loss.loss))
  assert all(np.all(np.isfinite(g)) for g in whole if g is not None)
  for a, b, v in zip(chunked, whole, agent.variables_to_train()):
    assert (a is None) == (b is None), v.name
    if a is not None:  # float32 sums in another order.
      np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6, err_msg=v.name)
  assert float(chunked_loss.loss) == pytest.approx(float(whole_loss.loss),
                                                   rel=1e-5)
  # Each chunk's own gradient differs: the test can tell chunks apart.
  agent.gradient_chunks = 4
  single = agent.minibatch_gradients(
      tf.nest.map_structure(lambda t: t[:4], experience))[0]
  assert any(not np.allclose(a, b, rtol=1e-2) for a, b in zip(single, whole)
             if a is not None)


def test_chunked_step_is_tf_agents_step(encoder):
  """With SGD (an update proportional to the gradient), one chunked step
  moves every weight as TF-Agents' own step over the whole minibatch."""
  tf.keras.utils.set_random_seed(1)
  plain, chunked = _agent(1), _agent(4)
  # tf.Module order: by attribute names, the same in both agents.
  for source, target in zip(plain.trainable_variables,
                            chunked.trainable_variables, strict=True):
    target.assign(source)
  for agent in (plain, chunked):
    agent._optimizer = tf.keras.optimizers.SGD(0.1)  # pylint: disable=protected-access
  experience = _experience(plain, seed=2)
  before = [v.numpy().copy() for v in plain.trainable_variables]
  plain.train(experience)
  chunked.train(experience)
  moved = 0
  assert all(np.all(np.isfinite(v.numpy())) for v in plain.trainable_variables)
  for start, a, b in zip(before, plain.trainable_variables,
                         chunked.trainable_variables):
    np.testing.assert_allclose(a.numpy() - start, b.numpy() - start,
                               rtol=2e-3, atol=1e-7, err_msg=a.name)
    moved += int(np.abs(a.numpy() - start).max() > 0)
  assert moved > 4
  assert int(chunked.train_step_counter.numpy()) == 1


def test_a_chunk_count_that_does_not_divide_the_minibatch_is_an_error():
  with pytest.raises(ValueError, match='PPOSettings.gradient_chunks 3 does '
                     'not divide minibatch_size 256: pick a divisor'):
    train.PPOSettings(minibatch_size=256, gradient_chunks=3)
  with pytest.raises(ValueError, match='gradient_chunks must be >= 1'):
    train.PPOSettings(gradient_chunks=0)


def _count_calls(layer) -> list[int]:
  """A counter, [n], of the calls of `layer` from now on."""
  count, original = [0], layer.call

  def counted(*args, **kwargs):
    count[0] += 1
    return original(*args, **kwargs)
  layer.call = counted
  return count


def test_recomputed_blocks_give_the_same_gradients(encoder):
  """recompute.blocks: every weight's (and alpha's) gradient as when the
  activations are kept."""
  from rl_darts.space import networks  # pylint: disable=g-import-not-at-top
  tf.keras.utils.set_random_seed(3)
  images = tf.random.uniform([4, 64, 64, 3], 0, 255)
  gradients, calls = [], []
  for recomputed in (False, True):
    tf.keras.utils.set_random_seed(3)
    network = networks.make_encoder()
    network.recompute = recomputed
    network(images)  # Builds it.
    layer = network.blocks[-1][-1][1]
    count = _count_calls(layer)
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(tf.square(network(images, training=True)))
    variables = network.trainable_variables
    gradients.append([g.numpy() for g in tape.gradient(loss, variables)])
    calls.append(count[0])
  assert calls == [1, 2]  # Recomputed: run again in the backward pass.
  assert len(gradients[0]) == len(variables) > 4
  for kept, recomputed, v in zip(*gradients, variables):
    np.testing.assert_allclose(recomputed, kept, rtol=1e-5, atol=1e-6,
                               err_msg=v.name)
  assert any(np.abs(g).max() > 0 for g in gradients[0])


def test_ppo_train_steps_recompute_the_blocks(encoder):
  """recompute.blocks reaches PPO's traced train step: every forward of the
  last block there runs again in the backward pass."""
  from rl_darts.agents.ppo import agent as agent_lib  # pylint: disable=g-import-not-at-top
  calls = []
  for recomputed in (False, True):
    gin.bind_parameter('recompute.blocks', recomputed)
    tf.keras.utils.set_random_seed(0)
    agent = _agent(1)
    layer = agent_lib.encoder_of(agent).blocks[-1][-1][1]
    count = _count_calls(layer)
    tf.function(agent.train, autograph=False).get_concrete_function(
        _experience(agent))
    calls.append(count[0])
  assert calls[0] > 0 and calls[1] == 2 * calls[0], calls


def test_rainbow_chunked_gradients_equal_the_whole_batch(encoder):
  """The C51 loss's gradient over 4 chunks equals the whole batch's (IS
  weights normalized by the whole batch's maximum, as the plain step)."""
  import reverb  # pylint: disable=g-import-not-at-top
  from rl_darts.agents.rainbow import actors  # pylint: disable=g-import-not-at-top
  from rl_darts.agents.rainbow import learning  # pylint: disable=g-import-not-at-top
  from rl_darts.agents.rainbow import train as rainbow_train  # pylint: disable=g-import-not-at-top
  from rl_darts.runtime import runs  # pylint: disable=g-import-not-at-top
  tf.keras.utils.set_random_seed(4)
  settings = rainbow_train.RainbowSettings(
      batch_size=BATCH, min_replay_size=BATCH, replay_size=200, n_step=1,
      environment=runs.Environment(kind='quadrant', num_envs=4))
  env = environments.QuadrantBandit(4)
  server = reverb.Server([rainbow_train.replay_table(settings, env)])
  try:
    address = f'localhost:{server.port}'
    client = reverb.Client(address)
    network = rainbow_train.build_network(env)
    target = rainbow_train.build_network(env)
    actor = actors.BatchedActor(env, actors.EpsilonGreedy(network, 0),
                                np.ones(4, np.float32), client)
    for _ in range(12):
      actor.step()
    client.mutate_priorities(rainbow_train.TABLE, updates={
        int(item.info.key): float(i + 1) for i, item in enumerate(
            client.sample(rainbow_train.TABLE, num_samples=64,
                          emit_timesteps=False,
                          unpack_as_table_signature=True))})
    learner = learning.RainbowLearner(
        network, target, learning.replay_dataset(address, rainbow_train.TABLE,
                                                 BATCH),
        client, rainbow_train.TABLE, discount=0.99, learning_rate=1e-3,
        importance_sampling_exponent=0.2, target_update_period=100)
    sample = next(learner._iterator)  # pylint: disable=protected-access
    results = []
    for chunks in (1, 4):
      learner.gradient_chunks = chunks
      results.append(learner.loss_gradients(sample))
    (loss, losses, whole), (chunk_loss, chunk_losses, chunked) = results
    assert float(chunk_loss) == pytest.approx(float(loss), rel=1e-5)
    np.testing.assert_allclose(chunk_losses, losses, rtol=1e-5, atol=1e-6)
    assert np.ptp(sample.info.probability.numpy()) > 0  # Unequal weights.
    for a, b, v in zip(chunked, whole, network.trainable_variables):
      np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6, err_msg=v.name)
    assert any(np.abs(g).max() > 0 for g in whole)
    actor.close()
  finally:
    server.stop()
  with pytest.raises(ValueError, match='gradient_chunks 3 does not divide '
                     'batch_size 256'):
    rainbow_train.RainbowSettings(gradient_chunks=3)


def test_rollouts_preprocessed_in_chunks_equal_all_at_once():
  """Values and advantages computed a few rollouts at a time (the
  learner's memory bound) equal those of one forward over all of them."""
  import reverb  # pylint: disable=g-import-not-at-top
  from rl_darts.agents.ppo import rollouts  # pylint: disable=g-import-not-at-top
  helpers.parse_gin(ENCODERS['impala_cnn'])
  try:
    tf.keras.utils.set_random_seed(5)
    env = environments.QuadrantBandit(6)
    settings = train.PPOSettings(
        rollout_length=4, minibatch_size=6,
        environment=train.runs.Environment(kind='quadrant', num_envs=6))
    agent = train.build_agent(env)
    server = reverb.Server(train.replay_tables(agent, settings))
    address = f'localhost:{server.port}'
    collector = rollouts.RolloutCollector(env, agent.collect_policy, 4)
    rollout = collector.collect()
    batches = []
    for chunk in (6, 4, 1):  # 6 at once; 4 + 2; one by one.
      rollouts.write_rollout(reverb.Client(address), rollout, train.TABLES[:1])
      data, _ = next(iter(train.rollout_dataset(
          address, train.TABLES[0], agent, 5, 6, preprocess_rollouts=chunk)))
      batches.append(data)
    server.stop()
  finally:
    helpers.parse_gin('')
  advantages = [b.policy_info['advantage'].numpy() for b in batches]
  assert advantages[0].shape == (6, 5) and np.abs(advantages[0]).max() > 0
  for other in batches[1:]:
    tf.nest.map_structure(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
        batches[0], other)


@pytest.mark.parametrize('num_chunks', [3, 8])
def test_chunks_run_one_at_a_time_from_one_graph(num_chunks):
  """The chunks' sums and per-chunk outputs are right; a traced step holds
  the chunk's graph twice (the first chunk, then a loop over the others
  whose every chunk waits for the gradients before it), whatever the chunk
  count."""
  from rl_darts.agents import gradients  # pylint: disable=g-import-not-at-top
  weight = tf.Variable(2.0)
  traced = []

  @tf.function(autograph=False)
  def step(x):
    def chunk_gradients(chunk):
      with tf.GradientTape() as tape:
        loss = weight * chunk[0] * chunk[0]
      traced.append(chunk)
      return [tape.gradient(loss, weight), None], loss
    return gradients.accumulate(x, num_chunks, chunk_gradients)

  values = np.arange(1.0, num_chunks + 1, dtype=np.float32)
  (total, none), losses = step(tf.constant(values))
  assert float(total) == pytest.approx(np.sum(values ** 2)) and none is None
  np.testing.assert_allclose(losses, 2 * values ** 2)
  assert len(traced) == 2
  # The loop's chunk is sliced only once the gradients before it exist
  # (the loop's incoming sum), so it never runs beside the first chunk.
  ancestors, stack = set(), [traced[1].op]
  while stack:
    op = stack.pop()
    if op not in ancestors:
      ancestors.add(op)
      stack += [t.op for t in op.inputs] + list(op.control_inputs)
  waits_for = {c for op in ancestors for c in op.control_inputs}
  sums = [t.op for t in traced[1].graph.inputs if t.dtype == tf.float32
          and t.op.type == 'Placeholder' and t.shape.rank == 0]
  assert waits_for and waits_for <= set(sums)  # The gradient's loop var.
  loop = [op for op in step.get_concrete_function(
      tf.constant(values)).graph.get_operations() if op.type == 'While']
  assert len(loop) == 1
  assert int(loop[0].get_attr('parallel_iterations')) == 1


def test_sac_chunked_updates_equal_the_whole_batch(monkeypatch):
  """Each of SAC's three updates (critics with a supernet's alpha, actor,
  temperature) gets the same gradient from 4 chunks as from the whole
  batch, its policy actions made deterministic (otherwise drawn per chunk:
  the same distribution, other random numbers)."""
  from tf_agents.utils import common  # pylint: disable=g-import-not-at-top
  from rl_darts.agents.sac import train as sac_train  # pylint: disable=g-import-not-at-top
  monkeypatch.chdir(helpers.REPO)
  gin.clear_config()
  gin.parse_config_files_and_bindings(['gin_configs/sac/micro_search.gin'], [
      "ControlTask.domain = 'cartpole'", "ControlTask.task = 'swingup'",
      'ControlTask.image_size = 16', 'Supernet.depths = [4]',
      'Supernet.num_nodes = 2', 'SACSettings.hidden_units = [8]',
      'SACSettings.batch_size = 8', 'SACSettings.initial_collect_steps = 8'])
  try:
    settings = sac_train.SACSettings()
    tf.keras.utils.set_random_seed(5)
    agent, _ = sac_train.build_agent(settings, settings.task.make(0))
  finally:
    gin.clear_config()

  def mode_actions(time_steps, training=False):
    del training  # The train policy's, as SAC's own for its losses.
    policy = agent._train_policy  # pylint: disable=protected-access
    distribution = policy.distribution(
        time_steps, policy.get_initial_state(8)).action
    actions = distribution.mode()
    return actions, common.log_probability(distribution, actions,
                                           agent.action_spec)

  applied = []
  monkeypatch.setattr(agent, '_actions_and_log_probs', mode_actions)
  monkeypatch.setattr(agent, '_apply_gradients',
                      lambda grads, variables, _: applied.append(
                          (list(grads), list(variables))))
  monkeypatch.setattr(agent, '_update_target', lambda: None)
  experience = tensor_spec.sample_spec_nest(
      agent.collect_data_spec, tf.random.Generator.from_seed(3),
      outer_dims=(8, 2))
  experience = experience._replace(  # Mid-episode steps, rewards in [0, 1].
      step_type=tf.ones_like(experience.step_type),
      next_step_type=tf.ones_like(experience.next_step_type),
      reward=tf.random.stateless_uniform([8, 2], [1, 2]),
      discount=tf.ones_like(experience.discount))
  results = {}
  for chunks in (1, 4):
    agent.gradient_chunks = chunks
    applied.clear()
    results[chunks] = agent._train(experience, None), list(applied)  # pylint: disable=protected-access
  (whole_loss, whole), (chunk_loss, chunked) = results[1], results[4]
  for name in ('critic_loss', 'actor_loss', 'alpha_loss'):
    assert float(getattr(chunk_loss.extra, name)) == pytest.approx(
        float(getattr(whole_loss.extra, name)), rel=1e-5), name
  assert len(whole) == len(chunked) == 3  # Critics, actor, temperature.
  assert any('alpha' in v.name for v in whole[0][1])  # The supernet's.
  for (grads, variables), (chunk_grads, same) in zip(whole, chunked):
    assert [v.name for v in same] == [v.name for v in variables]
    assert [g is None for g in chunk_grads] == [g is None for g in grads]
    for a, b, v in zip(chunk_grads, grads, variables):
      if b is not None:
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6, err_msg=v.name)
    assert any(np.abs(g).max() > 0 for g in grads if g is not None)


def test_sac_chunks_must_divide_the_batch():
  from rl_darts.agents.sac import train as sac_train  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match='gradient_chunks 3 does not divide '
                     'batch_size 128'):
    sac_train.SACSettings(gradient_chunks=3)


RL_CELLS = [(name, cell_type) for name in ('classic', 'classic_no_relu', 'micro')
            for cell_type in ops.get_space(name).cell_types]


def _steps_and_gradients(cell, x, probs, recomputed, counted, monkeypatch):
  """The cell's output and gradients (input, probs, weights) with its steps
  recomputed or kept, and how often `counted` (module, name) ran."""
  calls = [0]
  module, name = counted
  original = getattr(module, name)

  def count(*args, **kwargs):
    calls[0] += 1
    return original(*args, **kwargs)

  monkeypatch.setattr(module, name, count)
  cell.recompute_steps = recomputed
  with tf.GradientTape() as tape:
    tape.watch([x, probs])
    y = cell([x], probs=probs, training=True)
    loss = tf.reduce_sum(y * tf.random.stateless_normal(y.shape, seed=[7, 8]))
  gradients = tape.gradient(loss, [x, probs, *cell.trainable_weights],
                            unconnected_gradients=tf.UnconnectedGradients.ZERO)
  monkeypatch.setattr(module, name, original)
  return [y, *gradients], calls[0]


@pytest.mark.parametrize('path', cells.FORWARD_PATHS)
@pytest.mark.parametrize('space_name, cell_type, mixed', [
    *[(*cell, True) for cell in RL_CELLS], ('classic', 'normal', False)])
def test_recomputed_cell_steps_give_the_same_gradients(
    path, space_name, cell_type, mixed, monkeypatch):
  """recompute.inside_cells: each node's sum (reference) or each state's
  edges (fast) runs again in the backward pass, and the output and every
  gradient equal those of the kept activations."""
  space = ops.get_space(space_name)
  names = space.ops(cell_type)
  probs = tf.nn.softmax(tf.random.stateless_normal(
      [len(genotypes.cell_edges(1, 3)), len(names)], seed=[3, 4]))
  reduction = cell_type == 'reduce'
  cell = (cells.supernet_cell(4, names, 1, 3, reduction=reduction) if mixed
          else cells.discrete_cell(
              4, genotypes.discretize_cell(probs.numpy(), names, 1, 2,
                                           space.zero_op), 1))
  cell.forward_path = path
  x = tf.random.stateless_normal([2, 8, 8, 4], seed=[1, 2])
  cell([x], probs=probs)  # Builds.
  for i, weight in enumerate(cell.weights):
    weight.assign(tf.random.stateless_normal(weight.shape, seed=[5, i]))
  counted = ((fast_cells, '_step') if path == 'fast' else
             (cells.Cell, 'regularize') if not mixed else
             (cells.MixedOp, '__call__'))
  kept, kept_calls = _steps_and_gradients(cell, x, probs, False, counted,
                                          monkeypatch)
  again, calls = _steps_and_gradients(cell, x, probs, True, counted,
                                      monkeypatch)
  assert kept_calls > 0 and calls == 2 * kept_calls, (kept_calls, calls)
  assert any(np.abs(g).max() > 0 for g in kept[3:])
  for a, b in zip(again, kept):
    np.testing.assert_allclose(a, b, rtol=1e-5,
                               atol=1e-6 * max(np.abs(b).max(), 1.0))


def test_recomputing_inside_cells_with_batch_statistics_is_an_error():
  gin.bind_parameter('recompute.inside_cells', True)
  try:
    with pytest.raises(ValueError, match='recompute.inside_cells.*sep_conv'):
      cells.supernet_cell(4, ops.get_space('darts').ops('normal'), 2, 2)
    cells.supernet_cell(4, ops.get_space('micro').ops('normal'), 1, 2)
  finally:
    gin.clear_config()
