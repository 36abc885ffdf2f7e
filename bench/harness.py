"""What the throughput scripts share: FLOP counting, one child process per
encoder (so peak memory is that encoder's), and the supernet/IMPALA ratios:
medians over rounds of those processes and over rates timed alternately in
one process (`alternate`), which a shared machine's drift does not skew."""

from __future__ import annotations

import collections
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Sequence

from absl import app
from absl import flags

flags.DEFINE_string('child', None, 'Internal: measure one encoder (or, as '
                    '"paired:A,B", time their learning alternately; as '
                    '"placement:A", audit where its learn step\'s ops run), '
                    'print JSON.')
flags.DEFINE_integer('rounds', 1, 'Measure all encoders this many times, one '
                     'round after another, and give the median of each '
                     'supernet ratio: a shared machine\'s speed drifts.',
                     lower_bound=1)
flags.DEFINE_integer('paired_rounds', 10, 'Then time the learning of '
                     'IMPALA-CNN 16x3 and the supernets in turn in one '
                     'process this many times and give the ratios\' medians '
                     '(0: skip).', lower_bound=0)
flags.DEFINE_list('recompute', [], 'What training recomputes in the backward '
                  'pass instead of keeping: any of blocks, inside_cells '
                  '(recompute.<name> = True).')
flags.DEFINE_integer('gradient_chunks', 1, "Chunks per learner batch (PPO's "
                     'minibatch), one optimizer step: the agent\'s '
                     '<Settings>.gradient_chunks.', lower_bound=1)
PAIRED = 'paired:'
RECOMPUTE = ('blocks', 'inside_cells')
PLACEMENT = 'placement:'
# Op types that carry a train step's arithmetic: on a GPU host, none of them
# should be placed on the CPU.
COMPUTE_OPS = re.compile(r'Conv|MatMul|Pool|Relu|Softmax|BiasAdd|_MixElementwise')

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASELINE = 'impala_16x3'
_DISCRETE_NORMAL = (
    "[[('Conv3x3Relu', 0)], [('Conv5x5Relu', 0), ('Conv3x3Relu', 1)],"
    " [('Skip', 1), ('DilConv3x3Relu', 2)], [('Conv3x3Relu', 0), ('Skip', 3)]]")
# The encoders measured, as gin (the discrete one is a fixed Classic cell).
ENCODERS = {
    'impala_16_32_32': ('make_encoder.network = @ImpalaCNN\n'
                        'ImpalaCNN.depths = [16, 32, 32]'),
    'impala_16x3': ('make_encoder.network = @ImpalaCNN\n'
                    'ImpalaCNN.depths = [16, 16, 16]'),
    'classic_16x3': "include 'gin_configs/networks/classic_supernet.gin'",
    'micro_16x3': "include 'gin_configs/networks/micro_supernet.gin'",
    # Fig. 7's search with its depth too high.
    'micro_64x3': ("include 'gin_configs/networks/micro_supernet.gin'\n"
                   'Supernet.depths = [64, 64, 64]'),
    'discrete_64x3': (
        "include 'gin_configs/networks/discrete_64x3.gin'\n"
        'DiscreteNetwork.genotype = @bench/Genotype()\n'
        f'bench/Genotype.normal = {_DISCRETE_NORMAL}\n'
        "bench/Genotype.reduce = [[('MaxPool3x3', 0)], [('Conv3x3', 0), "
        "('Skip', 1)], [('Conv3x3', 1), ('AveragePool3x3', 2)], "
        "[('Skip', 0), ('Conv3x3', 3)]]"),
    # SAC's (App. A.3): the 4-layer conv baseline and Micro (N 3, I 4, K 1, 32).
    'conv4': 'make_encoder.network = @ConvEncoder',
    'micro_32x3': ("include 'gin_configs/sac/micro_search.gin'\n"
                   'make_encoder.network = @Supernet'),
}


def check_names(names: Sequence[str] | None, known: Sequence[str]
                ) -> list[str]:
  """The requested encoders (all known ones by default); unknown: a usage
  error naming them and the known ones."""
  names = list(names or known)
  unknown = sorted(set(names) - set(known))
  if unknown:
    raise app.UsageError(
        f'unknown encoders {unknown}; known: {", ".join(known)}')
  return names


