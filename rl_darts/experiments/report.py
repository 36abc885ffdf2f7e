"""A report over RL-DARTS runs, from the files they write (metrics.csv,
operative_config.gin, seed.json, PNGs, random-search summaries), so it works
on runs copied from other machines.

A run is a directory with metrics.csv and operative_config.gin. Its game is
its `Environment.game`, its seed its seed.json, its encoder the network
`make_encoder.network` names, and its arm the path below the given root
without the game and `seed_<s>` parts (a sweep's `<config>/<game>/seed_<s>`
gives the config's name). Random searches (summary.json with `best_cell`)
give a column of their own; their inner runs are not arms.

A run's score is its agent's (`results.SCORE_COLUMNS`): PPO's normalized
train return, Rainbow's greedy evaluation, SAC's greedy return. The report:
final score per game and arm, mean ± sample std over seeds with the mean's 95%
t interval, and the average over games (the form of the paper's Tables 4 and 5), and the same on test
levels where runs evaluate there (Table 1's "Test" row); over games, IQM and
mean with stratified-bootstrap intervals and performance profiles
(`aggregate`); the integrality gap
of each discrete run trained from a supernet run's genotype, beside
IMPALA-CNN's score (Fig. 17, Table 5); the training cost (Table 3's form);
learning curves (mean and a ± 1 sample std band over seeds, App. F); alpha
plots and cell diagrams; each run's settings. As Markdown with PNGs beside it, and as one
self-contained HTML file.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import glob
import html
import json
import os
import re
import shutil
from typing import Optional, Sequence

from gin import config_parser
import numpy as np

from rl_darts.experiments import aggregate
from rl_darts.experiments import power
from rl_darts.experiments import results
from rl_darts.runtime import io_utils
from rl_darts.runtime import recording

ENCODERS = {'Supernet': 'supernet', 'DiscreteNetwork': 'discrete',
            'ImpalaCNN': 'impala_cnn'}


@dataclasses.dataclass
class Run:
  path: str
  arm: str
  game: str
  seed: Optional[int]
  encoder: str
  agent: str
  final: Optional[float]  # The agent's score (`results.SCORE_COLUMNS`).
  test_final: Optional[float]  # The same on test levels, where logged.
  zero_shot_final: Optional[float]  # A supernet's zero-shot discretized
  # cell's test-level score, beside `test_final` (runs.ZeroShot).
  curve: list[tuple[float, float]]
  env_steps: int
  seconds: float
  genotype_source: Optional[str]  # The genotype file a discrete run trained.


class _Literal(config_parser.ParserDelegate):
  """Parses a gin file's values without resolving references."""

  def configurable_reference(self, scoped_name, evaluate):
    return scoped_name

  def macro(self, scoped_name):
    return scoped_name


def bindings(config: str) -> dict[str, object]:
  """'Selector.param' -> value of a gin file's text (references by name)."""
  return {f'{s.selector}.{s.arg_name}': s.value
          for s in config_parser.ConfigParser(config, _Literal())
          if isinstance(s, config_parser.BindingStatement)}


def read_runs(path: str, root: str) -> list[Run]:
  """One run directory's records: one, or one per game of a multi-game run
  (from its per-game columns; the arm marked "(joint)")."""
  with open(os.path.join(path, 'operative_config.gin')) as f:
    config = bindings(f.read())
  game = config.get('Environment.game') or 'unknown'
  if config.get('Environment.kind', 'procgen') != 'procgen':
    game = config['Environment.kind']  # The synthetic task has no game.
  if 'ControlTask.domain' in config:  # SAC on DM-Control.
    game = f"{config['ControlTask.domain']}-{config.get('ControlTask.task')}"
  games = [game] if isinstance(game, str) else list(game)
  seed = None
  if os.path.isfile(os.path.join(path, 'seed.json')):
    with open(os.path.join(path, 'seed.json')) as f:
      seed = int(json.load(f)['seed'])
  parts = [p for p in os.path.relpath(path, root).split(os.sep)
           if p not in ('.', *games) and not re.fullmatch(r'seed_\d+', p)]
  arm = '/'.join(parts) or os.path.basename(os.path.abspath(root))
  rows = results.metrics(path)
  seconds, last = 0.0, 0
  for r in rows:  # Time from each row's env steps and rate.
    step = int(float(r['step']))
    if r.get('env_steps_per_s') not in (None, '') and float(
        r['env_steps_per_s']) > 0:
      seconds += (step - last) / float(r['env_steps_per_s'])
    last = step
  source = config.get('DiscreteNetwork.genotype')
  agent = results.agent_of(list(config))
  score, test = results.SCORE_COLUMNS[agent]
  records = []
  for name in games:
    per_game = (lambda c: c) if len(games) == 1 else (lambda c: f'{c}/{name}')
    curve = _curve(rows, per_game(score))
    records.append(Run(
        path=path, arm=arm if len(games) == 1 else f'{arm} (joint)',
        game=name, seed=seed,
        encoder=ENCODERS.get(config.get('make_encoder.network'), 'other'),
        agent=agent, final=_final(curve),
        test_final=_final(_curve(rows, per_game(test)) if test else []),
        zero_shot_final=_final(
            _curve(rows, per_game(recording.ZERO_SHOT_PREFIX + test))
            if test else []),
        curve=curve, env_steps=last, seconds=seconds,
        genotype_source=source if isinstance(source, str) else None))
  return records


