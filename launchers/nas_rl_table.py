r"""The RL-for-DARTS paper's Table 1 in one command: per row and seed,
pretraining where the row needs it, the search, and the searched cell's
evaluation, each resumable; then the table over seeds.

  python -m launchers.nas_rl_table --rows=disc_nwot,disc_acc --seeds=0,1,2 \
      --data_dir=/data/cifar-10-batches-py --root_dir=runs/table1

Rows are gin_configs/nas_rl/<row>.gin (all nine: --rows=all; the robustness
study on S2-S4, Sec. 4.3: --rows=robustness, with each searched cell's share
of parametric and noise edges beside the paper's verdict). --protocol=
one_search trains the first seed's searched cell with every seed (what the
authors' code implies) instead of a search per seed. Each stage is its
own launcher run (launchers.pretrain_supernet, nas_rl, darts_eval) under
ROOT/pretrain/seed_<s>, ROOT/<row>/seed_<s>/search and .../eval, with --seed;
a rerun skips finished stages and resumes unfinished ones. One pretraining
per seed serves every row that loads a pretrained supernet. --gin_bindings go
to every stage; --pretrain_bindings, --search_bindings and --eval_bindings to
one (e.g. smoke scale on the embedded digits: see WORKSPACE.md).
--reference_cells (e.g. DARTS_V2,DISC_NWOT) trains published cells by the same
protocol and seeds under ROOT/reference/<NAME>/seed_<s>, as the table's
calibration rows on data other than CIFAR-10. Writes ROOT/table.md and
ROOT/table.csv, and each stage's output to its .log.
"""

from __future__ import annotations

import os

from absl import app
from absl import flags

from launchers import common
from launchers import darts_data  # pylint: disable=unused-import
from rl_darts.nas_rl import table
from rl_darts.runtime import logs
from rl_darts.runtime import run_queue
from rl_darts.space import paper_cells

flags.DEFINE_list('rows', ['disc_nwot'], "Table 1 rows (or 'all'): "
                  f'{", ".join(table.ROWS)}; the robustness rows '
                  f"{', '.join(table.ROBUSTNESS_ROWS)} (or 'robustness').")
flags.DEFINE_list('seeds', ['0', '1', '2'], 'Seeds; each row runs every one.')
flags.DEFINE_enum('protocol', 'search_per_seed', table.PROTOCOLS,
                  'search_per_seed: each seed searches and trains its own '
                  "cell; one_search: the first seed's cell is trained with "
                  "every seed (the authors' code's).")
flags.DEFINE_string('eval_config', 'gin_configs/darts_eval/darts.gin',
                    'Evaluation protocol (darts.gin: standard DARTS; '
                    "dartsrl_code.gin: the authors' code).")
flags.DEFINE_list('reference_cells', [], 'Paper cells (rl_darts/space/paper_cells.py '
                  'names) trained by the same protocol and seeds beside the '
                  'rows, without a search.')
flags.DEFINE_multi_string('pretrain_bindings', [], 'Gin bindings of pretraining.')
flags.DEFINE_multi_string('search_bindings', [], 'Gin bindings of the searches.')
flags.DEFINE_multi_string('eval_bindings', [], 'Gin bindings of the evaluations.')
FLAGS = flags.FLAGS


def _parse() -> tuple[list[str], list[int]]:
  groups = {'all': table.ROWS, 'robustness': table.ROBUSTNESS_ROWS}
  rows = [r for name in FLAGS.rows for r in groups.get(name, [name])]
  allowed = (*table.ROWS, *table.ROBUSTNESS_ROWS)
  unknown = [r for r in rows if r not in allowed]
  if unknown or not rows:
    raise app.UsageError(f'unknown Table 1 rows {unknown}; allowed: '
                         f'{", ".join(allowed)}, all (the 9 rows) or '
                         f'robustness (S2-S4)')
  unknown = [c for c in FLAGS.reference_cells if c not in paper_cells.NAMED]
  if unknown:
    raise app.UsageError(f'unknown --reference_cells {unknown}; allowed: '
                         f'{", ".join(paper_cells.NAMED)}')
  seeds = common.int_list('seeds', FLAGS.seeds)
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
  """Runs one launcher on `root` unless it finished (see `run_queue`)."""
  data = (f'--data_dir={FLAGS.data_dir}',) if FLAGS.data_dir else ()
  run_queue.run_all([run_queue.Run(
      name, module, root, seed, tuple(configs),
      (*FLAGS.gin_bindings, *bindings), (*extra, *data))])


def _evaluate(name: str, directory: str, seed: int, genotype: str) -> None:
  """Trains `genotype` (a file or a paper cell's name) under directory/eval."""
  _stage(f'{name} seed {seed}: evaluation', 'darts_eval',
         os.path.join(directory, 'eval'), seed, [FLAGS.eval_config],
         FLAGS.eval_bindings, (f'--genotype={genotype}',))


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
      search_seed = seeds[0] if FLAGS.protocol == 'one_search' else seed
      search = os.path.join(table.seed_dir(root, row, search_seed), 'search')
      checkpoint = ([f"SearchSettings.checkpoint = '{pretrained}'"]
                    if table.needs_pretraining(row) else [])
      _stage(f'{row} seed {search_seed}: search', 'nas_rl', search,
             search_seed, [f'gin_configs/nas_rl/{row}.gin'],
             checkpoint + FLAGS.search_bindings)
      _evaluate(row, table.seed_dir(root, row, seed), seed,
                os.path.join(search, 'genotype.json'))
    for name in FLAGS.reference_cells:
      _evaluate(name, table.reference_dir(root, name, seed), seed, name)
  summary = table.summarize(root, rows, seeds, FLAGS.reference_cells,
                            FLAGS.protocol)
  table.write(root, summary, FLAGS.eval_config)
  with open(os.path.join(root, 'table.md')) as f:
    print(f.read())
  print(f'Wrote {os.path.abspath(os.path.join(root, "table.md"))} and '
        f'table.csv')


if __name__ == '__main__':
  app.run(main)