def parse_gin(name: str, extra: str) -> None:
  """Binds encoder `name` plus `extra` bindings (in place of any earlier)."""
  import gin  # pylint: disable=g-import-not-at-top
  from rl_darts.space import genotypes  # pylint: disable=g-import-not-at-top
  gin.external_configurable(genotypes.Genotype, module='bench')
  gin.clear_config()
  gin.parse_config('\n'.join(
      line.strip() for line in (ENCODERS[name] + '\n' + extra).splitlines()))


def forward_flops(model, input_shape: Sequence[int] = (1, 64, 64, 3),
                  dtype: str = 'uint8') -> int:
  """FLOPs of one forward pass of an `input_shape` batch (TF's profiler on
  the graph of TF ops: the fused mixing kernel's arithmetic is the same, but
  uncounted)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from rl_darts.fast import fused  # pylint: disable=g-import-not-at-top
  with fused.disabled():
    graph = tf.function(model).get_concrete_function(
        tf.TensorSpec(input_shape, dtype)).graph
  options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
  options['output'] = 'none'
  return tf.compat.v1.profiler.profile(graph, options=options).total_float_ops


def gemm_gflops(size: int = 1024, repeats: int = 20) -> float:
  """This machine's fp32 rate on TF's dense matmul (all its threads), the
  best of `repeats`: about the most a conv's multiply-adds can reach."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  a = tf.random.stateless_normal([size, size], [0, 0])
  b = tf.random.stateless_normal([size, size], [0, 1])
  product = tf.function(tf.matmul)
  product(a, b).numpy()
  best = float('inf')
  for _ in range(repeats):
    began = time.perf_counter()
    product(a, b).numpy()
    best = min(best, time.perf_counter() - began)
  return 2 * size ** 3 / best / 1e9


def best_rate(step: Callable[[], object], steps: int, items_per_step: float,
              repeats: int = 3) -> float:
  """Items/s of `steps` calls of a warmed-up `step`: the best of `repeats`
  timings, since other work on a shared machine only ever slows one down."""
  best = 0.0
  for _ in range(repeats):
    began = time.perf_counter()
    for _ in range(steps):
      step()
    best = max(best, steps * items_per_step / (time.perf_counter() - began))
  return best


def alternate(steps: dict[str, tuple[Callable[[], object], float]],
              rounds: int) -> dict[str, list[float]]:
  """Items/s of each (step, items per step) per round, the steps timed in
  turn every round."""
  rates = {name: [] for name in steps}
  for _ in range(rounds):
    for name, (step, items) in steps.items():
      began = time.perf_counter()
      step()
      rates[name].append(items / (time.perf_counter() - began))
  return rates


def peak_mb() -> float:
  """This process's peak resident memory."""
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_tensor_mb() -> float:
  """The peak of TF's tensor allocator over this process: the GPU's if there
  is one, else the CPU's (children run with TF's BFC allocator on the CPU,
  which keeps the count; nan where it does not). Unlike `peak_mb`, it leaves
  out the runtime's own memory (graphs, kernels' caches, Procgen, Reverb)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  device = 'GPU:0' if tf.config.list_logical_devices('GPU') else 'CPU:0'
  try:
    return tf.config.experimental.get_memory_info(device)['peak'] / 2**20
  except ValueError:
    return float('nan')


def _recomputed() -> list[str]:
  """--recompute's names (an unknown one is a usage error)."""
  chosen = flags.FLAGS.recompute
  unknown = sorted(set(chosen) - set(RECOMPUTE))
  if unknown:
    raise app.UsageError(f'unknown --recompute {unknown}; known: '
                         f'{", ".join(RECOMPUTE)}')
  return chosen


def recompute_bindings() -> str:
  """The gin bindings of --recompute."""
  chosen = _recomputed()
  return '\n'.join(f'recompute.{name} = {name in chosen}'
                   for name in RECOMPUTE)


def recompute_flags() -> list[str]:
  """--recompute as a child's flag."""
  return [f'--recompute={",".join(_recomputed())}']


def recompute_title() -> str:
  """--recompute for a table's title ('' if none)."""
  chosen = _recomputed()
  return f', recomputed: {", ".join(chosen)}' if chosen else ''