def _curve(rows: list[dict], column: str) -> list[tuple[float, float]]:
  return [(float(r['step']), float(r[column])) for r in rows
          if r.get(column) not in (None, '')]


def _final(curve: list[tuple[float, float]]) -> Optional[float]:
  return results.final_value([v for _, v in curve])


def find(roots: Sequence[str]) -> tuple[list[Run], list[dict]]:
  """The runs under `roots` (outside random searches) and the random
  searches' summaries (each with its game and its root)."""
  found, searches = [], []
  for root in roots:
    if not os.path.isdir(root):
      raise FileNotFoundError(f'--runs {root!r} is not a directory')
    search_dirs = {os.path.dirname(p) for p in glob.glob(
        os.path.join(root, '**', 'summary.json'), recursive=True)
                   if 'best_cell' in io_utils.read_json(p)}
    for search in sorted(search_dirs):
      summary = io_utils.read_json(os.path.join(search, 'summary.json'))
      best = os.path.join(search, 'best')
      game = (read_runs(best, root)[0].game if os.path.isdir(best) else
              bindings('\n'.join(summary.get('run_bindings', []))).get(
                  'Environment.game', 'unknown'))
      searches.append({**summary, 'game': game, 'path': search})
    for metrics in sorted(glob.glob(os.path.join(root, '**', 'metrics.csv'),
                                    recursive=True)):
      path = os.path.dirname(metrics)
      inside = any(os.path.commonpath([path, s]) == s for s in search_dirs)
      if not inside and os.path.isfile(os.path.join(path,
                                                    'operative_config.gin')):
        found += read_runs(path, root)
  if not found and not searches:
    raise FileNotFoundError(f'no runs (metrics.csv with operative_config.gin)'
                            f' under {", ".join(roots)}')
  return found, searches


def _mean_std(values: Sequence[float]) -> str:
  """Mean ± sample std (ddof 1, as App. F's bands over 3 seeds) and the
  mean's 95% t interval; the value alone for one."""
  if not values:
    return ''
  if len(values) == 1:
    return f'{values[0]:.3f} (n=1)'
  mean, low, high = power.interval(values)
  return (f'{mean:.3f} ± {power.sample_std(values):.3f} '
          f'[{low:.3f}, {high:.3f}] (n={len(values)})')


def scores(runs: Sequence[Run], searches: Sequence[dict], column: str,
           game: str, test: bool = False) -> dict[Optional[int], float]:
  """{seed: final score} of an arm (or 'random search') on a game."""
  if column == 'random search':
    return {s.get('seed'): s['best_final_return'] for s in searches
            if s['game'] == game and s.get('best_final_return') is not None}
  finals = {r.seed: r.test_final if test else r.final for r in runs
            if r.arm == column and r.game == game}
  return {seed: v for seed, v in finals.items() if v is not None}


def columns(runs: Sequence[Run], searches: Sequence[dict]) -> list[str]:
  """The score columns: the arms, sorted, then 'random search' if any."""
  return sorted({r.arm for r in runs}) + (
      ['random search'] if searches else [])


def score_matrices(runs: Sequence[Run], searches: Sequence[dict]
                   ) -> dict[str, np.ndarray]:
  """Every arm's (and random search's) [seeds, games] scores, for
  `aggregate`."""
  games = sorted({r.game for r in runs} | {s['game'] for s in searches})
  return aggregate.score_matrices(
      {c: {g: f for g in games if (f := scores(runs, searches, c, g))}
       for c in columns(runs, searches)})


