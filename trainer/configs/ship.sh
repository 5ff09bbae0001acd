#!/usr/bin/env bash
# From data to shipped models (issue 14's refiner): the 128 px geometry pair cache (the box's own mesh,
# pose and frontalizer per view, plus Rotate-and-Render pairs), the FaceNet identity prior (training
# only, cached outside the repository), the blend-head teacher, the ~1% student distilled from it,
# evaluation of both on held-out identities, export with cards, the INT8 student, the TFLite file
# (when LITERT names a Python with the tflite-export extra), the manifest.  Stages whose checkpoint
# exists are skipped (delete it to redo one); each stage resumes when interrupted.  The shipped pair
# trained 1000 teacher and 3000 student steps on 2 CPU cores (about 50 + 41 minutes).
#   RUNS=/path/to/runs [LITERT=/path/to/venv/bin/python] bash trainer/configs/ship.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-runs}
BIN=${BIN:-.venv/bin}
CACHE=$RUNS/pairs128_geometry.npz
TEACHER_STEPS=${TEACHER_STEPS:-1000}
STUDENT_STEPS=${STUDENT_STEPS:-3000}

[ -f "$CACHE" ] || "$BIN/mugshot-train" prepare --geometry --size 128 --rotate-surveillance --out "$CACHE"
"$BIN/mugshot-train" facenet  # a no-op once ~/.cache/mugshot-edge/facenet holds the checked conversion
"$BIN/mugshot-train" fit --config trainer/configs/teacher_refiner.toml --set cache="$CACHE" \
    --set out="$RUNS/teacher_refiner" --set steps="$TEACHER_STEPS" --quiet
"$BIN/mugshot-train" fit --config trainer/configs/student_refiner.toml --set cache="$CACHE" \
    --set out="$RUNS/student_refiner" --set teacher="$RUNS/teacher_refiner/checkpoint.pt" \
    --set steps="$STUDENT_STEPS" --quiet
"$BIN/mugshot-train" export "$RUNS/teacher_refiner/checkpoint.pt" --out "$RUNS/export/teacher.onnx" --name refiner-teacher
"$BIN/mugshot-train" export "$RUNS/student_refiner/checkpoint.pt" --out "$RUNS/export/student.onnx" --name refiner-student
"$BIN/mugshot-train" eval --cache "$CACHE" --model "$RUNS/export/teacher.onnx" --model "$RUNS/export/student.onnx" \
    --model frontalize --out "$RUNS/eval"
"$BIN/mugshot-train" bench --model "$RUNS/export/teacher.onnx" --model "$RUNS/export/student.onnx" \
    --threads 1 --threads 2 | tee "$RUNS/latency.txt"
for name in teacher student; do
    "$BIN/mugshot-train" export "$RUNS/${name}_refiner/checkpoint.pt" --out "models/$name.onnx" --name "refiner-$name" \
        --report "$RUNS/eval/report.json" --card "models/$name.md" --latency "$RUNS/latency.txt" --force
done
"$BIN/mugshot-quantize" generator --model models/student.onnx --out models/student_int8.onnx --force
if [ -n "${LITERT:-}" ]; then
    "$LITERT" -m quantize.tflite "$RUNS/student_refiner/checkpoint.pt" --out models/student.tflite --force
fi
"$BIN/mugshot-train" manifest
