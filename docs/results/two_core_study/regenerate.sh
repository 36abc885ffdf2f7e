#!/usr/bin/env bash
# Regenerates the two-core study (README.md beside this script) with the project's own
# launchers: the exact commands, seeds and budgets. Each stage is a queue of resumable runs
# (rl_darts/runtime/run_queue.py): a rerun skips finished runs and resumes the others.
#
#   docs/results/two_core_study/regenerate.sh            # runs under data/ (committed ones skip)
#   ROOT=/tmp/study OUT=/tmp/study docs/results/two_core_study/regenerate.sh   # from scratch
#   SMOKE=1 ROOT=... OUT=... regenerate.sh               # every budget at smoke scale (tests)
#
# ROOT: where the runs write (default: data/ here, whose small files are committed).
# OUT: where the reports go (default: this directory). STAGES: which stages to run, in
# order (default: all of ppo cell nas_rl random_search rainbow frozen no_relu report).
# SEEDS: e.g. SEEDS=0,1,2 adds seeds 1 and 2 to every arm (seed 0's runs skip).
set -euo pipefail
cd "$(dirname "$(realpath "$0")")/../../.."
STUDY=docs/results/two_core_study
ROOT=${ROOT:-$STUDY/data}
OUT=${OUT:-$STUDY}
PYTHON=${PYTHON:-.venv/bin/python}
STAGES=${STAGES:-ppo cell nas_rl random_search rainbow frozen no_relu report}

GAME=coinrun        # The pilot's pick: IMPALA-CNN 16x3 rose most above random play (README).
SEEDS=${SEEDS:-0}    # Comma-separated; every arm runs each (the committed study: 0).
PPO_STEPS=196608    # 12 PPO iterations of 64 envs x 256 steps, every PPO arm.
RAINBOW_STEPS=50000 # Rainbow with the Micro supernet: the path end to end.
META_STEPS=204800   # Per Table 1 row: 100 PPO updates of 8 searches x 256 meta-steps.
EVAL_EPOCHS=30      # darts_eval of each searched cell on digits, at the search size (C 16, 8 cells):
EVAL_NETWORK=(--eval_bindings="DartsNetwork.channels = 16" --eval_bindings="DartsNetwork.layers = 8")
TABLE_ROWS=disc_nwot,disc_acc,disc_loss,disc_ckpt_acc,disc_ckpt_loss  # Table 1's discrete rows.
REFERENCES=DARTS_V2,DISC_NWOT,DISC_ACC  # Published cells, same protocol: digits' calibration.
PPO_SMALL=() RAINBOW_SMALL=() RANDOM_FLAGS=() TABLE_FLAGS=()  # Smoke scale only:
if [[ "${SMOKE:-0}" == 1 ]]; then
  PPO_STEPS=16 RAINBOW_STEPS=48 META_STEPS=28 EVAL_EPOCHS=1 TABLE_ROWS=disc_ckpt_loss
  REFERENCES=DARTS_V2
  SPACE=("Supernet.depths = [4]" "Supernet.num_nodes = 2")  # As tests/test_configs.py.
  RANDOM_FLAGS=(--gin_bindings="RandomSearch.num_cells = 1" --gin_bindings="${SPACE[1]}")
  TABLE_FLAGS=(--gin_bindings="DartsSupernet.channels = 4" --gin_bindings="DartsSupernet.layers = 3"
    --gin_bindings="DartsSupernet.num_nodes = 2" --pretrain_bindings="OptimizerSettings.epochs = 1"
    --eval_bindings="DartsNetwork.channels = 4"
    --eval_bindings="DartsNetwork.layers = 3" --search_bindings="Environment.num_envs = 1"
    --search_bindings="PPOSettings.rollout_length = 28"
    --search_bindings="PPOSettings.minibatch_size = 28"
    --search_bindings="SearchSettings.compiled_forward = False"
    --search_bindings="SearchSettings.check_cells = 2")
  PPO_SMALL=("${SPACE[@]}" "Environment.num_envs = 2" "PPOSettings.rollout_length = 8"
             "PPOSettings.minibatch_size = 8" "PPOSettings.num_epochs = 1"
             "ImpalaCNN.depths = [4]" "DiscreteNetwork.depths = [4]")
  RAINBOW_SMALL=("${SPACE[@]}" "Environment.num_envs = 2" "DuelingC51.hidden_units = 8"
                 "RainbowSettings.min_replay_size = 16" "RainbowSettings.batch_size = 4"
                 "RainbowSettings.steps_per_iteration = 16" "RainbowSettings.replay_size = 1000")