def score_table(runs: Sequence[Run], searches: Sequence[dict],
                test: bool = False) -> tuple[list[str], list[list[str]]]:
  """Rows: games and their average; columns: arms (and random search):
  final score (on test levels with `test`), mean ± std over seeds, empty
  where an arm has no score (a Rainbow run never evaluated greedily). The
  average row averages each seed's games (seeds present in every game)."""
  if test:  # Only arms evaluated on test levels.
    runs, searches = [r for r in runs if r.test_final is not None], []
  games = sorted({r.game for r in runs} | {s['game'] for s in searches})
  names = columns(runs, searches)

  def finals(column: str, game: str) -> dict[Optional[int], float]:
    return scores(runs, searches, column, game, test)

  body = []
  for game in games:
    body.append([game] + [_mean_std(list(finals(c, game).values()))
                          for c in names])
  average = ['average']
  for column in names:
    per_game = [finals(column, g) for g in games]
    seeds = set.intersection(*(set(f) for f in per_game)) if all(
        per_game) else set()
    average.append(_mean_std([float(np.mean([f[s] for f in per_game]))
                              for s in sorted(seeds, key=str)]))
  body.append(average)
  return ['game'] + names, body


class UnknownArmError(ValueError):
  """A comparison names an arm the runs do not have."""


def comparison_table(runs: Sequence[Run], searches: Sequence[dict],
                     pairs: Sequence[tuple[str, str]], target: float
                     ) -> tuple[list[str], list[list[str]]]:
  """Per pair of columns (arms or 'random search') and game both ran:
  the gap of their mean scores with its 95% Welch interval, their pooled
  sample std over seeds, and the seeds per arm a two-sided t-test at 5%
  needs for 80% power against that gap and against `target`
  (`power.compare`). An unknown column is an `UnknownArmError`."""
  known = columns(runs, searches)
  for name in {n for pair in pairs for n in pair} - set(known):
    raise UnknownArmError(f'unknown arm {name!r} to compare; known: '
                          f'{", ".join(known)}')
  ran = {(r.arm, r.game) for r in runs} | {
      ('random search', s['game']) for s in searches}
  rows = []
  for first, second in pairs:
    for game in sorted({g for _, g in ran}):
      if {(first, game), (second, game)} - ran:
        continue
      a, b = (list(scores(runs, searches, c, game).values())
              for c in (first, second))
      if not a or not b:  # A run that finished no episode has no score.
        rows.append([first, second, game, f'{len(a)}, {len(b)}'] +
                    ['n/a'] * 4)
        continue
      c = power.compare(a, b, target)
      interval = ('' if c.low is None else
                  f' [{c.low:.3f}, {c.high:.3f}]')
      rows.append([first, second, game, f'{len(a)}, {len(b)}',
                   f'{c.gap:.3f}{interval}', _number(c.std),
                   _seeds(c.seeds_for_gap), _seeds(c.seeds_for_target)])
  return (['arm', 'against', 'game', 'seeds', 'gap [95% Welch interval]',
           'pooled std', 'seeds per arm for the gap',
           f'seeds per arm for {target:g}'], rows)


def _seeds(count: Optional[int]) -> str:
  """`power.seeds_needed`'s count; '> MOST' where even its most do not
  suffice."""
  if count is None:
    return 'n/a'
  most = power.MOST_SEEDS
  return f'> {most:,}' if count > most else f'{count:,}'


def cost_table(runs: Sequence[Run]) -> tuple[list[str], list[list[str]]]:
  """Table 3's form: per agent and encoder, the measured env steps/s and
  the hours 25M env steps take at that rate on the machine that ran them."""
  groups: dict[tuple[str, str], list[Run]] = {}
  first = {run.path: run for run in reversed(runs)}  # A joint run once.
  for run in first.values():
    if run.seconds > 0 and run.env_steps > 0:
      groups.setdefault((run.agent, run.encoder), []).append(run)
  rows = []
  for (agent, encoder), members in sorted(groups.items()):
    rate = (sum(r.env_steps for r in members) /
            sum(r.seconds for r in members))
    rows.append([agent, encoder, str(len(members)), f'{rate:,.1f}',
                 f'{25e6 / rate / 3600:,.1f}'])
  return (['agent', 'encoder', 'runs', 'env steps/s', 'hours to 25M steps'],
          rows)


