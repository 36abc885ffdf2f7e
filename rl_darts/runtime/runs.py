"""What every training run shares, whatever the algorithm.

`Environment` (gin: `Environment.game = 'starpilot'`) makes the train- and
test-level envs; `RunLog` owns a run's checkpoints, metrics CSV, TensorBoard
scalars, alpha records, progress line and final artifacts; the Reverb helpers
start a server under the run directory and wait for a remote one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Optional, Sequence

import gin
import numpy as np
import reverb
import tensorflow as tf

from rl_darts.envs import environments
from rl_darts.envs import procgen_env
from rl_darts.runtime import checkpointing
from rl_darts.runtime import io_utils
from rl_darts.runtime import recording
from rl_darts.space import networks

KINDS = ('procgen', 'quadrant', 'planted', 'darts_search')


@gin.configurable
@dataclasses.dataclass
class Environment:
  """The game a run plays; defaults are the Procgen benchmark's (Cobbe et al.
  2020): easy mode, 200 training levels, tests on unlimited levels."""

  kind: str = 'procgen'  # 'quadrant': the synthetic task (tests);
  # 'planted': a teacher's planted cell decides the reward (planted.py);
  # 'darts_search': the RL-for-DARTS search env (nas_rl.environment).
  game: str | Sequence[str] = 'coinrun'  # Several: mixed in every batch.
  distribution_mode: str = 'easy'
  num_levels: int = 200
  start_level: int = 0
  test_start_level: int = 100_000  # Test levels: unlimited, from here.
  num_envs: int = 64
  seed: int = 0

  def __post_init__(self):
    if self.kind not in KINDS:
      raise ValueError(f'unknown environment kind {self.kind!r}; allowed: '
                       f'{", ".join(KINDS)}')
    if self.num_envs < 1:
      raise ValueError(f'Environment.num_envs must be >= 1, got {self.num_envs}')
    if self.kind == 'procgen':
      procgen_env.check_games(self.games, self.num_envs,
                              self.distribution_mode)
    elif len(self.games) > 1:
      raise ValueError(f'several games need Procgen; kind is {self.kind!r}')

  @property
  def games(self) -> tuple[str, ...]:
    return (self.game,) if isinstance(self.game, str) else tuple(self.game)

  def game_of(self, env: int) -> str:
    """The game env index `env` plays (`procgen_env.env_games`)."""
    return procgen_env.env_games(self.games, self.num_envs)[env]

  def make(self, test: bool = False, seed_offset: int = 0,
           root_dir: Optional[str] = None) -> environments.BatchedEnvironment:
    """`num_envs` games on training levels, or on test levels (the DARTS
    search keeps its data split under `root_dir`)."""
    seed = self.seed + seed_offset + (1000 if test else 0)
    if self.kind == 'quadrant':
      return environments.QuadrantBandit(self.num_envs, seed)
    if self.kind == 'planted':
      from rl_darts.experiments import planted  # pylint: disable=g-import-not-at-top
      return planted.PlantedBandit(self.num_envs, seed)
    if self.kind == 'darts_search':
      from rl_darts.nas_rl import environment  # pylint: disable=g-import-not-at-top
      if root_dir is None:
        raise ValueError('the DARTS search env needs a run directory')
      return environment.DartsSearchEnvironment(self.num_envs, seed, root_dir)
    return procgen_env.ProcgenEnvironment(
        self.games, self.num_envs, self.distribution_mode,
        num_levels=0 if test else self.num_levels,
        start_level=self.test_start_level if test else self.start_level,
        seed=seed)

  def normalize(self, episode_return: float, game: Optional[str] = None
                ) -> float:
    """Cobbe et al.'s normalized return in `game` (default: the only one;
    Procgen); the raw return otherwise."""
    if self.kind != 'procgen':
      return episode_return
    if game is None and len(self.games) > 1:
      raise ValueError(f'which game? this env plays {list(self.games)}')
    return procgen_env.normalized_return(game or self.games[0],
                                         self.distribution_mode,
                                         episode_return)

  def max_return(self, mode: Optional[str] = None) -> float | np.ndarray:
    """The game's maximum return in Cobbe et al.'s table for `mode` (default:
    the mode played); the synthetic tasks' is 1. With several games, each
    env's."""
    if self.kind != 'procgen':
      return 1.0
    mode = mode or self.distribution_mode
    if mode not in procgen_env.MODES:
      raise ValueError(f'unknown Procgen mode {mode!r} for the maximum return; '
                       f'modes: {", ".join(procgen_env.MODES)}')
    highs = [procgen_env.RETURN_RANGES[self.game_of(i)][mode][1]
             for i in range(self.num_envs)]
    return highs[0] if len(self.games) == 1 else np.array(highs, np.float32)


