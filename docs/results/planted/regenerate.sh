#!/usr/bin/env bash
# Regenerates the planted-architecture recovery study (README.md beside this script): the
# exact commands and seeds. Each is resumable; runs with DONE (the PPO arm) are skipped.
#
#   docs/results/planted/regenerate.sh                     # runs under data/
#   ROOT=/tmp/planted docs/results/planted/regenerate.sh   # from scratch elsewhere
set -euo pipefail
cd "$(dirname "$(realpath "$0")")/../../.."
ROOT=${ROOT:-docs/results/planted/data}
PYTHON=${PYTHON:-.venv/bin/python}
SEEDS=${SEEDS:-0,1,2}
run() { "$PYTHON" -m launchers.planted_recovery --seeds="$SEEDS" "$@"; }

run --root_dir="$ROOT/supervised"                                   # 1,500 steps
run --root_dir="$ROOT/supervised_6000_steps" --gin_bindings="PlantedTask.steps = 6000"
run --root_dir="$ROOT/supervised_micro" --gin_bindings="PlantedTask.space = 'micro'"
run --root_dir="$ROOT/ppo" --method=ppo --parallel=2               # 786K env steps per run
# The RL-for-DARTS meta-agent on digits, its supernet (C 8, 5 cells) pretrained 10 epochs
# per seed; 40,960 meta-steps per search (20 PPO updates of the paper's 2,048).
DIGITS=(--pretrain_bindings="load_dataset.dataset = 'digits'"
        --pretrain_bindings="DartsSupernet.channels = 8" --pretrain_bindings="DartsSupernet.layers = 5"
        --pretrain_bindings="OptimizerSettings.epochs = 10"
        --run_bindings="load_dataset.dataset = 'digits'"
        --run_bindings="DartsSupernet.channels = 8" --run_bindings="DartsSupernet.layers = 5"
        --run_bindings="PPOSettings.total_env_steps = 40960")
run --root_dir="$ROOT/nas_rl_loss" --method=nas_rl "${DIGITS[@]}"
run --root_dir="$ROOT/nas_rl_acc" --method=nas_rl "${DIGITS[@]}" \
  --run_bindings="SearchSettings.reward = 'acc'"