# A table column: header, result key, width, format spec.
Column = tuple[str, str, int, str]
# The off-policy scripts' table (Rainbow, SAC): see `learner_result`.
LEARNER_COLUMNS: list[Column] = [
    ('params', 'params', 10, ','), ('MFLOP/smp', 'mflops', 11, '.1f'),
    ('learn st/s', 'learner_steps', 11, '.2f'), ('smp/s', 'samples', 8, '.1f'),
    ('GFLOP/s', 'gflops', 9, '.1f'), ('act/s', 'act', 8, '.0f'),
    ('policy/s', 'policy', 10, '.0f'), ('peak MB', 'peak_mb', 9, '.0f'),
    ('tensor MB', 'tensor_mb', 11, '.0f')]


def learner_result(encoder, flops: int, forwards_per_sample: int,
                   samples_per_s: float, batch_size: int, act: float,
                   policy: float) -> dict:
  """An off-policy learner's row: encoder parameters, MFLOP per sample's
  forward pass, learner steps and samples per second, training GFLOP/s (a
  sample costing `forwards_per_sample` forward passes), actor and policy
  rates, peak memory (the process's and its tensors')."""
  return {
      'params': int(sum(v.shape.num_elements()
                        for v in encoder.trainable_variables)),
      'mflops': flops / 1e6,
      'learner_steps': samples_per_s / batch_size,
      'samples': samples_per_s,
      'gflops': forwards_per_sample * flops * samples_per_s / 1e9,
      'act': act,
      'policy': policy,
      'peak_mb': peak_mb(),
      'tensor_mb': peak_tensor_mb(),
  }


def main(script: str, measure: Callable[[str], dict],
         learn: Callable[[str], tuple[Callable[[], object], float]],
         names: Sequence[str], known: Sequence[str], title: str,
         columns: Sequence[Column], child_flags: Sequence[str],
         rate: str) -> None:
  """A throughput script's main. In a child: measure one encoder and print
  its result, or time the `learn(name)` steps (a step and the samples it
  takes) of several in turn. Otherwise: run `script --child=NAME
  *child_flags` per encoder (for each of --rounds rounds), print a table row
  as each comes, then the ratios by samples/s `rate`; then the same ratios
  from IMPALA-CNN 16x3's and the supernets' learning timed in turn in one
  child (--paired_rounds)."""
  child = flags.FLAGS.child
  if child:
    if child.startswith(PLACEMENT):
      result = placement(lambda: learn(child[len(PLACEMENT):])[0]())
    elif child.startswith(PAIRED):
      steps = {name: learn(name) for name in child[len(PAIRED):].split(',')}
      result = alternate(steps, flags.FLAGS.paired_rounds)
    else:
      result = measure(child)
    print('RESULT ' + json.dumps(result), flush=True)
    return
  rounds = flags.FLAGS.rounds
  names = check_names(names, known)
  print(title)
  print(f'{"encoder":<17}' + ''.join(f'{h:>{w}}' for h, _, w, _ in columns))
  measured = []
  for number in range(1, rounds + 1):
    if rounds > 1:
      print(f'round {number} of {rounds}', flush=True)
    results = {}
    for name in names:
      r = run_child(script, name, child_flags)
      if r:
        results[name] = r
        print(f'{name:<17}' + ''.join(f'{r[k]:>{w}{f}}'
                                      for _, k, w, f in columns), flush=True)
    measured.append(results)
  print_ratios(measured, rate)
  paired = [name for name in names if name == BASELINE or _supernet(name)]
  if flags.FLAGS.paired_rounds and BASELINE in paired and len(paired) > 1:
    print(f'{BASELINE} and supernets learning in turn in one process, '
          f'{flags.FLAGS.paired_rounds} rounds', flush=True)
    rates = run_child(script, PAIRED + ','.join(paired), [
        *child_flags, f'--paired_rounds={flags.FLAGS.paired_rounds}'])
    if rates:
      print_ratios(paired_results(rates, measured, rate), rate,
                   'paired round')


