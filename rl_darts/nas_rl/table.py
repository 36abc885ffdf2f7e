"""The RL-for-DARTS paper's Table 1 over seeds, from what the runs wrote.

A table run (launchers.nas_rl_table) lays out ROOT/<row>/seed_<s>/search (the
nas_rl run: metrics.csv, genotype.json) and .../eval (the darts_eval run:
metrics.csv with test_acc and best_test_acc per epoch), ROOT/pretrain/
seed_<s> for the rows that load a pretrained supernet, and ROOT/reference/
<NAME>/seed_<s>/eval for the paper cells trained beside the rows (e.g.
DARTS_V2: on data other than CIFAR-10 they calibrate the rows). `summarize`
reads only those files, so it works on runs copied from elsewhere.
"""

from __future__ import annotations

import csv
import json
import os
import statistics
from typing import Optional, Sequence

from rl_darts.runtime import io_utils
from rl_darts.space import genotypes

# Table 1's rows, each a gin config gin_configs/nas_rl/<row>.gin.
ROWS = ('disc_nwot', 'disc_acc', 'disc_loss', 'disc_ckpt_acc',
        'disc_ckpt_loss', 'cont_acc_step', 'cont_acc_grad_step',
        'cont_loss_step', 'cont_loss_grad_step')
# The robustness study (paper Sec. 4.3): disc-nwot on RobustDARTS' S2-S4, each
# a gin config too, with the paper's verdict on each.
ROBUSTNESS_ROWS = ('s2', 's3', 's4')
# The paper's Table 1: CIFAR-10 test accuracy (%) of each row's cell, 3 runs:
# (mean, std, max).
PAPER = {'disc_nwot': (96.74, 0.30, 97.01), 'disc_acc': (93.78, 0.12, 93.94),
         'disc_loss': (95.43, 0.06, 95.49),
         'disc_ckpt_acc': (95.74, 0.14, 95.87),
         'disc_ckpt_loss': (92.55, 0.39, 92.98),
         'cont_acc_step': (96.08, 0.19, 96.35),
         'cont_acc_grad_step': (96.24, 0.32, 96.42),
         'cont_loss_step': (95.52, 0.16, 95.70),
         'cont_loss_grad_step': (95.67, 0.29, 96.00)}
VERDICTS = {
    's2': 'a robust search picks sep_conv_3x3 over skip_connect',
    's3': 'a robust search picks sep_conv_3x3 over skip_connect and none',
    's4': 'a robust search avoids noise; the paper\'s search picked it (a '
          'failure)'}
# How seeds are used. 'search_per_seed': each seed searches and trains its
# own cell (search and training variance). 'one_search': the first seed's
# search gives the cell every seed trains from scratch; the authors' code
# implies it (its evaluation script trains a named genotype with a --seed,
# as quark0/darts' train.py, from which it derives).
PROTOCOLS = ('search_per_seed', 'one_search')
COLUMNS = ('row', 'seeds', 'test_acc_mean', 'test_acc_std', 'test_acc_max',
           'best_epoch_test_acc_mean', 'epochs', 'search_hours',
           'search_env_steps', 'reward', 'final_cell_reward',
           'random_cells_reward', 'random_cells_below_final',
           'parametric_edges', 'noise_edges', 'paper_test_acc_mean')
# The search's reward_check.json (artifacts.reward_check), per seed.
CHECK = {'final_cell_reward': 'final', 'random_cells_reward': 'random_mean',
         'random_cells_below_final': 'fraction_below_final'}


def needs_pretraining(row: str) -> bool:
  """The ckpt rows and the continuous rows start from a trained supernet."""
  return row.startswith(('disc_ckpt_', 'cont_'))


def seed_dir(root: str, row: str, seed: int) -> str:
  return os.path.join(root, row, f'seed_{seed}')


def reference_dir(root: str, name: str, seed: int) -> str:
  return os.path.join(root, 'reference', name, f'seed_{seed}')


def pretrain_dir(root: str, seed: int) -> str:
  return os.path.join(root, 'pretrain', f'seed_{seed}')


def _rows(path: str) -> list[dict]:
  if not os.path.isfile(path):
    return []
  with open(path, newline='') as f:
    return list(csv.DictReader(f))


def search_seconds(rows: Sequence[dict]) -> float:
  """Training time of a search from its metrics: each iteration's env steps
  over its env_steps_per_s (process start-up left out)."""
  total, previous = 0.0, 0
  for row in rows:
    step = int(row['step'])
    total += (step - previous) / float(row['env_steps_per_s'])
    previous = step
  return total