def integrality_gaps(runs: Sequence[Run]
                     ) -> tuple[list[str], list[list[str]]]:
  """Per discrete run trained from a supernet run's genotype (same game and
  seed; found by `_same_run`, so runs copied elsewhere still pair): both
  final scores, their gap, and IMPALA-CNN's score on that game
  under the same agent (mean over its seeds) where such runs exist. Scores are compared as
  differences, as Fig. 17 and Table 5 do: a ratio of normalized returns near
  0 means nothing."""
  impala = {}
  for key in {(r.agent, r.game) for r in runs}:
    values = [r.final for r in runs if r.encoder == 'impala_cnn' and
              (r.agent, r.game) == key and r.final is not None]
    impala[key] = float(np.mean(values)) if values else None
  rows = []
  for supernet, cell in _retrained(runs):
    base = impala.get((cell.agent, cell.game))
    rows.append([cell.game, str(cell.seed), supernet.arm, cell.arm,
                 f'{supernet.final:.3f}', f'{cell.final:.3f}',
                 f'{supernet.final - cell.final:.3f}', _number(base),
                 '' if base is None else f'{cell.final - base:.3f}'])
  return (['game', 'seed', 'supernet', 'discrete cell', 'supernet score',
           'cell score', 'gap (supernet - cell)', 'IMPALA-CNN score',
           'cell - IMPALA-CNN'], rows)


def integrality_pairs(runs: Sequence[Run]
                      ) -> list[tuple[str, str, str, list[float], list[float]]]:
  """Per game, supernet arm and the cell arm that retrained its genotypes:
  the supernets' and the cells' final scores over the seeds where both
  finished (the data of Figs. 7 and 17)."""
  pairs: dict[tuple[str, str, str], tuple[list[float], list[float]]] = {}
  for supernet, cell in _retrained(runs):
    found = pairs.setdefault((cell.game, supernet.arm, cell.arm), ([], []))
    found[0].append(supernet.final)
    found[1].append(cell.final)
  return [(*key, *values) for key, values in sorted(pairs.items())]


def plot_integrality(pairs: Sequence[tuple[str, str, str, list[float],
                                           list[float]]],
                     png_path: str) -> None:
  """Figs. 7 and 17's form: per game and search, the supernet's score and
  its retrained cell's side by side, mean over seeds with ± 1 sample std."""
  plt = recording.pyplot()
  fig, ax = plt.subplots(figsize=(max(4, 1.6 * len(pairs)), 3.5))
  x = np.arange(len(pairs))
  for offset, label, index in ((-0.2, 'supernet', 3), (0.2, 'discrete cell', 4)):
    ax.bar(x + offset, [np.mean(p[index]) for p in pairs], 0.4,
           yerr=[power.sample_std(p[index]) for p in pairs], capsize=3,
           label=label)
  ax.set_xticks(x, [f'{game}\n{search}\n(n={len(found)})'
                    for game, search, _, found, _ in pairs], fontsize=7)
  ax.axhline(0, color='grey', linewidth=0.5)
  ax.set_ylabel('score (normalized return)')
  ax.set_title('supernet against its discretized cell, retrained', fontsize=10)
  ax.legend(fontsize=7)
  fig.tight_layout()
  recording.save_figure(fig, png_path)


def zero_shot_gaps(runs: Sequence[Run]
                   ) -> tuple[list[str], list[list[str]]]:
  """Per supernet run that played its zero-shot discretized cell (the
  supernet's weights, alpha one-hot: runs.ZeroShot), on test levels: both
  final scores and their gap, at no training cost; beside them, where
  discrete runs retrained that run's genotype from scratch, their mean
  test-level score and its gap."""
  rows = []
  for supernet in runs:
    if None in (supernet.test_final, supernet.zero_shot_final):
      continue
    retrained = [cell.test_final for cell in runs
                 if _trained_from(cell, supernet) and
                 cell.test_final is not None]
    cell = float(np.mean(retrained)) if retrained else None
    rows.append([supernet.game, str(supernet.seed), supernet.arm,
                 f'{supernet.test_final:.3f}',
                 f'{supernet.zero_shot_final:.3f}',
                 f'{supernet.test_final - supernet.zero_shot_final:.3f}',
                 _number(cell),
                 '' if cell is None else f'{supernet.test_final - cell:.3f}'])
  return (['game', 'seed', 'supernet', 'supernet score', 'zero-shot cell score',
           'zero-shot gap', 'retrained cell score', 'retrained gap'], rows)


