"""The face geometry on real faces: dense mesh, Procrustes pose, the frontalizing renderer."""
from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest

from edge.vision.align import canonical_points
from edge.vision.face3d import FrontalRenderer, load_canonical, make_mesher, procrustes_pose
from edge.vision.face3d.frontalize import rasterize, vertex_visibility
from edge.vision.face3d.pose import rotation_from_angles
from edge.vision.model_files import ModelError


@pytest.fixture(scope="module")
def canonical():
    return load_canonical()


@pytest.fixture(scope="module", params=["onnxruntime", "litert"])
def mesher(request):
    return make_mesher(request.param)


def posed_mesh(canonical, yaw=0.0, pitch=0.0, roll=0.0, scale=12.0, at=(200.0, 180.0)) -> np.ndarray:
    """The canonical face turned by the given angles, as image points (x right, y down, z towards the camera)."""
    camera = canonical.vertices.astype(np.float64) @ rotation_from_angles(yaw, pitch, roll).T * scale
    return (camera * np.array([1.0, -1.0, 1.0]) + np.array([at[0], at[1], 0.0])).astype(np.float32)


def test_mesh_on_a_real_face_has_468_points_inside_the_face_box(astronaut, yunet, mesher):
    face = yunet.detect(astronaut)[0]
    mesh = mesher.mesh(astronaut, face.box, face.landmarks)
    assert mesh is not None and mesh.presence > 0.9
    assert mesh.points.shape == (468, 3)
    x, y, w, h = face.box
    inside = ((mesh.points[:, 0] > x - 0.1 * w) & (mesh.points[:, 0] < x + 1.1 * w)
              & (mesh.points[:, 1] > y - 0.1 * h) & (mesh.points[:, 1] < y + 1.1 * h))
    assert inside.all(), f"{(~inside).sum()} mesh points outside the face box"
    # the mesh's eyes, nose tip and mouth corners land on YuNet's
    assert mesh.agreement < 0.06


def test_onnx_conversion_gives_the_tflite_networks_points(astronaut, yunet):
    face = yunet.detect(astronaut)[0]
    a = make_mesher("onnxruntime").run(astronaut, face.box, face.landmarks)
    b = make_mesher("litert").run(astronaut, face.box, face.landmarks)
    assert np.abs(a.points - b.points).max() < 0.01
    assert abs(a.presence - b.presence) < 1e-4


def test_presence_is_low_and_no_mesh_on_a_non_face(yunet, mesher):
    from skimage import data

    bricks = cv2.cvtColor(data.brick(), cv2.COLOR_GRAY2BGR)
    assert not yunet.detect(bricks)
    box = (100.0, 100.0, 200.0, 240.0)  # where a face would be, with a plausible layout of landmarks
    landmarks = canonical_points(200, 1.0) + np.float32([100, 120])
    assert mesher.run(bricks, box, landmarks).presence < 0.5
    assert mesher.mesh(bricks, box, landmarks) is None


def test_procrustes_pose_of_the_canonical_model_is_zero(canonical):
    pose = procrustes_pose(posed_mesh(canonical), canonical)
    assert max(abs(pose.yaw), abs(pose.pitch), abs(pose.roll)) < 1e-3
    assert pose.scale == pytest.approx(12.0, rel=1e-4)


@pytest.mark.parametrize("yaw,pitch,roll", [(30, 0, 0), (-45, 0, 0), (60, 10, -5), (-20, -15, 12)])
def test_a_rotated_mesh_gives_back_its_angles(canonical, yaw, pitch, roll):
    pose = procrustes_pose(posed_mesh(canonical, yaw, pitch, roll), canonical)
    assert (pose.yaw, pose.pitch, pose.roll) == pytest.approx((yaw, pitch, roll), abs=1e-3)