fi
bindings() {  # bindings FLAG BINDING...: --FLAG=BINDING for each, one per line.
  local flag=$1; shift
  for b in "$@"; do printf -- '--%s=%s\n' "$flag" "$b"; done
}
ppo_sweep() {  # ppo_sweep CONFIGS [BINDING...]: a PPO sweep over the game and seeds.
  local configs=$1; shift
  mapfile -t extra < <(bindings gin_bindings "PPOSettings.total_env_steps = $PPO_STEPS" \
    "PPOSettings.eval_every = 0" "${PPO_SMALL[@]}" "$@")
  "$PYTHON" -m launchers.sweep --launcher=ppo --configs="$configs" --games=$GAME \
    --seeds=$SEEDS --root_dir="$ROOT/ppo" "${extra[@]}"
}

for stage in $STAGES; do
  echo "== stage $stage"
  case $stage in
    ppo)  # IMPALA-CNN 16x3 and the Classic supernet search at 16x3, discretized at the end.
      ppo_sweep gin_configs/ppo/impala_cnn_16x3.gin
      ppo_sweep gin_configs/ppo/classic_search.gin "PPOSettings.discretize_at = $PPO_STEPS";;
    cell)  # Each seed's discretized cell retrained from scratch at 16x3 (integrality gap).
      for seed in ${SEEDS//,/ }; do
        SEEDS=$seed ppo_sweep gin_configs/ppo/discrete_16x3.gin \
          "DiscreteNetwork.genotype = '$ROOT/ppo/classic_search/$GAME/seed_$seed/genotype.json'"
      done;;
    random_search)  # 3 uniform Classic cells x PPO_STEPS at 16x3 (the supernet search's
      # wall-clock, as in Table 4), the best retrained from scratch at 16x3 like the cell.
      for seed in ${SEEDS//,/ }; do
        mapfile -t extra < <(bindings run_bindings "Environment.game = '$GAME'" \
          "PPOSettings.total_env_steps = $PPO_STEPS" "PPOSettings.eval_every = 0" \
          "${PPO_SMALL[@]}")
        "$PYTHON" -m launchers.random_search \
          --gin_configs=gin_configs/random_search/ppo_classic.gin \
          --gin_bindings="CellTraining.cell_config = 'gin_configs/ppo/discrete_16x3.gin'" \
          --gin_bindings="CellTraining.train_bindings = []" \
          --seed="$seed" --root_dir="$ROOT/ppo/random_search/seed_$seed" "${extra[@]}" \
          "${RANDOM_FLAGS[@]}"
      done;;
    nas_rl)  # RL for DARTS: Table 1's discrete rows on the embedded digits (not CIFAR-10).
      "$PYTHON" -m launchers.nas_rl_table --rows=$TABLE_ROWS --seeds=$SEEDS \
        --reference_cells=$REFERENCES \
        --root_dir="$ROOT/nas_rl" --gin_bindings="load_dataset.dataset = 'digits'" \
        --search_bindings="PPOSettings.total_env_steps = $META_STEPS" \
        --eval_bindings="OptimizerSettings.epochs = $EVAL_EPOCHS" \
        --eval_bindings="DartsNetwork.auxiliary = False" \
        --eval_bindings="Regularization.cutout = 4" "${EVAL_NETWORK[@]}" "${TABLE_FLAGS[@]}";;
    rainbow)
      mapfile -t extra < <(bindings gin_bindings \
        "RainbowSettings.total_env_steps = $RAINBOW_STEPS" "${RAINBOW_SMALL[@]}")
      "$PYTHON" -m launchers.sweep --launcher=rainbow \
        --configs=gin_configs/rainbow/micro_search.gin --games=$GAME --seeds=$SEEDS \
        --root_dir="$ROOT/rainbow" "${extra[@]}";;
    frozen)  # Frozen uniform alpha (App. B.2 runs it with Rainbow + Micro) with PPO + Classic.
      ppo_sweep gin_configs/ppo/classic_frozen_uniform_alpha.gin;;
    no_relu)  # The no-ReLU Classic space's search (App. B.1), same game and budget.
      ppo_sweep gin_configs/ppo/classic_no_relu_search.gin;;
    report)  # Over the stages that have run; the claims' arms compared where both ran.
      runs=(); for d in "$ROOT/ppo" "$ROOT/rainbow"; do [[ -d $d ]] && runs+=("$d"); done
      compare=()
      for pair in classic_search:impala_cnn_16x3 discrete_16x3:classic_search \
          classic_frozen_uniform_alpha:classic_search classic_no_relu_search:classic_search \
          "discrete_16x3:random search"; do
        ran=1; for arm in "${pair%%:*}" "${pair##*:}"; do
          [[ -d $ROOT/ppo/${arm/random search/random_search} ]] || ran=0; done
        (( ran )) && compare+=(--compare="$pair")
      done
      "$PYTHON" -m launchers.report --runs "${runs[@]}" --out="$OUT/report" "${compare[@]}"
      if [[ -f $ROOT/nas_rl/table.md ]]; then
        cp "$ROOT/nas_rl/table.md" "$ROOT/nas_rl/table.csv" "$OUT/report/"
      fi;;
    *) echo "unknown stage '$stage'; allowed: ppo cell nas_rl random_search rainbow frozen no_relu report" >&2
       exit 2;;
  esac
done
