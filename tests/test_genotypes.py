"""Genotype value object, files, DARTS strings, the discretizer, space sizes."""

import collections
import itertools
import json

import numpy as np
import pytest

from rl_darts.space import genotypes
from tests.helpers import DARTS_V2
from rl_darts.space import ops
from rl_darts.space import paper_cells
from rl_darts.space.genotypes import Genotype, GenotypeError

MICRO = ops.get_space('micro')
CLASSIC = ops.get_space('classic')

def test_cell_edges_follow_darts_offsets():
  edges = genotypes.cell_edges(2, 4)
  assert len(edges) == 14
  # Node n's first edge sits at DARTS's offsets 0, 2, 5, 9.
  assert [edges.index((0, n)) for n in range(4)] == [0, 2, 5, 9]
  assert genotypes.cell_edges(1, 4)[:3] == [(0, 0), (0, 1), (1, 1)]


def test_discretizer_hand_worked_table():
  # Micro ops: Conv3x3, ReLU, Tanh, Skip, Zero; 1 input, 3 nodes -> 6 edges.
  probs = np.array([
      [0.1, 0.2, 0.1, 0.1, 0.5],   # (0 -> n0): Zero wins, ReLU is best non-Zero
      [0.6, 0.1, 0.1, 0.1, 0.1],   # (0 -> n1): Conv3x3 0.6
      [0.1, 0.1, 0.1, 0.1, 0.6],   # (1 -> n1): Zero-dominant, Conv3x3 0.1 (tie, lowest index)
      [0.2, 0.2, 0.2, 0.2, 0.2],   # (0 -> n2): all tied: Conv3x3, strength 0.2
      [0.1, 0.1, 0.3, 0.3, 0.2],   # (1 -> n2): Tanh/Skip tie: Tanh, strength 0.3
      [0.05, 0.05, 0.05, 0.8, 0.05],  # (2 -> n2): Skip 0.8
  ])
  nodes = genotypes.discretize_cell(probs, MICRO.normal_ops, 1, 2, 'Zero')
  assert nodes == (
      (('ReLU', 0),),
      (('Conv3x3', 0), ('Conv3x3', 1)),
      (('Tanh', 1), ('Skip', 2)),
  )


def test_discretizer_ties_go_to_earliest_input():
  probs = np.full([6, 5], 0.2)
  nodes = genotypes.discretize_cell(probs, MICRO.normal_ops, 1, 2, 'Zero')
  assert nodes[2] == (('Conv3x3', 0), ('Conv3x3', 1))
  # K = 1 keeps only the single strongest (earliest on ties).
  probs[4, 2] = 0.5
  nodes = genotypes.discretize_cell(probs, MICRO.normal_ops, 1, 1, 'Zero')
  assert nodes[2] == (('Tanh', 1),)


def test_discretizer_zero_never_chosen_even_when_it_dominates():
  probs = np.tile([0.01, 0.02, 0.03, 0.04, 0.9], (6, 1))
  nodes = genotypes.discretize_cell(probs, MICRO.normal_ops, 1, 2, 'Zero')
  assert all(op == 'Skip' for node in nodes for op, _ in node)


def test_discretize_then_one_hot_round_trip():
  rng = np.random.default_rng(0)
  for _ in range(20):
    probs = {t: rng.dirichlet(np.ones(len(CLASSIC.ops(t))), size=10)
             for t in CLASSIC.cell_types}
    genotype = genotypes.discretize(probs, CLASSIC)
    one_hot = {t: genotypes.one_hot_alpha(genotype.nodes(t), CLASSIC.ops(t), 1,
                                          'Zero') for t in CLASSIC.cell_types}
    assert genotypes.discretize(one_hot, CLASSIC) == genotype


def test_json_round_trip(tmp_path):
  genotype = Genotype(normal=[[('Conv3x3', 0)], [('ReLU', 0), ('Skip', 1)]])
  path = tmp_path / 'g.json'
  genotype.save(str(path))
  assert Genotype.load(str(path)) == genotype
  assert json.loads(path.read_text())['reduce'] is None


