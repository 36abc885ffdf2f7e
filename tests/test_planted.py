"""Planted-architecture recovery: scoring, baselines, bad input, and a search
that recovers a planted op where the frozen-alpha control does not."""

import csv
import json

import numpy as np
import pytest
import tensorflow as tf

from rl_darts.experiments import planted
from rl_darts.space import genotypes
from tests import helpers


def test_a_plant_outside_the_space_is_a_clear_error():
  with pytest.raises(genotypes.GenotypeError, match=r"'MaxPool3x3'.*allowed: "
                     r"Conv3x3, ReLU, Tanh, Skip"):
    planted.PlantedTask(space='micro', plant=((('MaxPool3x3', 0),),))
  with pytest.raises(genotypes.GenotypeError, match=r"'Tanh'.*'s2'"):
    planted.PlantedTask(space='s2')  # The default plant's ops are not in S2.
  with pytest.raises(genotypes.GenotypeError, match="'Zero'"):
    planted.PlantedTask(plant=((('Zero', 0),),))
  with pytest.raises(genotypes.GenotypeError, match='edges_per_node=2'):
    planted.PlantedTask(plant=((('ReLU', 0),), (('ReLU', 0), ('Tanh', 1)),
                               (('ReLU', 0), ('Tanh', 1), ('Skip', 2))))
  with pytest.raises(ValueError, match='PlantedTask.steps must be >= 1; got 0'):
    planted.PlantedTask(steps=0)


def test_recovery_counts_the_planted_pairs_found():
  plant = planted.DEFAULT_PLANT
  assert planted.recovery(plant, plant) == 1.0
  one_wrong = (plant[0], (('Tanh', 0), plant[1][1])) + plant[2:]
  assert planted.recovery(one_wrong, plant) == pytest.approx(6 / 7)


def test_chance_is_the_recovery_of_uniform_random_cells():
  task = planted.PlantedTask()
  rng = np.random.default_rng(0)
  sampled = [planted.recovery(genotypes.sample_cell(
      task.op_names, task.zero_op, 1, task.num_nodes, 2, rng), task.nodes)
             for _ in range(4000)]
  assert planted.chance(task) == pytest.approx(np.mean(sampled), abs=0.01)
  assert planted.chance(task) == pytest.approx(16 / 63)


def test_planted_probabilities_name_each_planted_edge():
  task = planted.PlantedTask()
  probs = np.full((10, 4), 0.25)
  probs[0] = [0.1, 0.7, 0.1, 0.1]  # Edge 0->1: Tanh, the planted op.
  found = planted.planted_probabilities(probs, task)
  assert list(found)[:3] == ['0->1:Tanh', '0->2:Skip', '1->2:ReLU']
  assert found['0->1:Tanh'] == 0.7 and found['1->2:ReLU'] == 0.25


def test_the_planted_cell_is_a_zero_loss_solution_of_the_student():
  """One-hot alpha on the plant (Zero elsewhere) and the teacher's output
  conv: the student is the teacher (and the alpha rows match the edges)."""
  task = planted.PlantedTask()
  pair = planted._Pair(task)  # pylint: disable=protected-access
  x = tf.random.normal([2, 8, 8, task.width], stddev=task.input_std)
  pair.teacher([x])
  pair.student([x], probs=pair.probs())
  one_hot = np.zeros(pair.alpha.shape, np.float32)
  one_hot[:, task.op_names.index('Zero')] = 1
  for row, (source, node) in enumerate(genotypes.cell_edges(1, 4)):
    for op, planted_source in task.nodes[node]:
      if planted_source == source:
        one_hot[row] = np.eye(len(task.op_names))[task.op_names.index(op)]
  pair.alpha.assign(100 * one_hot)
  teacher, student = dict(pair.teacher.named_layers()), dict(
      pair.student.named_layers())
  for name, layer in teacher.items():
    for target, value in zip(student[name].weights, layer.weights):
      target.assign(value)
  assert float(pair.loss(x)) < 1e-10
  pair.alpha.assign(tf.zeros_like(pair.alpha))
  assert float(pair.loss(x)) > 0.01


def _rows(path):
  with open(path, newline='') as f:
    return list(csv.DictReader(f))


def test_the_search_recovers_a_planted_op_and_the_frozen_control_does_not(
    tmp_path):
  plant = ((('Tanh', 0),),)  # Frozen alpha ties; the tie goes to ReLU.
  settings = dict(plant=plant, steps=150, record_every=50)
  search = planted.search(str(tmp_path / 'search'),
                          planted.PlantedTask(**settings), seed=0)
  frozen = planted.search(str(tmp_path / 'frozen'),
                          planted.PlantedTask(freeze_alpha=True, **settings),
                          seed=0)
  assert search['recovery'] == 1.0 and frozen['recovery'] == 0.0
  assert frozen['0->1:Tanh'] == 0.25 != search['0->1:Tanh']
  rows = _rows(tmp_path / 'search' / 'metrics.csv')
  assert [r['step'] for r in rows] == ['50', '100', '150']
  assert (tmp_path / 'search' / 'planted_probability.png').stat().st_size
  assert genotypes.Genotype.load(
      str(tmp_path / 'search' / 'genotype.json')).normal == plant
  # A rerun resumes at the end: nothing trains again, the row is the same.
  again = planted.search(str(tmp_path / 'search'),
                         planted.PlantedTask(**settings), seed=0)
  assert again == pytest.approx(search)
  assert len(_rows(tmp_path / 'search' / 'metrics.csv')) == 3


def test_the_bandit_rewards_the_teachers_choice():
  env = planted.PlantedBandit(256, seed=0)
  same_teacher = planted.PlantedBandit(256, seed=1)
  other_teacher = planted.PlantedBandit(256, seed=0, teacher_seed=1)
  step = env.reset()
  answers = env._best(env._features(step.observation))  # pylint: disable=protected-access
  assert np.all(same_teacher._best(same_teacher._features(  # pylint: disable=protected-access
      step.observation)) == answers)
  assert np.mean(other_teacher._best(other_teacher._features(  # pylint: disable=protected-access
      step.observation)) == answers) < 0.6
  assert np.all(env.step(answers).reward == 1)
  # Centred scores: no action is the answer for much more than a quarter.
  assert env.best_constant_return < 0.35
  assert np.bincount(answers, minlength=4).min() > 256 / 8


@pytest.mark.slow  # PPO runs as subprocesses, through the executor.
def test_a_ppo_search_on_the_bandit_is_scored_against_its_plant(tmp_path):
  helpers.launch('launchers.planted_recovery', tmp_path, [
      '--method=ppo', '--seeds=0',
      '--run_bindings=PPOSettings.total_env_steps = 2048',
      '--run_bindings=Environment.num_envs = 16'])
  with open(tmp_path / 'summary.json') as f:
    summary = json.load(f)
  run_dir = tmp_path / 'search' / 'seed_0'
  assert genotypes.Genotype.load(
      str(run_dir / planted.PLANT_FILE)).normal == planted.DEFAULT_PLANT
  edges = [f'{s}->{n + 1}:{op}' for n, pairs in enumerate(planted.DEFAULT_PLANT)
           for op, s in pairs]
  assert all(summary['frozen'][e] == [0.25] for e in edges)  # Alpha frozen.
  assert any(summary['search'][e] != [0.25] for e in edges)  # Alpha trained.
  found = genotypes.Genotype.load(str(run_dir / 'genotype.json')).normal
  assert summary['search']['recovery'] == [
      planted.recovery(found, planted.DEFAULT_PLANT)]
  assert (tmp_path / 'summary.md').read_text().count('|') > 12
