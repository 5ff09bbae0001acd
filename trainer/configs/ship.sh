#!/usr/bin/env bash
# From data to shipped models: the recogniser for the identity term; the pixel teacher, whose
# U-Net seeds the warp teacher, whose U-Net seeds the shipped mirror-blend teacher (separable
# head, remaps off); the student distilled from it; evaluation of both on held-out identities,
# export with cards, the INT8 student, the TFLite files (when LITERT names a Python with the
# tflite-export extra), the manifest.  Stages whose checkpoint exists are skipped (delete it to redo one); each stage
# resumes when interrupted.
#   RUNS=/path/to/runs [LITERT=/path/to/venv/bin/python] bash trainer/configs/ship.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-runs}
BIN=${BIN:-.venv/bin}
CACHE=$RUNS/pairs64.npz

[ -f "$CACHE" ] || "$BIN/mugshot-train" prepare --size 64 --out "$CACHE"
[ -f "$RUNS/recognizer.pt" ] || "$BIN/mugshot-train" recognizer --cache "$CACHE" --out "$RUNS/recognizer.pt" \
    --steps 2500 --quiet
[ -f "$RUNS/teacher/checkpoint.pt" ] || "$BIN/mugshot-train" fit --config trainer/configs/teacher.toml \
    --set cache="$CACHE" --set out="$RUNS/teacher" --quiet
[ -f "$RUNS/student/checkpoint.pt" ] || "$BIN/mugshot-train" fit --config trainer/configs/student.toml \
    --set cache="$CACHE" --set out="$RUNS/student" --set teacher="$RUNS/teacher/checkpoint.pt" \
    --set recognizer="$RUNS/recognizer.pt" --quiet  # the image student: its encoder seeds the shipped one
[ -f "$RUNS/teacher_warp/checkpoint.pt" ] || "$BIN/mugshot-train" fit --config trainer/configs/teacher_warp.toml \
    --set cache="$CACHE" --set out="$RUNS/teacher_warp" --set init="$RUNS/teacher/checkpoint.pt" \
    --set recognizer="$RUNS/recognizer.pt" --quiet
[ -f "$RUNS/teacher_separable/checkpoint.pt" ] || "$BIN/mugshot-train" fit \
    --config trainer/configs/teacher_separable.toml --set cache="$CACHE" --set out="$RUNS/teacher_separable" \
    --set init="$RUNS/teacher_warp/checkpoint.pt" --set recognizer="$RUNS/recognizer.pt" --quiet
"$BIN/mugshot-train" fit --config trainer/configs/student_separable.toml --set cache="$CACHE" \
    --set out="$RUNS/student_separable" --set init="$RUNS/student/checkpoint.pt" \
    --set teacher="$RUNS/teacher_separable/checkpoint.pt" --set recognizer="$RUNS/recognizer.pt" --quiet
"$BIN/mugshot-train" export "$RUNS/teacher_separable/checkpoint.pt" --out "$RUNS/export/teacher.onnx" --name teacher
"$BIN/mugshot-train" export "$RUNS/student_separable/checkpoint.pt" --out "$RUNS/export/student.onnx" --name student
"$BIN/mugshot-train" eval --cache "$CACHE" --model "$RUNS/export/teacher.onnx" --model "$RUNS/export/student.onnx" \
    --out "$RUNS/eval"
"$BIN/mugshot-train" bench --model "$RUNS/export/teacher.onnx" --model "$RUNS/export/student.onnx" \
    --threads 1 --threads 2 | tee "$RUNS/latency.txt"
for name in teacher student; do
    "$BIN/mugshot-train" export "$RUNS/${name}_separable/checkpoint.pt" --out "models/$name.onnx" --name "$name" \
        --report "$RUNS/eval/report.json" --card "models/$name.md" --latency "$RUNS/latency.txt"
done
"$BIN/mugshot-quantize" generator --model models/student.onnx --out models/student_int8.onnx
if [ -n "${LITERT:-}" ]; then
    "$LITERT" -m quantize.tflite "$RUNS/student_separable/checkpoint.pt" --out models/student.tflite
fi
"$BIN/mugshot-train" manifest