def _retrained(runs: Sequence[Run]) -> list[tuple[Run, Run]]:
  """(supernet, cell) per discrete run trained from a supernet run's
  genotype, both with a final score."""
  return [(supernet, cell) for cell in runs for supernet in runs
          if _trained_from(cell, supernet) and
          None not in (supernet.final, cell.final)]


def _trained_from(cell: Run, supernet: Run) -> bool:
  """Whether `cell` is a discrete run of the genotype `supernet` wrote."""
  return (cell.encoder == 'discrete' and supernet.encoder == 'supernet' and
          bool(cell.genotype_source) and
          _same_run(os.path.dirname(cell.genotype_source), supernet.path))


def _same_run(recorded: str, path: str) -> bool:
  """Whether a run directory a config recorded (maybe on another machine or
  checkout) is the run at `path`: the same absolute path, or the same last
  three parts (<arm>/<game>/seed_<s>)."""
  parts = lambda p: os.path.abspath(p).split(os.sep)[-3:]  # pylint: disable=unnecessary-lambda-assignment
  return parts(recorded) == parts(path)


def plot_curves(runs: Sequence[Run], game: str, png_path: str) -> None:
  """Each arm's mean score over seeds on a common step grid, with a band of
  ± 1 sample std (App. F's plots: mean and std over 3 seeds)."""
  plt = recording.pyplot()
  fig, ax = plt.subplots(figsize=(6, 3.5))
  for arm in sorted({r.arm for r in runs if r.game == game}):
    curves = [r.curve for r in runs
              if r.arm == arm and r.game == game and r.curve]
    if not curves:
      continue
    end = min(c[-1][0] for c in curves)
    grid = np.linspace(max(c[0][0] for c in curves), end, 50)
    values = np.array([np.interp(grid, *zip(*c)) for c in curves])
    mean = values.mean(0)
    std = values.std(0, ddof=1) if len(curves) > 1 else np.zeros_like(mean)
    ax.plot(grid, mean, label=f'{arm} (n={len(curves)})')
    ax.fill_between(grid, mean - std, mean + std, alpha=0.2)
  ax.set_xlabel('env steps')
  ax.set_ylabel('score (normalized return)')
  ax.set_title(game, fontsize=10)
  ax.legend(fontsize=7)
  fig.tight_layout()
  recording.save_figure(fig, png_path)


def paper_table(runs: Sequence[Run], searches: Sequence[dict],
                paper: dict[str, float]) -> tuple[list[str], list[list[str]]]:
  """Per arm the paper scores: our average over games (the score table's
  average row; 'not run' where the arm has no run) beside the paper's."""
  header, body = score_table(runs, searches)
  ours = dict(zip(header, body[-1]))
  return (['arm', 'ours: average over games', 'the paper\'s'],
          [[arm, ours.get(arm) or 'not run', f'{value:.3f}']
           for arm, value in paper.items()])


def write(roots: Sequence[str], out_dir: str,
          comparisons: Sequence[tuple[str, str]] = (),
          target_gap: float = 0.1,
          paper: Optional[dict[str, float]] = None) -> str:
  """Writes out_dir/report.md (PNGs in out_dir/figures, each table as CSV in
  out_dir/tables) and out_dir/report.html (self-contained); returns the
  Markdown. `comparisons` pairs arms for `comparison_table` (gaps to detect:
  theirs and `target_gap`); `paper`: the paper's average score of arms, set
  beside ours (`paper_table`)."""
  runs, searches = find(roots)
  figures = os.path.join(out_dir, 'figures')
  os.makedirs(figures, exist_ok=True)
  labels = _labels(runs)
  matrices = score_matrices(runs, searches)
  blocks = (_score_blocks(roots, runs, searches, matrices) +
            _paper_blocks(runs, searches, paper or {}) +
            _comparison_blocks(runs, searches, comparisons, target_gap) +
            _figure_blocks(runs, matrices, labels, figures) +
            _run_blocks(runs, searches) + _config_blocks(labels, out_dir))
  _write_tables(blocks, os.path.join(out_dir, 'tables'))
  markdown = _markdown(blocks)
  io_utils.atomic_write_text(os.path.join(out_dir, 'report.md'), markdown)
  io_utils.atomic_write_text(os.path.join(out_dir, 'report.html'),
                             _html(blocks, out_dir))
  return markdown


