"""The whole mugshot path per event on one core, and how much it changes a clean face:

    .venv/bin/python -m tests.bench_mugshot_path [--rounds 20] [--backdrop]

For the studio frontal photo (``Img_33``) of each validation person (``trainer/split.toml``) the box finds its
best shot (``Pipeline.best_shot``), then ``Pipeline.picture`` runs as an event does: the generator on the aligned
crop, publishing at ``generator.output_size`` and the quality gate.  Printed: the median ms of that path
(``generator.threads = 1``), the same with ``generator.model = "none"`` side by side, and the SSIM of the
mugshot against the crop it came from (the same framing).  ``--backdrop``: also the path with
``generator.backdrop = "plain"`` (the same models; the person segmentation, on LiteRT and on onnxruntime, and the
composite), side by side in the same rounds.  A benchmark, not a test.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2


def main() -> None:
    from edge.vision.align import align_face
    from edge.vision.metrics import ssim
    from edge.vision.views import framing_landmarks
    from trainer.rate import _pipeline, collect_inputs, validation_people

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--backdrop", action="store_true", help='also time generator.backdrop = "plain"')
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    args = parser.parse_args()
    data = Path(args.data)
    inputs = [i for i in collect_inputs(data, validation_people(data)) if i.kind == "frontal"]
    pipelines = {"auto": _pipeline("auto")[0], "none": _pipeline("none")[0]}
    if args.backdrop:
        import dataclasses
        import threading

        from edge.daemon.pipeline import Pipeline

        base = pipelines["auto"]
        cfg = dataclasses.replace(base.cfg, generator=dataclasses.replace(base.cfg.generator, backdrop="plain"))
        from edge.vision.backdrop import make_backdrop

        for runtime in ("litert", "onnxruntime"):
            pipelines[f"auto, backdrop {runtime}"] = Pipeline(
                cfg, None, base.detector, base.generator, base.publishers, threading.Event(), base.mesher,
                backdrop=make_backdrop(cfg.generator.backdrop_colour, 1, runtime=runtime))
    shots = [pipelines["auto"].best_shot(cv2.imread(str(i.frames[0])), time.time()) for i in inputs]
    shots = [s.shot for s in shots if s is not None]
    times = {name: [] for name in pipelines}
    scores, gated = [], 0
    for _ in range(args.rounds):
        for shot in shots:
            marks = framing_landmarks(shot.landmarks, shot.quality.yaw)
            for name, pipeline in pipelines.items():
                started = time.perf_counter()
                image, made = pipeline.picture(shot, marks)
                times[name].append(time.perf_counter() - started)
                if name == "auto" and len(scores) < len(shots):
                    spec = pipeline.generator.spec
                    crop, _ = align_face(shot.patch, marks, image.shape[1], spec.face_scale)
                    scores.append(ssim(image, crop))
                    gated += made.get("gate") == "passed"
    generator = pipelines["auto"].generator
    print(f"{len(shots)} validation frontal photos x {args.rounds} rounds, generator {generator.name} "
          f"({generator.describe().get('precision')}), one thread")
    for name, t in times.items():
        print(f"  mugshot path, generator {name:26}: median {1000 * statistics.median(t):6.2f} ms, "
              f"p90 {1000 * sorted(t)[int(0.9 * len(t))]:6.2f} ms")
    for runtime in ("litert", "onnxruntime") if args.backdrop else ():
        with_it, without = statistics.median(times[f"auto, backdrop {runtime}"]), statistics.median(times["auto"])
        print(f"  backdrop plain on {runtime} adds {1000 * (with_it - without):.2f} ms per picture "
              f"(median of each), x{with_it / without:.2f}")
    print(f"  SSIM mugshot vs its crop: mean {statistics.mean(scores):.3f}, min {min(scores):.3f}; "
          f"gate passed {gated}/{len(shots)}")


if __name__ == "__main__":
    main()
