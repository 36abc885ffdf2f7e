#!/usr/bin/env bash
# Regenerates the long Micro search (README.md beside this script): the RL-DARTS joint search
# with the Micro supernet under PPO on coinrun to 2M env steps, seed 0, then its report. The
# run checkpoints every 2 PPO iterations (about 3 minutes here) and a rerun resumes it; DONE
# skips it. The report reads the run as far as it got (STAGES=report, while it runs).
#
#   docs/results/long_search/regenerate.sh                     # runs under data/
#   ROOT=/tmp/long OUT=/tmp/long docs/results/long_search/regenerate.sh   # from scratch
#   SMOKE=1 ROOT=... OUT=... docs/results/long_search/regenerate.sh       # two tiny iterations
set -euo pipefail
cd "$(dirname "$(realpath "$0")")/../../.."
ROOT=${ROOT:-docs/results/long_search/data}
OUT=${OUT:-docs/results/long_search}
PYTHON=${PYTHON:-.venv/bin/python}
STAGES=${STAGES:-search report}
STEPS=2015232   # 123 PPO iterations of 64 envs x 256 steps: the first past 2M.
EVAL_EVERY=10   # Test levels, supernet and its zero-shot cell, every 163,840 env steps.
SMALL=()
if [[ "${SMOKE:-0}" == 1 ]]; then
  STEPS=32 EVAL_EVERY=1
  SMALL=("Supernet.depths = [4]" "Supernet.num_nodes = 2" "Environment.num_envs = 2"
         "PPOSettings.rollout_length = 8" "PPOSettings.minibatch_size = 8"
         "PPOSettings.num_epochs = 1" "PPOSettings.eval_steps = 4")
fi
extra=()
for b in "PPOSettings.total_env_steps = $STEPS" "PPOSettings.eval_every = $EVAL_EVERY" \
    "PPOSettings.checkpoint_every = 2" "${SMALL[@]}"; do
  extra+=(--gin_bindings="$b")
done
for stage in $STAGES; do
  case $stage in
    search)
      "$PYTHON" -m launchers.sweep --launcher=ppo --configs=gin_configs/ppo/micro_search.gin \
        --games=coinrun --seeds=0 --root_dir="$ROOT" "${extra[@]}";;
    report) "$PYTHON" -m launchers.report --runs="$ROOT" --out="$OUT/report";;
    *) echo "unknown stage '$stage'; allowed: search report" >&2; exit 2;;
  esac
done