Blocks = list[tuple[str, object]]


def _labels(runs: Sequence[Run]) -> list[tuple[Run, str]]:
  """Each run directory once (a multi-game run's records share one), with
  a file-name label: arm, game and seed."""
  first: dict[str, Run] = {}
  for run in runs:
    first.setdefault(run.path, run)
  labels = []
  for run in first.values():
    game = 'games' if run.arm.endswith('(joint)') else run.game
    labels.append((run, f'{run.arm}_{game}_seed{run.seed}'.replace(
        '/', '_').replace(' ', '_')))
  return labels


def _score_blocks(roots: Sequence[str], runs: Sequence[Run],
                  searches: Sequence[dict],
                  matrices: dict[str, np.ndarray]) -> Blocks:
  """The title, the score tables (train and test levels), the aggregates
  over games of `matrices` (`score_matrices`), integrality gaps and the
  training cost."""
  blocks: Blocks = [
      ('h1', 'RL-DARTS report'),
      ('p', f'{_count(len(runs), "run")} and '
            f'{_count(len(searches), "random search", "es")} under '
            f'{", ".join(roots)}. A score is the mean over a run\'s last '
            f'{results.FINAL_FRACTION:.0%} of logged rows of its agent\'s '
            f'score: PPO\'s normalized train return, Rainbow\'s greedy '
            f'evaluation (App. F.2), SAC\'s greedy return; tables show the '
            f'mean ± sample std over seeds [95% t interval of the mean].'),
      ('h2', 'Scores (the form of Tables 4 and 5)'),
      ('table', score_table(runs, searches))]
  header, test_rows = score_table(runs, searches, test=True)
  if len(header) > 1:
    blocks += [('h2', 'Scores on test levels (Table 1\'s Test row)'),
               ('table', (header, test_rows))]
  if matrices:
    blocks += [('h2', 'Aggregates over games (IQM and mean, 95% stratified '
                      'bootstrap CIs, rliable)'),
               ('table', aggregate.table(matrices))]
  header, gaps = integrality_gaps(runs)
  if gaps:
    blocks += [('h2', 'Integrality gap (Fig. 7, Table 5)'),
               ('table', (header, gaps))]
  header, gaps = zero_shot_gaps(runs)
  if gaps:
    blocks += [('h2', 'Zero-shot integrality gap (test levels)'),
               ('p', 'The supernet against its discretized cell with the '
                     "supernet's own weights at its last evaluations; the "
                     'retrained cell, where one ran, trained the genotype '
                     'from scratch.'),
               ('table', (header, gaps))]
  return blocks + [('h2', 'Training cost (the form of Table 3, this machine)'),
                   ('table', cost_table(runs))]


def _write_tables(blocks: Blocks, directory: str) -> None:
  """Each table of `blocks` as <its heading>.csv (lowercase, words joined
  by '_'; a second table under one heading gets '_2')."""
  os.makedirs(directory, exist_ok=True)
  heading, seen = 'table', {}
  for kind, value in blocks:
    if kind in ('h1', 'h2'):
      heading = re.sub(r'[^a-z0-9]+', '_', value.lower()).strip('_')
    elif kind == 'table':
      seen[heading] = seen.get(heading, 0) + 1
      suffix = f'_{seen[heading]}' if seen[heading] > 1 else ''
      io_utils.atomic_write_csv(
          os.path.join(directory, f'{heading}{suffix}.csv'), *value)


def _paper_blocks(runs: Sequence[Run], searches: Sequence[dict],
                  paper: dict[str, float]) -> Blocks:
  if not paper:
    return []
  return [('h2', 'The paper\'s numbers beside ours'),
          ('p', 'The paper\'s average score over its games (all of them, at '
                'its budgets) for the arms it reports; ours is the average '
                'row of the score table above, over the games and budgets '
                'run here.'),
          ('table', paper_table(runs, searches, paper))]