def configure_devices() -> list[str]:
  """Turns on memory growth for every visible GPU (several processes of a
  run, a sweep or the tests may share one; TF would give the first all its
  memory) and returns the devices TF will use. Call before TF runs an op."""
  for gpu in tf.config.get_visible_devices('GPU'):
    tf.config.experimental.set_memory_growth(gpu, True)
  return [d.name.replace('/physical_device:', '')
          for d in tf.config.get_visible_devices()]


@gin.configurable
def keras_optimizer(name: str, learning_rate, jit_compile: bool = False,
                    **kwargs) -> tf.keras.optimizers.Optimizer:
  """Keras optimizer `name` ('Adam', 'SGD') for every loop. Keras 2.15
  compiles an optimizer's update with XLA on a GPU; the paper's TF 2.8
  optimizers did not, and XLA needs a matching CUDA toolchain: off unless
  `keras_optimizer.jit_compile = True`, and checked."""
  optimizer = getattr(tf.keras.optimizers, name)(
      learning_rate, jit_compile=jit_compile, **kwargs)
  if optimizer.jit_compile and not jit_compile:
    raise RuntimeError(f'the {name} optimizer compiles with XLA though '
                       f'keras_optimizer.jit_compile is False')
  return optimizer


def check_at_least(settings, **lows: float) -> None:
  """Raises a ValueError naming the first of `settings`' fields that is below
  its lower bound (`check_at_least(s, batch_size=1, eval_every=0)`)."""
  for name, low in lows.items():
    value = getattr(settings, name)
    if value < low:
      raise ValueError(f'{type(settings).__name__}.{name} must be >= {low}; '
                       f'got {value}')


def seed_everything(seed: int, deterministic: bool = False) -> None:
  """Seeds Python, numpy and TF (weights, action sampling, drop-path); with
  `deterministic`, TF's op determinism too (which does not make a run repeat
  to the bit here: see WORKSPACE.md)."""
  tf.keras.utils.set_random_seed(seed)
  if deterministic:
    tf.config.experimental.enable_op_determinism()


def record_seed(root_dir: str, seed: int) -> None:
  """Writes the run's seed to `root_dir/seed.json`; a rerun (which resumes)
  must bring the same seed."""
  path = os.path.join(root_dir, 'seed.json')
  if os.path.exists(path):
    with open(path) as f:
      recorded = json.load(f)['seed']
    if recorded != seed:
      raise ValueError(f'{root_dir} was started with --seed={recorded}; this '
                       f'command passes --seed={seed}: rerun with '
                       f'--seed={recorded} to resume, or use another --root_dir')
    return
  io_utils.atomic_write_text(path, json.dumps({'seed': seed}) + '\n')


def return_columns(environment: Environment, prefix: str) -> list[str]:
  """The metrics columns of `episode_metrics(..., prefix, lengths=False)`."""
  return [f'{prefix}_return', f'{prefix}_return_normalized',
          *game_columns(environment, (prefix,))]


def zero_shot_supernet(encoder: Optional[tf.keras.Model], settings
                       ) -> Optional[networks.Supernet]:
  """The encoder if it is a supernet whose zero-shot discretization the run
  evaluates (its settings' `zero_shot_eval`, and `eval_every` not 0), else
  None."""
  enabled = settings.zero_shot_eval and bool(settings.eval_every)
  return (encoder if enabled and isinstance(encoder, networks.Supernet)
          else None)


