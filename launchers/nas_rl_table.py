r"""The RL-for-DARTS paper's Table 1 in one command: per row and seed,
pretraining where the row needs it, the search, and the searched cell's
evaluation, each resumable; then the table over seeds.

  python -m launchers.nas_rl_table --rows=disc_nwot,disc_acc --seeds=0,1,2 \
      --data_dir=/data/cifar-10-batches-py --root_dir=runs/table1

Rows are gin_configs/nas_rl/<row>.gin (all nine: --rows=all). Each stage is its
own launcher run (launchers.pretrain_supernet, nas_rl, darts_eval) under
ROOT/pretrain/seed_<s>, ROOT/<row>/seed_<s>/search and .../eval, with --seed;
a rerun skips finished stages and resumes unfinished ones. One pretraining
per seed serves every row that loads a pretrained supernet. --gin_bindings go
to every stage; --pretrain_bindings, --search_bindings and --eval_bindings to
one (e.g. smoke scale on the embedded digits: see WORKSPACE.md). Writes
ROOT/table.md and ROOT/table.csv, and each stage's output to its .log.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from absl import app
from absl import flags

from launchers import common  # pylint: disable=unused-import
from launchers import darts_data  # pylint: disable=unused-import
from rl_darts import io_utils
from rl_darts import logs
from rl_darts.nas_rl import table

flags.DEFINE_list('rows', ['disc_nwot'], "Table 1 rows (or 'all'): "
                  f'{", ".join(table.ROWS)}.')
flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds; each row runs every one.')
flags.DEFINE_string('eval_config', 'gin_configs/darts_eval/darts.gin',
                    'Evaluation protocol (darts.gin: standard DARTS; '
                    "dartsrl_code.gin: the authors' code).")
flags.DEFINE_multi_string('pretrain_bindings', [], 'Gin bindings of pretraining.')
flags.DEFINE_multi_string('search_bindings', [], 'Gin bindings of the searches.')
flags.DEFINE_multi_string('eval_bindings', [], 'Gin bindings of the evaluations.')
FLAGS = flags.FLAGS
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _parse() -> tuple[list[str], list[int]]:
  rows = list(table.ROWS) if FLAGS.rows == ['all'] else FLAGS.rows
  unknown = [r for r in rows if r not in table.ROWS]
  if unknown or not rows:
    raise app.UsageError(f'unknown Table 1 rows {unknown}; allowed: '
                         f'{", ".join(table.ROWS)} or all')
  try:
    seeds = [int(s) for s in FLAGS.seeds]
  except ValueError:
    raise app.UsageError(f'--seeds must be integers; got {FLAGS.seeds}'
                         ) from None
  if not seeds or len(set(seeds)) != len(seeds):
    raise app.UsageError(f'--seeds must be distinct integers; got {seeds}')
  if not os.path.isfile(FLAGS.eval_config):
    raise app.UsageError(f'--eval_config {FLAGS.eval_config!r} does not '
                         f'exist; e.g. gin_configs/darts_eval/darts.gin')
  if not FLAGS.root_dir:
    raise app.UsageError('--root_dir is required: where the table writes')
  return rows, seeds


def _stage(name: str, module: str, root: str, seed: int, configs: list[str],
           bindings: list[str], extra: tuple[str, ...] = ()) -> None:
  """Runs one launcher on `root` (its output in root.log) unless root/DONE
  says it finished, which it writes after; a failure stops the table with the
  log's tail."""
  marker = os.path.join(root, 'DONE')
  if os.path.isfile(marker):
    return
  command = [sys.executable, '-m', f'launchers.{module}', f'--root_dir={root}',
             f'--seed={seed}', *(f'--gin_configs={c}' for c in configs),
             *(f'--gin_bindings={b}' for b in [*FLAGS.gin_bindings,
                                                *bindings]), *extra]
  if FLAGS.data_dir:
    command.append(f'--data_dir={FLAGS.data_dir}')
  os.makedirs(os.path.dirname(root), exist_ok=True)
  began = time.monotonic()
  print(f'{name}: running (log: {root}.log)', flush=True)
  with open(f'{root}.log', 'a') as log:
    code = subprocess.call(command, cwd=REPO, stdout=log,
                           stderr=subprocess.STDOUT)
  if code:
    with open(f'{root}.log') as log:
      tail = ''.join(log.readlines()[-15:])
    raise SystemExit(f'{name} failed (exit {code}); the end of {root}.log:\n'
                     f'{tail}')
  io_utils.atomic_write_text(marker, '')
  print(f'{name}: done in {time.monotonic() - began:.0f} s', flush=True)


def main(argv):
  del argv
  logs.set_verbose(FLAGS.verbose)
  rows, seeds = _parse()
  root = FLAGS.root_dir
  for seed in seeds:
    pretrained = table.pretrain_dir(root, seed)
    if any(table.needs_pretraining(r) for r in rows):
      _stage(f'pretrain seed {seed}', 'pretrain_supernet', pretrained, seed,
             ['gin_configs/nas_rl/pretrain.gin'], FLAGS.pretrain_bindings)
    for row in rows:
      directory = table.seed_dir(root, row, seed)
      search = os.path.join(directory, 'search')
      checkpoint = ([f"SearchSettings.checkpoint = '{pretrained}'"]
                    if table.needs_pretraining(row) else [])
      _stage(f'{row} seed {seed}: search', 'nas_rl', search, seed,
             [f'gin_configs/nas_rl/{row}.gin'],
             checkpoint + FLAGS.search_bindings)
      _stage(f'{row} seed {seed}: evaluation', 'darts_eval',
             os.path.join(directory, 'eval'), seed, [FLAGS.eval_config],
             FLAGS.eval_bindings,
             (f'--genotype={os.path.join(search, "genotype.json")}',))
  summary = table.summarize(root, rows, seeds)
  table.write(root, summary, FLAGS.eval_config)
  with open(os.path.join(root, 'table.md')) as f:
    print(f.read())
  print(f'Wrote {os.path.abspath(os.path.join(root, "table.md"))} and '
        f'table.csv')


if __name__ == '__main__':
  app.run(main)