def _comparison_blocks(runs: Sequence[Run], searches: Sequence[dict],
                       pairs: Sequence[tuple[str, str]], target: float
                       ) -> Blocks:
  if not pairs:
    return []
  return [('h2', 'Comparisons: gaps, noise and the seeds a claim needs'),
          ('p', 'Per pair of arms: the gap of mean scores with its 95% '
                'Welch t interval, the pooled sample std over seeds, and '
                'the seeds per arm a two-sided two-sample t-test at 5% '
                'needs for 80% power (noncentral t, that std in both arms)'
                ' to detect the measured gap and a gap of '
                f'{target:g}; n/a where no arm has two seeds.'),
          ('table', comparison_table(runs, searches, pairs, target))]


def alpha_stability(labels: list[tuple[Run, str]]
                    ) -> tuple[list[str], list[list[str]]]:
  """Per search (a run with alpha_stats.csv, finished or not): its alpha
  records, the distinct cells met (genotypes/), the env step of the last
  record whose discretized cell differed from the record before, and the
  last record's mean normalized entropy and top-1 margin per cell type
  (recording.alpha_statistics: entropy 1 is uniform alpha)."""
  rows = []
  for run, _ in labels:
    path = os.path.join(run.path, 'alpha_stats.csv')
    if not os.path.isfile(path):
      continue
    with open(path, newline='') as f:
      records = list(csv.DictReader(f))
    if not records:
      continue
    changes = [r['step'] for r in records if r['hamming'] not in ('', '0')]
    last = records[-1]
    rows.append([run.arm, run.game, str(run.seed), str(len(records)),
                 f'{int(float(last["step"])):,}',
                 str(len(glob.glob(os.path.join(run.path, 'genotypes',
                                                'step_*.json')))),
                 f'{int(float(changes[-1])):,}' if changes else 'never',
                 _per_cell_type(last, 'entropy'),
                 _per_cell_type(last, 'margin')])
  return (['arm', 'game', 'seed', 'alpha records', 'last record at',
           'distinct cells', 'cell last changed at', 'mean entropy',
           'mean top-1 margin'], rows)


def _per_cell_type(record: dict[str, str], statistic: str) -> str:
  """'0.998 (normal), 0.995 (reduce)': an alpha_stats row's means."""
  return ', '.join(f'{float(value):.3f} ({column.split("/")[1]})'
                   for column, value in record.items()
                   if column.startswith(f'{statistic}/') and ':' not in column)


def _figure_blocks(runs: Sequence[Run], matrices: dict[str, np.ndarray],
                   labels: list[tuple[Run, str]], figures: str) -> Blocks:
  """Learning curves per game, performance profiles over games (of
  `score_matrices`); each search's alpha stability, and its alpha, alpha
  statistics and zero-shot plots drawn from its CSVs (so a run under way
  has them too); each run's cell diagrams, copied into `figures`."""
  blocks: Blocks = [('h2', 'Learning curves')]
  for game in sorted({r.game for r in runs}):
    name = f'curves_{game}.png'
    plot_curves(runs, game, os.path.join(figures, name))
    blocks.append(('img', (f'figures/{name}', f'learning curves on {game}')))
  if matrices:
    aggregate.plot_profiles(matrices, os.path.join(figures, 'profiles.png'))
    blocks.append(('img', ('figures/profiles.png',
                           'performance profiles over games')))
  pairs = integrality_pairs(runs)
  if pairs:
    plot_integrality(pairs, os.path.join(figures, 'integrality.png'))
    blocks.append(('img', ('figures/integrality.png', 'supernet against its '
                           'discretized cell (Figs. 7 and 17)')))
  header, stability = alpha_stability(labels)
  if stability:
    blocks += [('h2', 'Alpha over the search'), ('table', (header, stability))]
  pictures = []
  for run, label in labels:
    game = 'games' if run.arm.endswith('(joint)') else run.game
    drawn = []
    for name, draw in (('alpha', recording.plot_alpha),
                       ('alpha_stats', recording.plot_alpha_stats)):
      if os.path.isfile(os.path.join(run.path, f'{name}.csv')):
        drawn.append(f'{label}_{name}.png')
        draw(os.path.join(run.path, f'{name}.csv'),
             os.path.join(figures, drawn[-1]))
    if recording.plot_zero_shot(os.path.join(run.path, 'metrics.csv'),
                                os.path.join(figures,
                                             f'{label}_zero_shot.png')):
      drawn.append(f'{label}_zero_shot.png')
    for source in sorted(glob.glob(os.path.join(run.path, 'genotype_*.png'))):
      drawn.append(f'{label}_{os.path.basename(source)}')
      shutil.copyfile(source, os.path.join(figures, drawn[-1]))
    pictures += [('img', (f'figures/{name}', f'{run.arm}, {game}, seed '
                          f'{run.seed}: {name[len(label) + 1:]}'))
                 for name in drawn]
  return blocks + ([('h2', 'Alpha, found cells and zero-shot cells')] + pictures
                   if pictures else [])


