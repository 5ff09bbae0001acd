#!/usr/bin/env bash
# From a trained teacher to shipped models: distil the student, evaluate both on held-out
# identities, export them with cards, quantize the student, write the manifest.
#   RUNS=/path/to/runs bash trainer/configs/ship.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-runs}
BIN=${BIN:-.venv/bin}
CACHE=$RUNS/pairs64.npz

[ -f "$CACHE" ] || "$BIN/mugshot-train" prepare --size 64 --out "$CACHE"
[ -f "$RUNS/teacher/checkpoint.pt" ] || "$BIN/mugshot-train" fit --config trainer/configs/teacher.toml \
    --set cache="$CACHE" --set out="$RUNS/teacher" --quiet
"$BIN/mugshot-train" fit --config trainer/configs/student.toml --set cache="$CACHE" --set out="$RUNS/student" \
    --set teacher="$RUNS/teacher/checkpoint.pt" --quiet
"$BIN/mugshot-train" export "$RUNS/teacher/checkpoint.pt" --out "$RUNS/export/teacher.onnx" --name teacher
"$BIN/mugshot-train" export "$RUNS/student/checkpoint.pt" --out "$RUNS/export/student.onnx" --name student
"$BIN/mugshot-train" eval --cache "$CACHE" --model "$RUNS/export/teacher.onnx" --model "$RUNS/export/student.onnx" \
    --out "$RUNS/eval"
"$BIN/mugshot-train" bench --model "$RUNS/export/teacher.onnx" --model "$RUNS/export/student.onnx" \
    --threads 1 --threads 2 | tee "$RUNS/latency.txt"
for name in teacher student; do
    "$BIN/mugshot-train" export "$RUNS/$name/checkpoint.pt" --out "models/$name.onnx" --name "$name" \
        --report "$RUNS/eval/report.json" --card "models/$name.md" --latency "$RUNS/latency.txt"
done
"$BIN/mugshot-quantize" generator --model models/student.onnx --out models/student_int8.onnx
"$BIN/mugshot-train" manifest
