"""Which interpolation the box uses to publish a 128 px generator output at ``generator.output_size``.

``python -m tools.generator.upsample_choice [--data ../shared/data] [--people 20]``: frontal FRMDB photos
(``Img_33``, the camera level and in front) aligned at 256 px like the published crop are the ground truth;
each is downsampled to 128 (``INTER_AREA``, what a 128 px model is trained to produce) and upsampled back to
256 with each OpenCV interpolation.  Prints PSNR and SSIM against the 256 px truth (higher is better), the
mean gradient energy relative to the truth (1.0: as sharp; below: blurred, above: ringing) and the cost
per image on one thread, all from one run.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

METHODS = {"nearest": cv2.INTER_NEAREST, "bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC,
           "lanczos4": cv2.INTER_LANCZOS4}


def gradient_energy(image: np.ndarray) -> float:
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).astype(np.float32)
    return float(np.mean(cv2.Sobel(grey, cv2.CV_32F, 1, 0) ** 2 + cv2.Sobel(grey, cv2.CV_32F, 0, 1) ** 2))


def truths(data: Path, people: int) -> list[np.ndarray]:
    from edge.vision.align import MUGSHOT_FACE_SCALE, align_face
    from edge.config import DetectorConfig
    from edge.vision.detect import make_detector

    detector = make_detector(DetectorConfig(threads=1, precision="fp32"))
    faces = []
    for folder in sorted((data / "frmdb" / "original").iterdir()):
        photo = folder / f"{folder.name}_Mugshots" / "Img_33.JPG"
        image = cv2.imread(str(photo)) if photo.is_file() else None
        if image is None:
            continue
        scale = 1280 / max(image.shape[:2])  # YuNet on a screen-sized copy, the crop from the full photo
        found = detector.detect(cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
        if found:
            face = max(found, key=lambda f: f.box[2] * f.box[3])
            faces.append(align_face(image, face.landmarks / scale, 256, MUGSHOT_FACE_SCALE)[0])
        if len(faces) == people:
            break
    return faces


def main(argv: list[str] | None = None) -> int:
    from edge.vision.metrics import psnr, ssim

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2].parent / "shared" / "data"))
    parser.add_argument("--people", type=int, default=20)
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)
    faces = truths(Path(args.data), args.people)
    small = [cv2.resize(f, (128, 128), interpolation=cv2.INTER_AREA) for f in faces]
    print(f"{len(faces)} frontal FRMDB faces, 256 px truth, 128 px -> 256 px, one thread")
    print(f"{'interpolation':14s} {'PSNR dB':>8s} {'SSIM':>7s} {'sharpness':>10s} {'ms/image':>9s}")
    for name, flag in METHODS.items():
        up = [cv2.resize(s, (256, 256), interpolation=flag) for s in small]
        start = time.perf_counter()
        for _ in range(20):
            for s in small:
                cv2.resize(s, (256, 256), interpolation=flag)
        ms = 1000 * (time.perf_counter() - start) / (20 * len(small))
        sharp = statistics.mean(gradient_energy(u) / gradient_energy(f) for u, f in zip(up, faces))
        print(f"{name:14s} {statistics.mean(map(psnr, up, faces)):8.2f} {statistics.mean(map(ssim, up, faces)):7.4f} "
              f"{sharp:10.3f} {ms:9.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
