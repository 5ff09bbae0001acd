"""Restoration models out of the trainer: ONNX export with the box's metadata, the model card, the
side-by-side speed benchmark and the self-check on validation people (SSIM/PSNR, grid).

The ONNX input ``face`` is (1, 3, H, W) with free H and W (multiples of 32): the box runs it at the spec's
size (256), or larger where the source has the pixels.  ``mugshot.input_spec`` carries size, framing
(face_scale 0.6: head and shoulders), colour order and normalisation; inputs are the aligned crop alone.
"""
from __future__ import annotations

import logging
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import cv2
import numpy as np
import torch

from edge.vision.align import ModelInputSpec, from_tensor, to_tensor
from edge.vision.metrics import psnr, ssim

from .export import CITATIONS, DATASETS
from .nets import parameters
from .restore_fit import CropCache, load_restorer

log = logging.getLogger(__name__)

OPSET = 17


def spec_of(state: dict) -> ModelInputSpec:
    return ModelInputSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in state["spec"].items()})


def export_restorer(checkpoint: Path, out: Path, name: str = "", tolerance: float = 1e-3) -> dict:
    import onnx
    import onnxruntime as ort

    model, state = load_restorer(checkpoint)
    spec = spec_of(state)
    example = torch.rand(1, 3, spec.size, spec.size) * 2 - 1
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "model.onnx"
        torch.onnx.export(model, (example,), str(raw), opset_version=OPSET, input_names=["face"],
                          output_names=["mugshot"], dynamo=False,
                          dynamic_axes={"face": {2: "height", 3: "width"}, "mugshot": {2: "height", 3: "width"}})
        proto = onnx.load(str(raw))
    cfg = state["config"]
    metadata = {
        ModelInputSpec.METADATA_KEY: spec.to_json(),
        "mugshot.name": name or f"restore-{cfg['model']}",
        "mugshot.version": f"{datetime.now(timezone.utc):%Y%m%d}-step{state['step']}",
        "mugshot.architecture": architecture(cfg),
        "mugshot.parameters": str(parameters(model)),
        "mugshot.training_data": training_data(),
        "mugshot.task": "restore",
        "mugshot.validation_identities": ",".join(state["validation"]),
    }
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    diff = 0.0
    for side in (spec.size, 2 * spec.size):  # free spatial dims: 256 and 512 give the same as PyTorch
        x = torch.rand(1, 3, side, side) * 2 - 1
        with torch.no_grad():
            expected = model(x).numpy()
        diff = max(diff, float(np.abs(session.run(None, {"face": x.numpy()})[0] - expected).max()))
    if diff > tolerance:
        raise RuntimeError(f"{out}: ONNX output differs from PyTorch by {diff:.2e} (> {tolerance})")
    out.with_suffix(".json").write_text(spec.to_json() + "\n")  # the sidecar TFLite copies read
    return {"path": str(out), "parameters": parameters(model), "max_abs_diff": diff, "metadata": metadata}


def architecture(cfg: dict) -> str:
    if cfg["model"] == "teacher":
        return (f"restoration U-Net teacher (`trainer/nets/restore.py`), width {cfg['width']}, six levels, "
                "global residual")
    return (f"restoration student (`trainer/nets/restore.py`), 8x8 stride-4 convolution in, "
            f"two-level U-Net of width {cfg['width']}, 8x8 stride-4 transposed convolution out, global residual")


def training_data() -> str:
    return ", ".join(DATASETS.values()) + "; near-frontal photos, degraded on the fly; split by identity"


def onnx_run(path: Path, threads: int = 1):
    from edge.vision.model_files import onnx_session

    session = onnx_session(path, threads)
    return lambda x: session.run(None, {session.get_inputs()[0].name: x})[0]