def test_yaw_sign_follows_the_project_convention(shared_data, yunet, canonical):
    """Positive yaw: the face turns towards the image's left, as the 5-point estimate says; FRMDB's
    camera at -45 sees the face turned by +45."""
    from edge.vision.quality import head_pose

    mesher = make_mesher("onnxruntime")
    image = cv2.imread(str(shared_data / "frmdb/cropped/mugshots/040/Img_23.jpg"))
    face = yunet.detect(image)[0]
    yaw = procrustes_pose(mesher.mesh(image, face.box, face.landmarks).points, canonical).yaw
    assert 25 < yaw < 60
    assert head_pose(face.landmarks, image.shape[1::-1])[0] > 0
    flipped = image[:, ::-1].copy()
    mirrored = yunet.detect(flipped)[0]
    yaw_mirrored = procrustes_pose(mesher.mesh(flipped, mirrored.box, mirrored.landmarks).points, canonical).yaw
    assert -60 < yaw_mirrored < -25 and abs(yaw + yaw_mirrored) < 5


def frontal_in_template(canonical, size):
    """The canonical face, frontal, placed so that its five points sit on the alignment template."""
    from edge.vision.align import similarity_transform

    flat = canonical.vertices[:, :2] * np.float32([1, -1])
    m = similarity_transform(canonical.five_points(flat), canonical_points(size, 0.7)).astype(np.float64)
    scale = math.hypot(m[0, 0], m[0, 1])
    points = np.empty((468, 3), np.float32)
    points[:, :2] = flat @ m[:, :2].T + m[:, 2]
    points[:, 2] = canonical.vertices[:, 2] * scale
    return points


@pytest.mark.parametrize("size", [128, 256])
def test_renderer_maps_the_canonical_mesh_onto_itself(canonical, size):
    points = frontal_in_template(canonical, size)
    rng = np.random.default_rng(0)
    noise = cv2.GaussianBlur(rng.integers(0, 255, (size, size, 3), dtype=np.uint8), (7, 7), 0).astype(np.float32)
    image = ((noise + noise[:, ::-1]) / 2).astype(np.uint8)  # symmetric: the mirrored side's share blends in unseen
    renderer = FrontalRenderer(canonical, size)
    out = renderer.render(image, points, procrustes_pose(points, canonical))
    ys, xs = np.nonzero(out.inside)
    assert len(ys) > 0.25 * size * size
    shift = np.abs(out.source[ys, xs] - np.stack([xs, ys], 1))
    assert shift.max() < 1.0, f"identity warp is off by {shift.max():.2f} px"
    assert (out.visibility[out.inside] > 0.5).mean() > 0.9 and out.visibility[~out.inside].max() == 0.0
    diff = np.abs(out.image.astype(int) - image.astype(int))[out.inside]
    assert np.median(diff) <= 2 and np.percentile(diff, 99) <= 40


def test_zbuffer_nearer_triangle_wins_whatever_the_drawing_order():
    points = np.float32([[10, 10], [60, 10], [10, 60], [20, 20], [70, 20], [20, 70]])
    triangles = np.int32([[0, 1, 2], [3, 4, 5]])
    near_second = np.float32([0, 0, 0, 5, 5, 5])
    near_first = np.float32([5, 5, 5, 0, 0, 0])
    assert rasterize(points, near_second, triangles, (80, 80))[30, 30] == 1
    assert rasterize(points, near_first, triangles, (80, 80))[30, 30] == 0
    assert rasterize(points, near_first, triangles[::-1], (80, 80))[30, 30] == 1  # index 1 is now the near one


