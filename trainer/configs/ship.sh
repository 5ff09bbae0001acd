#!/usr/bin/env bash
# From data to shipped models (issue 22, the restoration generator): clean 256 px aligned crops of near-frontal
# faces (the box's YuNet + edge.vision.align, face_scale 0.6), the U-Net teacher with its PatchGAN, the ~1%
# student distilled from it (both on degraded-on-the-fly windows), the self-check on validation people (SSIM,
# PSNR, grid), the side-by-side speed benchmark, export with cards, the INT8 student, the TFLite files (when
# LITERT names a Python with the quantizer's tflite-export extra), the manifest.  Each training stage resumes
# when interrupted; a finished stage is skipped (delete its checkpoint to redo it).  The shipped pair trained
# 3100 teacher and 2000 student steps on a shared 2-core CPU (docs/training.md); the student was distilled from
# the teacher read back from models/teacher.onnx (its training checkpoint was not kept).
#   RUNS=/path/to/runs [LITERT=/path/to/venv/bin/python] bash trainer/configs/ship.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${RUNS:-runs/restore}
BIN=${BIN:-.venv/bin}
CACHE=$RUNS/crops256.npz
TEACHER_STEPS=${TEACHER_STEPS:-3100}
STUDENT_STEPS=${STUDENT_STEPS:-2000}

[ -f "$CACHE" ] || "$BIN/mugshot-train" restore-prepare --out "$CACHE"
"$BIN/mugshot-train" restore-fit --config trainer/configs/restore_teacher.toml --set cache="$CACHE" \
    --set out="$RUNS/teacher" --set steps="$TEACHER_STEPS" --quiet
"$BIN/mugshot-train" restore-fit --config trainer/configs/restore_student.toml --set cache="$CACHE" \
    --set out="$RUNS/student" --set teacher="$RUNS/teacher/checkpoint.pt" --set steps="$STUDENT_STEPS" --quiet
for name in teacher student; do
    "$BIN/mugshot-train" restore-export "$RUNS/$name/checkpoint.pt" --out "models/$name.onnx" --name "restore-$name" --force
done
"$BIN/mugshot-train" restore-check --cache "$CACHE" --model student=models/student.onnx \
    --model teacher=models/teacher.onnx --grid "$RUNS/grid.png" --json "$RUNS/check.json"
"$BIN/python" -m trainer.bench_restore --rounds 9 --json "$RUNS/speed.json"
for name in teacher student; do  # the cards, with the check and the speed
    "$BIN/mugshot-train" restore-export "$RUNS/$name/checkpoint.pt" --out "models/$name.onnx" --name "restore-$name" \
        --card "models/$name.md" --check "$RUNS/check.json" --speed "$RUNS/speed.json" --force
done
"$BIN/mugshot-quantize" generator --model models/student.onnx --out models/student_int8.onnx --force
if [ -n "${LITERT:-}" ]; then
    "$LITERT" -m quantize.tflite "$RUNS/student/checkpoint.pt" --out models/student.tflite --force
fi
"$BIN/mugshot-train" manifest
