"""What an RL-for-DARTS search writes: alpha snapshots, the searched cell
(its alpha, genotype, DARTS string and diagrams), the reward curve, and the
reward check against random-policy cells."""

from __future__ import annotations

import io
import json
import os

import numpy as np

from rl_darts.nas_rl import planted
from rl_darts.nas_rl import reward as reward_lib
from rl_darts.runtime import io_utils
from rl_darts.runtime import recording
from rl_darts.space import diagrams
from rl_darts.space import genotypes


def save_alpha(path: str, alpha: reward_lib.Alpha) -> None:
  """One alpha (per cell type) as an .npz, written atomically."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  buffer = io.BytesIO()
  np.savez(buffer, **alpha)
  io_utils.atomic_write_bytes(path, buffer.getvalue())


def reward_check(env, alpha: reward_lib.Alpha, seed: int) -> dict:
  """Does the meta-agent beat chance under its own reward? `alpha`'s reward
  and those of `check_cells` random-policy episodes of `env` (a
  `DartsSearchEnvironment`), each the mean over the same `check_batches`
  reward batches."""
  settings, scorer = env.settings, env.reward
  batches = [next(scorer.reward_batches)
             for _ in range(settings.check_batches)]

  def mean_reward(a: reward_lib.Alpha) -> float:
    probs = reward_lib.probabilities({t: v[None] for t, v in a.items()})[0]
    return float(np.mean([scorer.score(probs, b) for b in batches]))

  final = mean_reward(alpha)
  randoms = [mean_reward(a) for a in
             env.random_alphas(settings.check_cells, seed)]
  return {'reward': settings.reward, 'batches': len(batches),
          'final': final, 'random': randoms,
          'random_mean': float(np.mean(randoms)) if randoms else None,
          'fraction_below_final': float(np.mean(
              np.array(randoms) < final)) if randoms else None}


def genotype_of(env, alpha: reward_lib.Alpha) -> genotypes.Genotype:
  """The discretized cell of one alpha of `env`'s supernet."""
  return env.reward.supernet.genotype(
      reward_lib.probabilities({t: a[None] for t, a in alpha.items()})[0])


def write_recovery(env, alpha: reward_lib.Alpha, root_dir: str) -> dict:
  """recovery.json: the share of edges the searched cell shares with the
  plant, beside that of the reward check's random-policy cells and chance."""
  plant = env.reward.plant
  randoms = [planted.recovery(a, plant) for a in
             env.random_alphas(env.settings.check_cells, env.check_seed)]
  summary = {'recovery': planted.recovery(alpha, plant),
             'random_policy': randoms,
             'random_policy_mean': float(np.mean(randoms)) if randoms else None,
             'chance': float(np.mean([1 / ops for _, ops in
                                      env.shapes.values()]))}
  io_utils.atomic_write_text(os.path.join(root_dir, 'recovery.json'),
                             json.dumps(summary, indent=1) + '\n')
  print(f"Recovery of the plant: {summary['recovery']:.3f} (random policy "
        f"{summary['random_policy_mean']}, chance {summary['chance']})",
        flush=True)
  return summary


def write_final(env, policy, root_dir: str) -> None:
  """The searched cell: one greedy episode's alpha (final_alpha.npz),
  decoded (genotype.json, genotype.txt in the DARTS format, diagrams), the
  reward curve (reward.png), and its reward against random-policy cells'
  (reward_check.json)."""
  alpha = env.final_alpha(policy)
  save_alpha(os.path.join(root_dir, 'final_alpha.npz'), alpha)
  genotype = genotype_of(env, alpha)
  genotype.save(os.path.join(root_dir, 'genotype.json'))
  io_utils.atomic_write_text(os.path.join(root_dir, 'genotype.txt'),
                             genotype.to_darts_string() + '\n')
  diagrams.draw_genotype(genotype, root_dir)
  recording.plot_columns(
      os.path.join(root_dir, 'metrics.csv'), ['train_return'],
      os.path.join(root_dir, 'reward.png'),
      f'mean episode reward ({env.settings.reward}) over env steps')
  print(f'Final genotype: {genotype.to_darts_string()}', flush=True)
  if env.reward.plant is not None:
    write_recovery(env, alpha, root_dir)
  if env.settings.check_cells:
    check = reward_check(env, alpha, seed=env.check_seed)
    io_utils.atomic_write_text(os.path.join(root_dir, 'reward_check.json'),
                               json.dumps(check, indent=1) + '\n')
    print(f"Reward check ({check['reward']}): final cell "
          f"{check['final']:.4f}, random cells {check['random_mean']:.4f} "
          f"(mean of {len(check['random'])}); the final beats "
          f"{check['fraction_below_final']:.0%} of them", flush=True)