@pytest.mark.parametrize('content, message', [
    ('{not json', 'not JSON'),
    ('[1, 2]', 'not a genotype file'),
    ('{"format": "rl-darts-genotype", "normal": [[["Conv3x3", 1]]]}',
     'input 1 is not an earlier state'),
    ('{"format": "rl-darts-genotype", "normal": [[["Conv3x3"]]]}',
     'expected [op name, input index]'),
    ('{"format": "rl-darts-genotype", "normal": []}', 'non-empty list of nodes'),
    ('{"format": "rl-darts-genotype", "normal": [[["Skip", 0]]], "extra": 1}',
     "unknown keys ['extra']"),
    ('{"format": "rl-darts-genotype", "normal": [[["Skip", 0]]], '
     '"normal_concat": [7]}', 'normal_concat [7] names a state'),
])
def test_malformed_files_give_clear_errors(tmp_path, content, message):
  path = tmp_path / 'bad.json'
  path.write_text(content)
  with pytest.raises(GenotypeError, match=str(path)) as error:
    Genotype.load(str(path))
  assert message in str(error.value)


def test_missing_file_error_names_path(tmp_path):
  with pytest.raises(GenotypeError, match='nope.json.*does not exist'):
    Genotype.load(str(tmp_path / 'nope.json'))


def test_darts_string_round_trip():
  genotype = Genotype.from_darts_string(DARTS_V2)
  assert genotype.num_inputs == 2
  assert genotype.normal[3] == (('skip_connect', 0), ('dil_conv_3x3', 2))
  assert genotype.reduce_concat == (2, 3, 4, 5)
  assert genotype.to_darts_string() == DARTS_V2
  assert Genotype.from_darts_string(genotype.to_darts_string()) == genotype


def test_darts_string_accepts_range_concat():
  text = DARTS_V2.replace('normal_concat=[2, 3, 4, 5]',
                          'normal_concat=range(2, 6)')
  assert Genotype.from_darts_string(text) == Genotype.from_darts_string(DARTS_V2)


def test_darts_string_accepts_positional_fields():
  positional = DARTS_V2.replace('Genotype(normal=', 'Genotype(', 1)
  assert (Genotype.from_darts_string(positional) ==
          Genotype.from_darts_string(DARTS_V2))


def test_paper_cells_load_by_name():
  for name in paper_cells.NAMED:
    genotype = Genotype.load_any(name)
    assert [len(node) for node in genotype.normal + genotype.reduce] == [2] * 8
  nwot = Genotype.load_any('DISC_NWOT')  # The paper's best cell (Fig. 3).
  assert nwot.normal[0] == (('dil_conv_5x5', 1), ('dil_conv_5x5', 0))
  assert set(nwot.reduce) == {(('sep_conv_5x5', 1), ('sep_conv_5x5', 0))}
  with pytest.raises(GenotypeError, match="'DISC_NWTO' is neither.*DISC_NWOT"):
    Genotype.load_any('DISC_NWTO')


@pytest.mark.parametrize('text, message', [
    ('Genotype(normal=[', 'not a DARTS genotype string'),
    ('__import__("os").system("true")', 'not a DARTS genotype string'),
    ("Genotype(normal=[('sep_conv_3x3', 0)], normal_concat=[2], reduce=[], "
     "reduce_concat=[2])", 'even-length list'),
    ("Genotype(normal=[], reduce=[])", 'fields are'),
    ("Genotype([], normal=[])", 'normal given twice'),
    ("Genotype(normal=[('sep_conv_3x3', 5), ('sep_conv_3x3', 0)], "
     "normal_concat=[2], reduce=[('skip_connect', 0), ('skip_connect', 1)], "
     "reduce_concat=[2])", 'input 5 is not an earlier state'),
])
def test_bad_darts_strings(text, message):
  with pytest.raises(GenotypeError, match=message.replace('(', r'\(')):
    Genotype.from_darts_string(text)


