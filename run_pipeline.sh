#!/usr/bin/env bash
# One command, fresh machine to a served ranking:
#   venv + requirements.txt (the pinned train set) -> data (validated) -> feature store -> training
#   -> notebooks (papermill) -> evaluation_report.md -> the service ranks one slate, then stops
# Re-running is safe: every step rewrites its outputs from the same seeds.
set -Eeuo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$ROOT"
VENV=${VENV:-$ROOT/.venv}
PY=$VENV/bin/python
KERNEL=feedrank
CELL_TIMEOUT=${CELL_TIMEOUT:-600}
NOTEBOOKS=(01_eda 02_decay_fitting 03_model_comparison 04_ablation_importance 05_calibration
  06_online_experiments)
export PYTHONHASHSEED=0

START=$(date +%s)
step_start=$START
step() {
  local now
  now=$(date +%s)
  printf '[pipeline +%4ss] %s\n' "$((now - START))" "$*"
  step_start=$now
}
done_step() { printf '[pipeline +%4ss]   done in %ss\n' "$(($(date +%s) - START))" "$(($(date +%s) - step_start))"; }
trap 'printf "[pipeline] FAILED at line %s: %s\n" "$LINENO" "$BASH_COMMAND" >&2' ERR

# Starts the service on a bundle at a free port, ranks one slate from a CSV and stops the service
# with SIGTERM. The ranking runs in the background too, so a signal reaches the shell at once; the
# EXIT trap then stops both, as it does on any failure, and keeps the failure's exit status: no
# process started here outlives the script.
serve_one_slate() {
  local model_dir=$1 csv=$2 port
  port=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  client=
  FEEDRANK_MODEL_DIR=$model_dir "$PY" -m serving --host 127.0.0.1 --port "$port" &
  server=$!
  trap 'status=$?; kill -TERM $server $client 2>/dev/null; wait 2>/dev/null || true; exit "$status"' EXIT
  "$PY" -m scripts.rank_slate --url "http://127.0.0.1:$port" --csv "$csv" --posts 5 &
  client=$!
  wait "$client"
  kill -TERM "$server"
  # uvicorn shuts down on SIGTERM, then re-raises it: 143 (128 + SIGTERM) is a clean stop
  wait "$server" || (($? == 143))
  trap - EXIT
}

step "1/7 virtualenv + requirements.txt, the pinned train set ($VENV)"
lock=requirements.txt
stamp=$VENV/.train.sha256
want=$(cat "$lock" requirements/train.txt | sha256sum | cut -d' ' -f1)
if [[ ! -x $PY || ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  python3 -m venv "$VENV"
  "$PY" -m pip install --quiet --disable-pip-version-check uv==0.13.8
  "$PY" -m uv pip install --quiet --compile-bytecode --python "$PY" -r "$lock"
  echo "$want" >"$stamp"
else
  echo "  $lock and its lock unchanged; reusing $VENV"
fi
"$PY" -m ipykernel install --sys-prefix --name "$KERNEL" --display-name "feedrank (.venv)" >/dev/null
done_step

step "2/7 dataset: python generate_dataset.py (verbatim assignment script), then validate it"
mkdir -p data
"$PY" generate_dataset.py
# header = training schema, types and bounds, 50,000 rows, unique ids, base rate; the generator
# writes in place, so this is what catches a truncated file before training reads it
"$PY" -m scripts.check_dataset data/posts.csv
done_step

step "3/7 features + training: the Feast store (offline Parquet, online SQLite), then python -m training.train (split, decay sweep, ablation, fit, calibrate, test)"
"$PY" -m features.feature_store --csv data/posts.csv --config feature_repo/feature_store.yaml
"$PY" -m training.train --feature-store feature_repo/feature_store.yaml
done_step

step "4/7 notebooks: papermill, kernel '$KERNEL', ${CELL_TIMEOUT}s per cell"
mkdir -p reports/notebooks reports/figures reports/metrics
for name in "${NOTEBOOKS[@]}"; do
  nb_start=$(date +%s)
  "$PY" -m papermill "notebooks/$name.ipynb" "reports/notebooks/$name.ipynb" \
    --kernel "$KERNEL" --cwd "$ROOT" --execution-timeout "$CELL_TIMEOUT" \
    --no-progress-bar >/dev/null
  printf '  %-24s %4ss\n' "$name" "$(($(date +%s) - nb_start))"
done
done_step

step "5/7 report: python -m training.report -> evaluation_report.md"
"$PY" -m training.report
done_step

step "6/7 summary"
"$PY" - <<'EOF'
import json
summary = json.load(open("reports/metrics/training.json"))
name = summary["deployed"]["name"]
test = summary["test"][name]
gap = summary["gap_to_bayes"]
print(f"  deployed model {summary['model_version']} ({name} on {'+'.join(summary['deployed']['groups'])})")
print(f"  test AUC {test['auc']['value']:.4f}  NDCG@10 {test['ndcg_at_10']['value']:.4f}  "
      f"Brier {test['brier']['value']:.4f}")
print(f"  gap to Bayes: AUC {gap['auc_gap']['value']:+.5f}  Brier {gap['brier_gap']['value']:+.5f}")
EOF
done_step

step "7/7 serve: python -m serving on models/, POST /rank with posts from data/posts.csv, SIGTERM"
serve_one_slate "$ROOT/models" data/posts.csv
done_step
printf '[pipeline] finished in %ss: models/, reports/, evaluation_report.md, one served ranking\n' "$(($(date +%s) - START))"
