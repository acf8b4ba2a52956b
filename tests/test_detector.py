"""The YOLOX detector on real images, against the boxes in the model card."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from models.registry import load_model_spec
from tests.conftest import media
from vision.detector import Detector, letterbox_into

# COCO val2017 image 1584: a red double-decker bus with two more buses and three
# pedestrians. Expected boxes (x1, y1, x2, y2) at score >= 0.3, per-class NMS 0.45.
COCO_1584 = [
    ("bus", 0.95, (131, 85, 526, 536)),
    ("bus", 0.87, (567, 316, 611, 399)),
    ("bus", 0.87, (509, 315, 569, 385)),
    ("person", 0.66, (78, 376, 99, 431)),
    ("person", 0.41, (114, 377, 129, 431)),
    ("person", 0.32, (102, 383, 122, 430)),
]


@pytest.fixture(scope="module")
def detector(model_dir) -> Detector:
    return Detector(load_model_spec("yolox_nano", model_dir), max_batch=4)


def test_coco_buses_and_people(detector):
    image = cv2.imread(str(media("coco_val2017_000000001584.jpg")))
    found = detector.detect([image])[0]

    assert len(found) == len(COCO_1584)
    for label, score, box in COCO_1584:
        matches = [
            i
            for i in range(len(found))
            if found.labels[i] == label and np.allclose(found.xyxy[i], box, atol=1.5)
        ]
        assert matches, f"no {label} at {box}; found {found.to_records()}"
        assert found.scores[matches[0]] == pytest.approx(score, abs=0.01)


def test_batch_matches_single_runs(detector):
    images = [
        cv2.imread(str(media("coco_val2017_000000001584.jpg"))),
        cv2.imread(str(media("darknet_dog.jpg"))),
        cv2.imread(str(media("stills/dump_truck_dust_1.jpg"))),
        cv2.imread(str(media("stills/dump_truck_dust_2.jpg"))),
        cv2.imread(str(media("darknet_dog.jpg")))[::2, ::2].copy(),
    ]
    # Five images with max_batch 4 also exercises a split into 4 + 1.
    batched = detector.detect(images)
    single = [detector.detect([image])[0] for image in images]

    assert len(batched) == len(images)
    for one, many in zip(single, batched, strict=True):
        assert one.labels == many.labels
        np.testing.assert_allclose(one.xyxy, many.xyxy, atol=1e-3)
        np.testing.assert_allclose(one.scores, many.scores, atol=1e-5)


def test_fixed_batch_model_runs_one_by_one(model_dir):
    fixed = Detector(load_model_spec("yolox_nano_fixed", model_dir), max_batch=8)
    image = cv2.imread(str(media("darknet_dog.jpg")))

    results = fixed.detect([image, image])

    assert fixed.max_batch == 1
    assert [r.labels for r in results] == [["dog", "bicycle", "car", "truck"]] * 2


def test_letterbox_pads_right_and_bottom():
    image = np.full((100, 200, 3), 7, np.uint8)
    target = np.zeros((3, 416, 416), np.float32)

    scale = letterbox_into(image, target)

    assert scale == pytest.approx(416 / 200)
    assert target[:, :208, :].max() == 7
    assert (target[:, 208:, :] == 114).all()


def test_class_filter_keeps_only_named(model_dir):
    spec = load_model_spec("yolox_nano", model_dir)
    people = Detector(spec, keep_classes=["person"])
    image = cv2.imread(str(media("coco_val2017_000000001584.jpg")))

    assert people.detect([image])[0].labels == ["person"] * 3


def test_merge_drops_duplicates_and_cut_boxes():
    from vision.detector import merge_boxes

    xyxy = np.array(
        [
            [10, 10, 50, 100],  # a person seen whole
            [11, 10, 51, 101],  # the same person from a tile
            [10, 10, 50, 60],  # the top of that person, cut at a tile border
            [200, 10, 240, 100],  # another person
            [10, 10, 50, 100],  # a car in the same place: another class
        ],
        np.float32,
    )
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5], np.float32)
    classes = np.array([0, 0, 0, 0, 2])

    kept = merge_boxes(xyxy, scores, classes, iou_limit=0.45)

    assert sorted(kept.tolist()) == [0, 3, 4]


def test_tiles_keep_large_objects_once(detector, model_dir):
    tiled = Detector(load_model_spec("yolox_nano", model_dir), tiles=2)
    image = cv2.imread(str(media("coco_val2017_000000001584.jpg")))

    found = tiled.detect([image])[0]

    buses = [i for i, label in enumerate(found.labels) if label == "bus"]
    big = [i for i in buses if found.xyxy[i][2] - found.xyxy[i][0] > 300]
    assert len(big) == 1
    assert found.labels.count("person") >= 3


@pytest.mark.parametrize(
    ("height", "width", "expected"),
    [
        (720, 1280, (256, 416)),
        (1080, 1920, (256, 416)),
        (576, 768, (320, 416)),
        (480, 640, (320, 416)),
        (416, 416, (416, 416)),
        (1280, 720, (416, 256)),
        (100, 2000, (32, 416)),
    ],
)
def test_canvas_shrinks_to_aspect(height, width, expected):
    from vision.detector import canvas_shape

    assert canvas_shape(height, width, 416, 416, 32) == expected


def test_fitted_canvas_finds_same_objects(model_dir):
    spec = load_model_spec("yolox_nano", model_dir)
    square = Detector(spec, fit_canvas=False)
    fitted = Detector(spec)
    with av.open(str(media("pets09_s2l1_plaza.mp4"))) as container:
        decoded = zip(range(200), container.decode(video=0), strict=False)
        frames = [f.to_ndarray(format="bgr24") for i, f in decoded if i % 50 == 0]
    coco = cv2.imread(str(media("coco_val2017_000000001584.jpg")))
    wide = cv2.resize(frames[0], (1280, 720))
    images = [*frames, coco, wide]

    assert fitted.canvas_for(720, 1280) == (256, 416)
    for image, expected, found in zip(
        images, square.detect(images), fitted.detect(images), strict=True
    ):
        confident = [i for i in range(len(expected)) if expected.scores[i] >= 0.4]
        assert confident, f"nothing found in the {image.shape} image"
        for i in confident:
            same = [
                j
                for j in range(len(found))
                if found.labels[j] == expected.labels[i]
                and np.allclose(found.xyxy[j], expected.xyxy[i], atol=3.0)
            ]
            assert same, f"{expected.labels[i]} at {expected.xyxy[i]} lost"
            assert found.scores[same[0]] == pytest.approx(expected.scores[i], abs=0.05)


@pytest.mark.parametrize(
    ("providers", "max_batch", "workers", "threads", "expected"),
    [
        (["CPUExecutionProvider"], None, None, 0, (4, 2, 1)),
        (["CPUExecutionProvider"], None, None, 2, (4, 1, 2)),
        (["CPUExecutionProvider"], 8, 1, 0, (8, 1, 2)),
        (["CUDAExecutionProvider", "CPUExecutionProvider"], None, None, 0, (32, 1, 1)),
        (["TensorrtExecutionProvider"], None, None, 0, (32, 1, 1)),
        (["OpenVINOExecutionProvider"], None, None, 0, (8, 1, 1)),
    ],
)
def test_inference_plan_per_provider(providers, max_batch, workers, threads, expected):
    from vision.detector import plan_inference

    assert plan_inference(providers, max_batch, workers, threads, cpu_count=2) == (
        expected
    )


def test_auto_providers_end_with_cpu():
    from vision.detector import choose_providers

    chosen = choose_providers(["auto"])

    assert chosen[-1] == "CPUExecutionProvider"
    assert "AzureExecutionProvider" not in chosen