def test_darts_string_needs_two_input_cells():
  with pytest.raises(GenotypeError, match='two-input'):
    Genotype(normal=[[('Skip', 0)]]).to_darts_string()


def _brute_force_count(num_ops, num_inputs, num_nodes, k):
  """Counts edge -> {dropped, op} assignments that leave each node k inputs."""
  edges = genotypes.cell_edges(num_inputs, num_nodes)
  count = 0
  for choice in itertools.product(range(num_ops + 1), repeat=len(edges)):
    kept = [0] * num_nodes
    for (_, node), c in zip(edges, choice):
      kept[node] += c > 0
    count += all(kept[n] == min(k, num_inputs + n) for n in range(num_nodes))
  return count


@pytest.mark.parametrize('num_ops, num_inputs, num_nodes, k', [
    (2, 1, 3, 2), (3, 1, 3, 1), (2, 2, 2, 2), (1, 1, 4, 2), (3, 1, 2, 2)])
def test_space_size_equals_brute_force(num_ops, num_inputs, num_nodes, k):
  assert genotypes.cell_space_size(num_ops, num_inputs, num_nodes, k) == (
      _brute_force_count(num_ops, num_inputs, num_nodes, k))


def test_classic_space_size_matches_paper():
  sizes = genotypes.space_size(CLASSIC, num_inputs=1, num_nodes=4, k=2)
  # App. G.1: 5 * 25 * 75 * 150 normal, 4 * 16 * 48 * 96 reduction, ~4e11.
  assert sizes == {'normal': 1_406_250, 'reduce': 294_912,
                   'total': 1_406_250 * 294_912}
  assert 4e11 < sizes['total'] < 4.2e11


@pytest.mark.parametrize('space, tie', [('dartsrl', 'sep_conv_3x3'),
                                        ('darts', 'max_pool_3x3')])
def test_a_kept_none_edge_decodes_by_the_space_op_order(space, tie):
  """One-hot alpha choosing none on both of node 0's edges (K = 2 keeps
  both): the strongest non-none op is a tie, won by the space's first op
  (the RL-for-DARTS authors' order: sep_conv_3x3)."""
  space = ops.get_space(space)
  names = space.ops('normal')
  chosen = ['none', 'none'] + ['skip_connect'] * 12
  alpha = np.stack([np.eye(len(names))[names.index(op)] for op in chosen]) * 1e6
  probs = np.exp(alpha - alpha.max(1, keepdims=True))
  probs /= probs.sum(1, keepdims=True)
  genotype = genotypes.discretize({'normal': probs, 'reduce': probs}, space, 2)
  assert genotype.normal[0] == ((tie, 0), (tie, 1))


@pytest.mark.parametrize('num_nodes, k', [(2, 2), (3, 1)])
def test_random_cells_are_uniform_over_the_counted_space(num_nodes, k):
  """Every cell App. G.1 counts is drawn, about equally often (chi-square),
  and never with Zero."""
  from scipy import stats  # pylint: disable=import-outside-toplevel
  size = genotypes.cell_space_size(5, 1, num_nodes, k)  # Classic: 5 non-Zero.
  rng = np.random.default_rng(0)
  draws = [genotypes.sample_cell(CLASSIC.ops('normal'), CLASSIC.zero_op, 1,
                                 num_nodes, k, rng) for _ in range(60 * size)]
  counts = np.array(list(collections.Counter(draws).values()))
  assert len(counts) == size
  assert all(op != 'Zero' for cell in draws[:100] for node in cell
             for op, _ in node)
  assert stats.chisquare(counts).pvalue > 1e-3


def test_random_genotypes_follow_the_seed():
  draw = lambda seed: genotypes.sample(  # pylint: disable=g-long-lambda
      CLASSIC, 1, 4, 2, np.random.default_rng(seed))
  assert draw(3) == draw(3) and draw(3) != draw(4)
  assert draw(3).reduce is not None and len(draw(3).normal) == 4