def _evaluation(directory: str, seed: int) -> Optional[dict]:
  """The evaluation under `directory`/eval, else None."""
  rows = _rows(os.path.join(directory, 'eval', 'metrics.csv'))
  if not rows:
    return None
  return {'seed': seed, 'test_acc': float(rows[-1]['test_acc']),
          'best_test_acc': float(rows[-1]['best_test_acc']),
          'epochs': int(rows[-1]['epoch'])}


def reference_result(root: str, name: str, seed: int) -> Optional[dict]:
  """One evaluated seed of a paper cell, else None (no search columns)."""
  evaluation = _evaluation(reference_dir(root, name, seed), seed)
  if evaluation is None:
    return None
  return {**evaluation, 'dataset': None, 'reward': '',
          **{column: None for column in CHECK}, 'search_seconds': None,
          'parametric_edges': None, 'noise_edges': None,
          'search_env_steps': None,
          'genotype': genotypes.Genotype.load_any(name).to_darts_string()}


def edge_shares(genotype: genotypes.Genotype) -> dict[str, float]:
  """The shares of a cell's edges (normal and reduction) whose op has
  weights (a conv) and whose op is noise: the robustness study's measures."""
  ops = [op for cell_type in ('normal', 'reduce') if getattr(genotype,
                                                             cell_type)
         for node in genotype.nodes(cell_type) for op, _ in node]
  return {'parametric_edges': sum('conv' in op for op in ops) / len(ops),
          'noise_edges': sum(op == 'noise' for op in ops) / len(ops)}


def seed_result(root: str, row: str, seed: int,
                search_seed: Optional[int] = None) -> Optional[dict]:
  """One finished seed of a row (search decoded and evaluated), else None;
  the search is `search_seed`'s (default: the seed's own)."""
  directory = seed_dir(root, row, seed)
  search_dir = os.path.join(
      seed_dir(root, row, seed if search_seed is None else search_seed),
      'search')
  genotype_path = os.path.join(search_dir, 'genotype.json')
  evaluation = _evaluation(directory, seed)
  if evaluation is None or not os.path.isfile(genotype_path):
    return None
  search = _rows(os.path.join(search_dir, 'metrics.csv'))
  with open(os.path.join(search_dir, 'split.json')) as f:
    dataset = json.load(f)['dataset']
  check_path = os.path.join(search_dir, 'reward_check.json')
  check = {}
  if os.path.isfile(check_path):
    with open(check_path) as f:
      check = json.load(f)
  genotype = genotypes.Genotype.load(genotype_path)
  return {**evaluation, 'dataset': dataset,
          'reward': check.get('reward', ''),
          **{column: check.get(key) for column, key in CHECK.items()},
          'search_seconds': search_seconds(search),
          'search_env_steps': int(search[-1]['step']) if search else 0,
          **edge_shares(genotype), 'genotype': genotype.to_darts_string()}


def summarize(root: str, rows: Sequence[str], seeds: Sequence[int],
              references: Sequence[str] = (),
              protocol: str = 'search_per_seed') -> list[dict]:
  """Per row, then per reference cell (row 'NAME (paper cell)'): test
  accuracy (%) of the final epoch, mean, std (sample, over seeds; 0 for one
  seed) and max; the best epoch's mean (what the authors' code reports),
  search time and the seeds' genotypes."""
  table = []
  search_seed = seeds[0] if protocol == 'one_search' else None
  entries = [(row, [seed_result(root, row, s, search_seed) for s in seeds])
             for row in rows]
  entries += [(f'{name} (paper cell)',
               [reference_result(root, name, s) for s in seeds])
              for name in references]
  for row, results in entries:
    results = [r for r in results if r]
    if not results:
      continue
    final = [100 * r['test_acc'] for r in results]
    searches = [r for r in results if r['search_seconds'] is not None]
    table.append({
        'row': row,
        'seeds': ' '.join(str(r['seed']) for r in results),
        'test_acc_mean': statistics.mean(final),
        'test_acc_std': statistics.stdev(final) if len(final) > 1 else 0.0,
        'test_acc_max': max(final),
        'best_epoch_test_acc_mean': statistics.mean(
            100 * r['best_test_acc'] for r in results),
        'epochs': min(r['epochs'] for r in results),
        'search_hours': _mean_of(r['search_seconds'] / 3600
                                 for r in searches),
        'search_env_steps': min((r['search_env_steps'] for r in searches),
                                default=None),
        'reward': ' '.join(sorted({r['reward'] for r in results})),
        **{column: _mean_of(r[column] for r in results)
           for column in (*CHECK, 'parametric_edges', 'noise_edges')},
        'paper_test_acc_mean': PAPER.get(row, (None,))[0],
        'datasets': sorted({r['dataset'] for r in searches}),
        'genotypes': {r['seed']: r['genotype'] for r in results}})
  return table