def placement(step: Callable[[], object]) -> dict:
  """Runs `step` (building, tracing and running a train step) with TF's
  placement log on, read from this process's stdout (the placer writes it
  there, at any log level): the ops of every traced function by device
  ('CPU', 'GPU') and the compute op types placed on the CPU. TF reads the
  setting when it starts: call this before TF runs any op."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  tf.debugging.set_log_device_placement(True)
  sys.stdout.flush()
  saved = os.dup(1)
  with tempfile.TemporaryFile() as log:
    os.dup2(log.fileno(), 1)
    try:
      step()
    finally:
      sys.stdout.flush()
      os.dup2(saved, 1)
      os.close(saved)
      tf.debugging.set_log_device_placement(False)
    log.seek(0)
    lines = log.read().decode(errors='replace').splitlines()
  ops = collections.Counter()
  on_cpu = set()
  for line in lines:
    found = re.match(r'^\S+: \((\w+)\): \S*device:(CPU|GPU):\d+$', line)
    if found:
      kind, device = found.groups()
      ops[device] += 1
      if device == 'CPU' and COMPUTE_OPS.search(kind):
        on_cpu.add(kind)
  if not ops:
    raise RuntimeError('no placement log: audit a step before TF runs its '
                       'first op (in a fresh process)')
  return {'ops_gpu': ops['GPU'], 'ops_cpu': ops['CPU'],
          'compute_on_cpu': sorted(on_cpu)}


def run_child(script: str, child: str, child_flags: Sequence[str]
               ) -> dict | None:
  """`script --child=CHILD *child_flags`'s result (None, reported, if it
  failed)."""
  out = subprocess.run([sys.executable, script, f'--child={child}',
                        *child_flags], capture_output=True, text=True,
                       check=False, cwd=REPO,
                       env={**os.environ, 'TF_CPU_ALLOCATOR_USE_BFC': 'true'})
  lines = [l for l in out.stdout.splitlines() if l.startswith('RESULT ')]
  if not lines:
    print(f'{child}: failed\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}')
    return None
  return json.loads(lines[-1][len('RESULT '):])


def paired_results(rates: dict[str, list[float]],
                   measured: Sequence[dict[str, dict]], rate: str
                   ) -> list[dict[str, dict]]:
  """Per paired round, results as `ratios` takes them: the rates timed in
  turn, each encoder's MFLOP/sample from the table, and GFLOP/s in
  proportion (the scripts' factor, FLOPs per sample over forward FLOPs, is
  the same for every encoder)."""
  mflops = {name: r['mflops'] for results in measured
            for name, r in results.items()}
  return [{name: {'mflops': mflops[name], rate: values[i],
                  'gflops': mflops[name] * values[i]}
           for name, values in rates.items() if name in mflops}
          for i in range(len(next(iter(rates.values()))))]


def _supernet(name: str) -> bool:
  return name.startswith(('classic', 'micro'))


def ratios(results: dict[str, dict], rate: str
           ) -> dict[str, tuple[float, float, float, float]]:
  """Per supernet measured with IMPALA-CNN 16x3: its FLOP ratio, its cost
  ratio (by samples/s `rate`), the cost ratio over the FLOP ratio, and its
  GFLOP/s over IMPALA-CNN's."""
  base = results.get(BASELINE)
  if base is None:
    return {}
  table = {}
  for name, r in results.items():
    if _supernet(name):
      flop_ratio, cost_ratio = r['mflops'] / base['mflops'], base[rate] / r[rate]
      table[name] = (flop_ratio, cost_ratio, cost_ratio / flop_ratio,
                     r['gflops'] / base['gflops'])
  return table


def print_ratios(measured: Sequence[dict[str, dict]], rate: str,
                 unit: str = 'round') -> None:
  """Each supernet's ratios against IMPALA-CNN 16x3 with the issue's targets:
  the median over `unit`s (rounds), and each one's when there are several."""
  per_round = [ratios(results, rate) for results in measured]
  for name in dict.fromkeys(n for r in per_round for n in r):
    values = [r[name] for r in per_round if name in r]
    flop_ratio, cost_ratio, relative, share = (statistics.median(v)
                                               for v in zip(*values))
    line = (f'{name} vs {BASELINE}'
            + (f' (median of {len(values)} {unit}s)' if len(measured) > 1
               else '')
            + f': FLOP ratio {flop_ratio:.1f}x, training '
            f'cost ratio {cost_ratio:.1f}x ({relative:.2f} of the FLOP '
            f'ratio; target <= 1.10), GFLOP/s {100 * share:.0f}% of '
            "IMPALA-CNN's (target >= 90%)")
    if len(measured) > 1:
      line += (f'; per {unit} (of the FLOP ratio / of GFLOP/s): '
               + ', '.join(f'{v[2]:.2f} / {100 * v[3]:.0f}%' for v in values))
    print(line)