def _run_blocks(runs: Sequence[Run], searches: Sequence[dict]) -> Blocks:
  """The runs and the random searches, one row each."""
  blocks: Blocks = [('h2', 'Runs'), ('table', (
      ['arm', 'game', 'seed', 'encoder', 'env steps', 'hours', 'path'],
      [[r.arm, r.game, str(r.seed), r.encoder, f'{r.env_steps:,}',
        f'{r.seconds / 3600:.2f}', r.path] for r in runs]))]
  if searches:
    blocks += [('h2', 'Random searches (Table 4)'), ('table', (
        ['path', 'game', 'seed', "cells' final returns", 'best cell',
         'best cell retrained'],
        [[s['path'], s['game'], str(s.get('seed')),
          ', '.join(_number(c['final_return']) for c in s['cells']),
          str(s['best_cell']), _number(s.get('best_final_return'))]
         for s in searches]))]
  return blocks


def _config_blocks(labels: list[tuple[Run, str]], out_dir: str) -> Blocks:
  """Each run's operative gin config, copied into out_dir/configs."""
  blocks: Blocks = [('h2', 'Settings (each run\'s operative gin config)')]
  os.makedirs(os.path.join(out_dir, 'configs'), exist_ok=True)
  for run, label in labels:
    name = f'configs/{label}.gin'
    shutil.copyfile(os.path.join(run.path, 'operative_config.gin'),
                    os.path.join(out_dir, name))
    blocks.append(('file', (name, label)))
  return blocks


def _count(n: int, noun: str, plural: str = 's') -> str:
  return f'{n} {noun}{"" if n == 1 else plural}'


def _number(value: Optional[float]) -> str:
  """A score to 3 decimals; 'n/a' for a run that finished no episode."""
  return 'n/a' if value is None else f'{value:.3f}'


def _markdown(blocks) -> str:
  lines = []
  for kind, value in blocks:
    if kind in ('h1', 'h2'):
      lines += ['#' * int(kind[1]) + ' ' + value, '']
    elif kind == 'p':
      lines += [value, '']
    elif kind == 'img':
      lines += [f'![{value[1]}]({value[0]})', '']
    elif kind == 'file':
      lines += [f'- [{value[1]}]({value[0]})']
    else:
      header, rows = value
      lines.append('| ' + ' | '.join(header) + ' |')
      lines.append('|' + '---|' * len(header))
      lines += ['| ' + ' | '.join(row) + ' |' for row in rows]
      lines.append('')
  return '\n'.join(lines)


def _html(blocks, out_dir: str) -> str:
  parts = ['<!DOCTYPE html><html><head><meta charset="utf-8">'
           '<title>RL-DARTS report</title><style>body{font-family:sans-serif;'
           'max-width:1100px;margin:auto}table{border-collapse:collapse}'
           'td,th{border:1px solid #ccc;padding:3px 6px}</style></head><body>']
  for kind, value in blocks:
    if kind in ('h1', 'h2', 'p'):
      parts.append(f'<{kind}>{html.escape(value)}</{kind}>')
    elif kind == 'file':
      with open(os.path.join(out_dir, value[0])) as f:
        parts.append(f'<details><summary>{html.escape(value[1])}</summary>'
                     f'<pre>{html.escape(f.read())}</pre></details>')
    elif kind == 'img':
      with open(os.path.join(out_dir, value[0]), 'rb') as f:
        data = base64.b64encode(f.read()).decode('ascii')
      parts.append(f'<figure><img alt="{html.escape(value[1])}" '
                   f'src="data:image/png;base64,{data}"><figcaption>'
                   f'{html.escape(value[1])}</figcaption></figure>')
    else:
      header, rows = value
      parts.append('<table><tr>' + ''.join(
          f'<th>{html.escape(h)}</th>' for h in header) + '</tr>' + ''.join(
              '<tr>' + ''.join(f'<td>{html.escape(c)}</td>' for c in row) +
              '</tr>' for row in rows) + '</table>')
  parts.append('</body></html>')
  return '\n'.join(parts)
