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