def test_parts_hidden_behind_the_nose_are_invisible(canonical):
    """Turned 40°, some far-side vertices still face the camera but lie behind the nose: the z-buffer
    hides them; seen from the front (almost) nothing facing the camera is hidden."""
    def facing_but_hidden(yaw):
        points = posed_mesh(canonical, yaw=yaw)
        visible = vertex_visibility(points, canonical, (400, 400), tolerance=0.03 * np.ptp(points[:, 0]))
        tri = canonical.triangles
        camera = points.astype(np.float64) * np.array([1, -1, 1])
        n = np.cross(camera[tri[:, 1]] - camera[tri[:, 0]], camera[tri[:, 2]] - camera[tri[:, 0]])
        normals = np.zeros_like(camera)
        for k in range(3):
            np.add.at(normals, tri[:, k], n)
        return np.flatnonzero((normals[:, 2] > 0.3 * np.linalg.norm(normals, axis=1)) & (visible == 0))

    frontal = facing_but_hidden(0.0)
    assert len(frontal) <= 4  # at most where the lips touch
    hidden = np.setdiff1d(facing_but_hidden(40.0), frontal)
    assert len(hidden) >= 3
    # on the side turned away: positive yaw turns the face to the image's left, so the camera sees the face's
    # left cheek (x > 0 in the canonical frame, the viewer's right) and the right one (x < 0) hides behind the nose
    assert (canonical.vertices[hidden, 0] < 0).mean() >= 0.8


def test_frontalized_real_face_at_256(astronaut, yunet, canonical):
    mesher = make_mesher("onnxruntime")
    face = yunet.detect(astronaut)[0]
    mesh = mesher.mesh(astronaut, face.box, face.landmarks)
    out = FrontalRenderer(canonical, 256).render(astronaut, mesh.points, procrustes_pose(mesh.points, canonical))
    assert out.image.shape == (256, 256, 3) and out.visibility.shape == (256, 256)
    assert (out.image[~out.inside] == 128).all() and (out.visibility[~out.inside] == 0).all()
    assert 0.2 < out.inside.mean() < 0.7
    # the face is skin-coloured where seen, not the grey fill
    seen = out.image[out.visibility > 0.5].astype(int)
    assert seen[:, 2].mean() > seen[:, 0].mean() + 10  # red over blue


def test_a_missing_or_altered_mesh_model_is_refused(tmp_path):
    import shutil

    from models import MODELS_DIR

    for name in ("manifest.toml", "face_landmark.onnx", "face_mesh_canonical.json"):
        shutil.copy(MODELS_DIR / name, tmp_path / name)
    (tmp_path / "face_landmark.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="face_landmark.onnx has sha256"):
        make_mesher("onnxruntime", models_dir=tmp_path)


def test_canonical_model_is_what_the_recipe_describes(canonical):
    from models import MODELS_DIR

    data = json.loads((MODELS_DIR / "face_mesh_canonical.json").read_text())
    assert len(data["vertices"]) == 468 and len(data["triangles"]) == 898 and len(data["procrustes_ids"]) == 33
    assert (canonical.mirror[canonical.mirror] == np.arange(468)).mean() > 0.95  # mirror partners pair up


def test_rotate_and_render_pairs_from_one_photo(astronaut, yunet, canonical):
    from edge.vision.face3d.rerender import rotate_and_render, turned_mesh

    mesher = make_mesher("onnxruntime")
    face = yunet.detect(astronaut)[0]
    mesh = mesher.mesh(astronaut, face.box, face.landmarks)
    pose = procrustes_pose(mesh.points, canonical)
    still = rotate_and_render(astronaut, mesh.points, pose, canonical, yaw=0.0)
    region = still.rendered.inside
    assert np.abs(turned_mesh(mesh.points, pose, 0.0) - mesh.points).max() < 1e-3
    assert np.median(np.abs(still.rotated.astype(int) - astronaut)[region]) <= 2
    pair = rotate_and_render(astronaut, mesh.points, pose, canonical, yaw=35.0)
    turned_pose = procrustes_pose(pair.rotated_points, canonical)
    assert turned_pose.yaw == pytest.approx(pose.yaw + 35.0, abs=1.0)
    assert pair.rotated.shape == pair.twice.shape == astronaut.shape
    # turned away, the rotated view changed; turned back, the face is the photo again, less what the turn hid
    changed = np.abs(pair.rotated.astype(int) - astronaut)[pair.rendered.inside].mean()
    back = np.abs(pair.twice.astype(int) - astronaut)[pair.twice_rendered.inside].mean()
    assert changed > 2 * back and back < 20