class ZeroShot:
  """An evaluator that plays a supernet's zero-shot discretization: its
  discretized cell with the supernet's own weights (`Supernet.discretized`),
  at no training cost. Its metrics are its evaluator's names after
  `recording.ZERO_SHOT_PREFIX`."""

  def __init__(self, evaluator, supernet: networks.Supernet):
    self.evaluator, self.supernet = evaluator, supernet

  def evaluate(self):
    with self.supernet.discretized():
      return self.evaluator.evaluate()


def episode_metrics(environment: Environment, episodes, prefix: str = 'train',
                    lengths: bool = True) -> dict:
  """Mean raw and normalized return and mean length of finished episodes,
  given as (env, return, length). With several games, also each game's
  (`<prefix>_return/<game>`, `<prefix>_return_normalized/<game>`), and the
  normalized return is the mean over the games that finished episodes.
  `lengths=False` leaves out the mean length (evaluations log none)."""
  if not episodes:
    return {}
  mean = float(np.mean([r for _, r, _ in episodes]))
  metrics = {f'{prefix}_return': mean}
  if lengths:
    metrics[f'{prefix}_episode_length'] = float(np.mean(
        [n for _, _, n in episodes]))
  if len(environment.games) == 1:
    metrics[f'{prefix}_return_normalized'] = environment.normalize(mean)
    return metrics
  normalized = []
  for game in environment.games:
    returns = [r for e, r, _ in episodes if environment.game_of(e) == game]
    if returns:
      game_mean = float(np.mean(returns))
      normalized.append(environment.normalize(game_mean, game))
      metrics[f'{prefix}_return/{game}'] = game_mean
      metrics[f'{prefix}_return_normalized/{game}'] = normalized[-1]
  metrics[f'{prefix}_return_normalized'] = float(np.mean(normalized))
  return metrics


def game_columns(environment: Environment, prefixes: Sequence[str]
                 ) -> list[str]:
  """The per-game metrics columns of a multi-game run (none for one game)."""
  if len(environment.games) == 1:
    return []
  return [f'{p}_return{n}/{g}' for p in prefixes for g in environment.games
          for n in ('', '_normalized')]


def start_server(tables: list[reverb.Table], root_dir: str,
                 port: Optional[int]) -> reverb.Server:
  """A Reverb server whose checkpoints go under the run (not $TMPDIR).

  Reverb 0.14 listens on all interfaces; clients here use localhost.
  """
  return reverb.Server(tables, port=port,
                       checkpointer=reverb.checkpointers.DefaultCheckpointer(
                           os.path.join(root_dir, 'replay')))


def serve(tables: list[reverb.Table], root_dir: str, port: int) -> None:
  """The replay role: hosts `tables` under the run until terminated."""
  server = start_server(tables, root_dir, port)
  print(f'Replay server listening on port {server.port}', flush=True)
  server.wait()


def wait_for_server(address: str, timeout: float = 300.0) -> None:
  """Blocks until the Reverb server at `address` answers."""
  deadline = time.monotonic() + timeout
  while True:
    try:
      reverb.Client(address).server_info(timeout=5)
      return
    except (reverb.errors.DeadlineExceededError, RuntimeError, ValueError):
      if time.monotonic() > deadline:
        raise ValueError(f'no Reverb server answers at {address!r} (waited '
                         f'{timeout:.0f}s): start one with --role=replay')
      time.sleep(1.0)