def check(cache_path: Path, models: dict[str, Path], count: int = 10, seed: int = 11,
          grid: Path | None = None) -> dict:
    """On ``count`` validation crops: SSIM/PSNR of each model on the clean crop (should stay ~unchanged) and
    on a degraded version (degraded -> clean, against doing nothing); a grid degraded | models... | truth."""
    cache = CropCache(cache_path)
    spec = cache.spec
    rows = cache.val[np.linspace(0, len(cache.val) - 1, count).astype(int)]
    rng = np.random.default_rng(seed)
    views, targets, _ = cache.pairs(rows, rng, 0.0, spec.size, flip=False)
    degraded, clean = from_tensor(views.numpy(), spec), from_tensor(targets.numpy(), spec)
    runs = {name: onnx_run(path) for name, path in models.items()}
    result = {"people": sorted(set(cache.identities[rows].tolist())), "count": count,
              "identity (no model)": {"degraded_ssim": float(np.mean([ssim(d, c) for d, c in zip(degraded, clean)])),
                                      "degraded_psnr": float(np.mean([psnr(d, c) for d, c in zip(degraded, clean)]))}}
    outputs = {}
    for name, run in runs.items():
        on_clean = [from_tensor(run(to_tensor(c, spec)), spec)[0] for c in clean]
        on_degraded = [from_tensor(run(to_tensor(d, spec)), spec)[0] for d in degraded]
        outputs[name] = on_degraded
        result[name] = {"clean_ssim": float(np.mean([ssim(o, c) for o, c in zip(on_clean, clean)])),
                        "clean_psnr": float(np.mean([psnr(o, c) for o, c in zip(on_clean, clean)])),
                        "degraded_ssim": float(np.mean([ssim(o, c) for o, c in zip(on_degraded, clean)])),
                        "degraded_psnr": float(np.mean([psnr(o, c) for o, c in zip(on_degraded, clean)]))}
    if grid is not None:
        tiles = [np.hstack([degraded[i], *(outputs[n][i] for n in runs), clean[i]]) for i in range(count)]
        sheet = np.vstack(tiles)
        cv2.imwrite(str(grid), cv2.resize(sheet, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
                    if count > 6 else sheet)
        result["grid"] = f"{grid}: degraded input | {' | '.join(runs)} | clean truth, one validation crop a row"
    return result


def bench_restore(student: Path, teacher: Path, size: int = 256, rounds: int = 7, runs: int = 10) -> dict:
    """Student and teacher at ``size`` px on one thread (no spinning), interleaved round by round."""
    from edge.tools.bench import onnx_latency

    feed = {"face": np.random.default_rng(0).uniform(-1, 1, (1, 3, size, size)).astype(np.float32)}
    teacher_row, student_row = onnx_latency([teacher, student], threads=1, rounds=rounds, runs=runs,
                                            feeds=[feed, feed])
    return {"size": size, "teacher_ms": teacher_row["median_ms"], "student_ms": student_row["median_ms"],
            "ratio": teacher_row["median_ms"] / student_row["median_ms"]}


def restore_card(onnx_path: Path, checkpoint: Path, checks: dict | None, speed: dict | None) -> str:
    import hashlib

    model, state = load_restorer(checkpoint)
    cfg, spec = state["config"], spec_of(state)
    teacher_params = None
    if cfg["model"] == "student" and Path(cfg["teacher"]).is_file():
        teacher_params = parameters(load_restorer(cfg["teacher"])[0])
    lines = [f"# {onnx_path.name}", "",
             "- Task: restoration. The aligned face in, the same face cleaned up out (deblurred, denoised, "
             "exposure, white balance and lighting evened), natively at the input's size; an input that is "
             "already clean comes out almost unchanged (global residual). It never paints a new pose or face.",
             f"- Architecture: {architecture(cfg)}; {parameters(model):,} parameters"
             + (f" ({parameters(model) / teacher_params:.2%} of the teacher's {teacher_params:,})"
                if teacher_params else "") + ".",
             f"- Input/output: one input, the aligned crop (`inputs = [\"crop\"]`), {spec.size}x{spec.size} "
             f"{spec.color}, normalised (x - {spec.mean[0]}) / {spec.std[0]}, framing face_scale {spec.face_scale} "
             "(head and shoulders), in the ONNX metadata `mugshot.input_spec` and the `.json` sidecar. Height and "
             "width are free (multiples of 32): the box may run it at 512.",
             f"- Training: {state['step']} steps"
             + ((f" fine-tuning a checkpoint of {state['init_steps']} steps" if state.get("init_steps") else
                 " fine-tuning an earlier checkpoint") if cfg.get("init") else "")
             + f", batch {cfg['batch_size']}, random {cfg['patch']}x{cfg['patch']} "
             f"windows of the 256 px crops, loss alpha*L_GAN + beta*L1 + gamma*L2 with alpha={cfg['alpha']}, "
             f"beta={cfg['beta']}, gamma={cfg['gamma']}"
             + (f", distilled from the teacher (distill={cfg['distill']}: L1 to its output, plus L1/L2 to the "
                "ground truth)" if cfg["model"] == "student" else ", conditional PatchGAN on (input, output)")
             + (f", FaceNet identity term {cfg['facenet']}" if cfg.get("facenet") else
                "; no FaceNet identity term (see docs/training.md: it needs the converted FaceNet from "
                "`mugshot-train facenet`, not available in this run, and whole 256 px crops, about 4x the step "
                "cost)") + f"; {cfg['clean']:.0%} of inputs left clean.",
             "- Pairs: near-frontal photos (FRMDB HD portraits and yaw-0 studio frontals, Pointing'04 within "
             "+-15 degrees, AT&T) aligned by the box's YuNet + `edge.vision.align`; input = the crop degraded on "
             "the fly (face shrunk to 30-120 px and back, defocus and motion blur, sensor noise, low light, gamma, "
             "colour cast, uneven light, JPEG; `trainer/restore_data.py`), target = the clean crop."
             + (f" Real pairs ({cfg.get('real_batch')} a step, `trainer/real_pairs.py`): FRMDB's real surveillance "
                "frames of the training people, each with the same person's studio view at the nearest pose, scored "
                f"by FaceNet identity ({cfg.get('facenet', 0)}) and face-region colour ({cfg.get('colour', 0)}) "
                f"against the studio view and by the detail term ({cfg.get('detail', 0)}: the frame under a smooth "
                "gain)" + (", and distilled from the teacher's output on them" if cfg["model"] == "student" else "")
                + "." if cfg.get("real_pairs") else ""),
             f"- File: `{onnx_path.name}`, {onnx_path.stat().st_size:,} bytes, sha256 "
             f"`{hashlib.sha256(onnx_path.read_bytes()).hexdigest()}`.", "",
             "## Data and terms", "",
             f"Trained on {training_data()}. Validation people (trainer/split.toml, never trained on): "
             f"{', '.join(state['validation'])}.", "", CITATIONS, "",
             "The weights derive from research-only data (FRMDB): use them for research and evaluation.", ""]
    if checks:
        name = "student" if cfg["model"] == "student" else "teacher"
        lines += ["## Self-check (validation people, `mugshot-train restore-check`)", "",
                  f"{checks['count']} validation crops ({', '.join(checks['people'])}), one degradation each.", "",
                  "| | SSIM clean -> out | PSNR clean -> out | SSIM degraded -> clean | PSNR degraded -> clean |",
                  "|---|---|---|---|---|",
                  f"| no model (the degraded input itself) | 1 | - | {checks['identity (no model)']['degraded_ssim']:.3f} "
                  f"| {checks['identity (no model)']['degraded_psnr']:.2f} dB |"]
        for row in [n for n in checks if isinstance(checks[n], dict) and "clean_ssim" in checks[n]]:
            r = checks[row]
            lines.append(f"| {row}{' (this model)' if row == name else ''} | {r['clean_ssim']:.3f} | "
                         f"{r['clean_psnr']:.2f} dB | {r['degraded_ssim']:.3f} | {r['degraded_psnr']:.2f} dB |")
        lines.append("")
    if speed:
        lines += ["## Speed (`python -m trainer.bench_restore`, one thread, no spinning, side by side)", "",
                  f"At {speed['size']} px: teacher {speed['teacher_ms']:.1f} ms, student {speed['student_ms']:.2f} ms, "
                  f"student {speed['ratio']:.1f}x faster.", ""]
    lines += ["## Known limits", "",
              "- Trained on about 90 people's near-frontal photos with synthetic degradations, on a shared CPU for a "
              "few thousand steps: it cleans noise, colour and exposure better than it restores detail; a 30 px "
              "face stays soft (it does not invent detail, by design).",
              ("- Real pairs are few (FRMDB has 3-5 surveillance frames a person) and teach colour and identity, "
               "not detail." if cfg.get("real_pairs") else
               "- Real surveillance pairs (frames paired with the studio view) are not in this training "
               "(`restore-prepare --real`, docs/training.md)."),
              "- AT&T and Pointing'04 photos are small, so their 256 px targets are soft themselves.", ""]
    return "\n".join(lines)