def _mean_of(values) -> Optional[float]:
  """The mean over seeds that have the value (None if none has)."""
  present = [v for v in values if v is not None]
  return statistics.mean(present) if present else None


def _paper(row: str) -> str:
  """The paper's Table 1 entry of `row`, '' where it has none."""
  if row not in PAPER:
    return ''
  mean, std, best = PAPER[row]
  return f'{mean:.2f} ± {std:.2f} ({best:.2f})'


def _number(value: Optional[float], form: str = '{:.4f}') -> str:
  return '' if value is None else form.format(value)


def write(root: str, table: Sequence[dict], protocol: str) -> None:
  """ROOT/table.csv and ROOT/table.md in Table 1's form (the data set as
  the searches' split.json name it)."""
  lines = [','.join(COLUMNS)]
  for entry in table:
    lines.append(','.join(
        f'{entry[c]:.4f}' if isinstance(entry[c], float) else
        '' if entry[c] is None else str(entry[c]) for c in COLUMNS))
  io_utils.atomic_write_text(os.path.join(root, 'table.csv'),
                             '\n'.join(lines) + '\n')
  datasets = sorted({d for e in table for d in e['datasets']})
  markdown = [
      f'# Table 1 (RL for DARTS) on {", ".join(datasets) or "no data"}',
      '',
      f'Test accuracy (%) of each row\'s searched cell, trained from scratch '
      f'by `{protocol}`: the final epoch\'s, mean ± std (max) over seeds; '
      f'"best epoch" is the mean of each run\'s best test epoch (what the '
      f'authors\' code reports). Search time: the search\'s training time. '
      f'Reward check: the searched cell\'s reward (the row\'s own) against '
      f'the mean over cells of a uniformly random policy, on the same '
      f'batches, and the fraction of those cells it beats (mean over seeds). '
      f'Rows marked "paper cell" are published cells trained by the same '
      f'protocol and seeds, without a search. Paper: the row\'s CIFAR-10 '
      f'test accuracy in the paper\'s Table 1 (3 runs, mean ± std (max)).',
      '',
      '| row | seeds | test acc. % | paper (CIFAR-10) % | best epoch % | '
      'epochs | search env steps | search hours | reward: searched cell | '
      'random cells | beats |',
      '|---|---|---|---|---|---:|---:|---:|---:|---:|---:|']
  for e in table:
    markdown.append(
        f'| {e["row"]} | {e["seeds"]} | {e["test_acc_mean"]:.2f} ± '
        f'{e["test_acc_std"]:.2f} ({e["test_acc_max"]:.2f}) | '
        f'{_paper(e["row"])} | '
        f'{e["best_epoch_test_acc_mean"]:.2f} | {e["epochs"]} | '
        f'{_number(e["search_env_steps"], "{:,}")} | '
        f'{_number(e["search_hours"], "{:.3f}")} | '
        f'{_number(e["final_cell_reward"])} | '
        f'{_number(e["random_cells_reward"])} | '
        f'{_number(e["random_cells_below_final"], "{:.0%}")} |')
  robustness = [e for e in table if e['row'] in ROBUSTNESS_ROWS]
  if robustness:
    markdown += [
        '', '## Robustness (S2-S4, Sec. 4.3)', '',
        'Shares of the searched cells\' edges (mean over seeds) whose op has '
        'weights and whose op is noise, beside the paper\'s verdict.', '',
        '| row | seeds | parametric edges | noise edges | the paper |',
        '|---|---|---:|---:|---|']
    markdown += [f'| {e["row"]} | {e["seeds"]} | '
                 f'{e["parametric_edges"]:.0%} | {e["noise_edges"]:.0%} | '
                 f'{VERDICTS[e["row"]]} |' for e in robustness]
  markdown += ['', '## Genotypes', '']
  for e in table:
    for seed, genotype in e['genotypes'].items():
      markdown.append(f'- {e["row"]}, seed {seed}: `{genotype}`')
  io_utils.atomic_write_text(os.path.join(root, 'table.md'),
                             '\n'.join(markdown) + '\n')