class RunLog:
  """A training loop's bookkeeping, RL or supervised: checkpoints (a rerun
  resumes), metrics.csv and TensorBoard, alpha records and genotypes for a
  supernet, a progress line, and on `finish` the final genotype, diagrams,
  plots and operative config.

  Args:
    root_dir: the run's directory.
    searched: the run's encoder (a `networks.Supernet` gets alpha records),
      or None.
    columns: metrics.csv's columns (None: the first row's).
    total: the steps the run ends at, counted in `unit`s.
    scope: TensorBoard scalars are '{scope}/{name}' (None: '{name}').
    discretize_at: the step whose cell is genotype.json (a supernet's).
    unit: what a step counts ('env step', 'epoch', ...), for messages.
    counter: the step counter's name in the checkpoints.
    shown: metrics the progress line shows besides the return.
    **trackables: what the checkpoints hold.
  """

  def __init__(self, root_dir: str, searched: Optional[networks.Encoder],
               columns: Optional[list[str]], total: int,
               scope: Optional[str], discretize_at: Optional[int] = None,
               unit: str = 'env step', counter: str = 'env_steps',
               shown: Sequence[str] = ('loss',), **trackables):
    self.root_dir, self.scope, self.shown = root_dir, scope, tuple(shown)
    self.counter = tf.Variable(0, dtype=tf.int64, name=counter)
    self.checkpointer = checkpointing.Checkpointer(
        os.path.join(root_dir, 'checkpoints'), unit=unit,
        **{counter: self.counter}, **trackables)
    self.start = self.checkpointer.restore()
    self.counter.assign(self.start)
    if self.start:
      print(f'Resuming at {self.start} {unit}s from '
            f'{self.checkpointer.manager.latest_checkpoint}', flush=True)
    self.writer = tf.summary.create_file_writer(os.path.join(root_dir, 'tb'))
    self.recorder = (
        recording.AlphaRecorder(root_dir, searched, self.writer, self.start,
                                discretize_at)
        if isinstance(searched, networks.Supernet) else None)
    if self.recorder is not None and self.start == 0:
      self.recorder.record(0)
    self.metrics_log = None if columns is None else recording.CsvLog(
        os.path.join(root_dir, 'metrics.csv'), columns, self.start)
    self.progress = recording.Progress(total, unit=f'{unit}s',
                                       start=self.start)
    self.total = total
    self.recent_returns: list[float] = []

  @property
  def step(self) -> int:
    return int(self.counter.numpy())

  @property
  def done(self) -> bool:
    return self.step >= self.total

  def check_finite(self, metrics: dict) -> None:
    self.checkpointer.check_finite(self.step, metrics)

  def write(self, metrics: dict, episodes=(), record_alpha: bool = True,
            checkpoint: bool = False) -> None:
    """Logs `metrics` at the current step (CSV, TensorBoard, progress)
    after checking them and the watched variables (check_finite)."""
    self.check_finite(metrics)
    step = self.step
    metrics = {'step': step, **metrics}
    if self.metrics_log is None:
      self.metrics_log = recording.CsvLog(
          os.path.join(self.root_dir, 'metrics.csv'), list(metrics),
          self.start)
    self.metrics_log.write(metrics)
    with self.writer.as_default(step=step):
      for name, value in metrics.items():
        if name != 'step':
          tf.summary.scalar(name if self.scope is None else
                            f'{self.scope}/{name}', value)
    if self.recorder is not None and record_alpha:
      if self.recorder.record(step) is not None:
        print(f'New discretized cell at {step} {self.progress.unit}',
              flush=True)
    if checkpoint:  # The settings too: a report can read a run under way.
      self.checkpointer.save(step)
      self._write_operative_config()
    self.recent_returns = ([r for _, r, _ in episodes] +
                           self.recent_returns)[:100]
    shown = {'return_100': float(np.mean(self.recent_returns))} if (
        self.recent_returns) else {}  # Distributed: returns are the actors'.
    self.progress.update(step, **shown, **{
        k: v for k, v in metrics.items() if k in self.shown})

  def close(self) -> None:
    """Closes metrics.csv."""
    if self.metrics_log is not None:
      self.metrics_log.close()

  def finish(self) -> None:
    """Saves the last checkpoint and writes the run's final artifacts."""
    if self.step > self.start:
      self.checkpointer.save(self.step)
    self.close()
    if self.recorder is not None:
      print(f'Final genotype: {self.recorder.finish()}', flush=True)
    if self.metrics_log is not None:
      recording.plot_zero_shot(self.metrics_log.path,
                               os.path.join(self.root_dir, 'zero_shot.png'))
    self._write_operative_config()

  def _write_operative_config(self) -> None:
    """The run's settings as gin used them (complete once a step ran)."""
    io_utils.atomic_write_text(
        os.path.join(self.root_dir, 'operative_config.gin'),
        gin.operative_config_str())
