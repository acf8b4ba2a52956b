"""YOLOX detector on onnxruntime: letterbox, batched inference, decoding and NMS.

Pre- and post-processing follow the YOLOX export in the model manifest: BGR input
with pixel values 0..255, letterboxed to the top-left of a canvas filled with 114,
and a raw head output of (batch, anchors, 5 + classes) whose objectness and class
columns already have the sigmoid applied.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence

import cv2
import numpy as np
import onnx
import onnxruntime as ort
from google.protobuf.message import DecodeError

from models.registry import ModelError, ModelSpec
from vision.detections import Detections

log = logging.getLogger(__name__)

YOLOX_STRIDES = (8, 16, 32)
PAD_VALUE = 114.0


def yolox_grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the (anchors, 2) cell offsets and (anchors, 1) strides of a YOLOX head.

    Levels come in stride order; within a level y is the outer loop, x the inner.
    """
    offsets, strides = [], []
    for stride in YOLOX_STRIDES:
        rows, cols = height // stride, width // stride
        ys, xs = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
        offsets.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        strides.append(np.full((rows * cols, 1), stride))
    return (
        np.concatenate(offsets).astype(np.float32),
        np.concatenate(strides).astype(np.float32),
    )


def letterbox_into(image: np.ndarray, target: np.ndarray) -> float:
    """Resize `image` (H, W, 3 BGR uint8) into `target` (3, h, w float32) in place.

    The image keeps its aspect ratio and sits at the top-left; the rest is set to
    114. Returns the scale factor from original to model pixels.
    """
    _, target_h, target_w = target.shape
    height, width = image.shape[:2]
    scale = min(target_h / height, target_w / width)
    new_w, new_h = round(width * scale), round(height * scale)

    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    target[:, :new_h, :new_w] = resized.transpose(2, 0, 1)
    target[:, new_h:, :] = PAD_VALUE
    target[:, :new_h, new_w:] = PAD_VALUE
    return scale


def canvas_shape(
    height: int, width: int, max_height: int, max_width: int, stride: int
) -> tuple[int, int]:
    """Return the (height, width) letterbox canvas for a frame of that size.

    The frame is scaled as it would be for the full max_height x max_width
    canvas, and the canvas then shrinks to the scaled frame, rounded up to a
    multiple of `stride`. A 1280x720 frame gets 256x416 instead of 416x416, so
    the model gets the same pixels and 38 % less input to run on.
    """
    scale = min(max_height / height, max_width / width)
    scaled_h, scaled_w = round(height * scale), round(width * scale)
    return (
        min(max_height, -(-scaled_h // stride) * stride),
        min(max_width, -(-scaled_w // stride) * stride),
    )


def free_size_model(path: str) -> bytes:
    """Return the ONNX model at `path` with a free input height and width.

    Only the declared shapes change: the graph itself must already work at
    other sizes, which the manifest states with `free_input_size`.
    """
    model = onnx.load(path)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, name in ((dims[2], "height"), (dims[3], "width")):
        dim.ClearField("dim_value")
        dim.dim_param = name
    for output in model.graph.output:
        # The anchor count follows from the input size.
        anchors = output.type.tensor_type.shape.dim[1]
        anchors.ClearField("dim_value")
        anchors.dim_param = "anchors"
    # Shapes inferred for the fixed size would contradict the new ones.
    del model.graph.value_info[:]
    return model.SerializeToString()


def choose_providers(requested: Sequence[str]) -> list[str]:
    """Return the requested execution providers, or raise ModelError naming a
    provider that this onnxruntime build does not offer.

    `auto` stands for every accelerator of AUTO_ORDER that the build offers,
    best first, then the CPU.
    """
    available = ort.get_available_providers()
    if list(requested) == ["auto"]:
        return [name for name in AUTO_ORDER if name in available]
    if "auto" in requested:
        raise ModelError("model.providers: 'auto' must be the only entry of the list")
    for name in requested:
        if name not in available:
            raise ModelError(
                f"model.providers: {name!r} is not available in this onnxruntime "
                f"build (available: {', '.join(available)})"
            )
    return list(requested)


def merge_boxes(
    xyxy: np.ndarray,
    scores: np.ndarray,
    class_ids: np.ndarray,
    iou_limit: float,
    contained_limit: float = 0.8,
) -> np.ndarray:
    """Indexes of boxes kept after merging detections of overlapping crops.

    Greedy by score within each class: a box is dropped when it overlaps a kept
    one by more than `iou_limit` IoU, or when more than `contained_limit` of its
    own area lies inside a kept box, which removes the partial boxes of objects
    cut at a tile border.
    """
    order = np.argsort(-scores)
    kept: list[int] = []
    areas = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    for index in order:
        box = xyxy[index]
        same = [k for k in kept if class_ids[k] == class_ids[index]]
        if same:
            others = xyxy[same]
            ix = np.clip(
                np.minimum(others[:, 2], box[2]) - np.maximum(others[:, 0], box[0]),
                0,
                None,
            )
            iy = np.clip(
                np.minimum(others[:, 3], box[3]) - np.maximum(others[:, 1], box[1]),
                0,
                None,
            )
            inter = ix * iy
            iou = inter / np.maximum(areas[same] + areas[index] - inter, 1e-9)
            contained = inter / max(areas[index], 1e-9)
            if (iou > iou_limit).any() or (contained > contained_limit).any():
                continue
        kept.append(int(index))
    return np.asarray(kept, np.int64)


# Per-provider defaults. On CPUs one session run per core, each on one intra-op
# thread, gave the most images/s, and batching gained little
# (benchmarks/THROUGHPUT.md). Accelerators need large batches and one caller.
DEFAULT_BATCH = {
    "CPUExecutionProvider": 4,
    "OpenVINOExecutionProvider": 8,
    "CUDAExecutionProvider": 32,
    "TensorrtExecutionProvider": 32,
}
# Providers tried, in order, for `auto`.
AUTO_ORDER = (
    "TensorrtExecutionProvider",
    "CUDAExecutionProvider",
    "OpenVINOExecutionProvider",
    "CPUExecutionProvider",
)


def plan_inference(
    providers: Sequence[str],
    max_batch: int | None,
    workers: int | None,
    intra_op_threads: int,
    cpu_count: int | None = None,
) -> tuple[int, int, int]:
    """Return (max batch, workers, intra-op threads per run) for `providers`.

    Unset values take the defaults of the first provider. On CPU that is one
    worker per core with one intra-op thread each. An accelerator gets one
    worker with a large batch.
    """
    cores = cpu_count or os.cpu_count() or 1
    first = providers[0] if providers else "CPUExecutionProvider"
    on_cpu = first == "CPUExecutionProvider"
    batch = max_batch or DEFAULT_BATCH.get(first, 8)
    if workers is None:
        workers = min(cores, 8) if on_cpu and not intra_op_threads else 1
    if not intra_op_threads:
        intra_op_threads = max(1, min(4, cores) // workers) if on_cpu else 1
    return batch, workers, intra_op_threads


class Detector:
    """Run a YOLOX model on batches of BGR frames and return Detections per frame.

    Thread-safe: each calling thread letterboxes into its own preallocated input
    buffer, and onnxruntime runs one session from several threads at once. The
    inference core calls it from `workers` threads.
    """

    def __init__(
        self,
        spec: ModelSpec,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        score_threshold: float = 0.3,
        nms_iou: float = 0.45,
        max_batch: int | None = None,
        intra_op_threads: int = 0,
        workers: int | None = None,
        keep_classes: Sequence[str] | None = None,
        tiles: int = 1,
        tile_overlap: float = 0.2,
        fit_canvas: bool = True,
    ) -> None:
        if spec.family != "yolox":
            raise ModelError(f"model.name: family {spec.family!r} is not supported")
        self.spec = spec
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.tiles = tiles
        self.tile_overlap = tile_overlap
        providers = choose_providers(providers)
        batch, self.workers, threads = plan_inference(
            providers, max_batch, workers, intra_op_threads
        )
        self.max_batch = batch if spec.dynamic_batch else 1
        self.intra_op_threads = threads
        # TensorRT builds one engine per input shape, so it keeps the fixed one.
        self.fit_canvas = (
            fit_canvas
            and spec.free_input_size
            and providers[0] != "TensorrtExecutionProvider"
        )

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle intra-op threads spin for a while before they sleep; with one
        # worker per core the spinning only takes CPU from the decoders.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            model = free_size_model(str(spec.path)) if self.fit_canvas else spec.path
            self._session = ort.InferenceSession(
                model if isinstance(model, bytes) else str(model),
                options,
                providers=providers,
            )
        except (ort.capi.onnxruntime_pybind11_state.Fail, DecodeError) as error:
            raise ModelError(
                f"model.dir: cannot load {str(spec.path)!r}: {error}"
            ) from error
        self._input_name = self._session.get_inputs()[0].name
        self.providers = self._session.get_providers()

        self._local = threading.local()
        self._grids: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        if keep_classes is None:
            self._keep = np.ones(len(spec.class_names), bool)
        else:
            unknown = set(keep_classes) - set(spec.class_names)
            if unknown:
                raise ModelError(
                    f"model.classes: {sorted(unknown)} are not classes of {spec.name!r}"
                )
            self._keep = np.isin(spec.class_names, list(keep_classes))
        log.info(
            "loaded model %s (%s) on %s: max batch %d, %d workers of %d threads",
            spec.name,
            spec.path.name,
            ",".join(self.providers),
            self.max_batch,
            self.workers,
            self.intra_op_threads,
        )

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.spec.class_names

    @property
    def session(self) -> ort.InferenceSession:
        return self._session

    def canvas_for(self, height: int, width: int) -> tuple[int, int]:
        """Return the model input (height, width) used for frames of this size."""
        spec = self.spec
        if not self.fit_canvas:
            return spec.input_height, spec.input_width
        return canvas_shape(
            height, width, spec.input_height, spec.input_width, spec.stride
        )

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        """Detect objects in BGR uint8 frames of any size, batching as allowed.

        With `tiles` > 1, each frame is also cut into tiles x tiles overlapping
        crops, each run at the model's full input size, so that small, far-away
        objects get more pixels; the boxes of all crops are merged.
        """
        if self.tiles > 1:
            return [self._detect_tiled(image) for image in images]
        return self._run(images)

    def _run(self, images: Sequence[np.ndarray]) -> list[Detections]:
        # One model run takes one input shape, so frames are grouped by canvas.
        groups: dict[tuple[int, int], list[int]] = {}
        for index, image in enumerate(images):
            groups.setdefault(self.canvas_for(*image.shape[:2]), []).append(index)
        results: list[Detections | None] = [None] * len(images)
        for canvas, indexes in groups.items():
            for start in range(0, len(indexes), self.max_batch):
                chunk = indexes[start : start + self.max_batch]
                found = self._detect_chunk([images[i] for i in chunk], canvas)
                for index, detections in zip(chunk, found, strict=True):
                    results[index] = detections
        return results

    def _input_buffer(self, canvas: tuple[int, int]) -> np.ndarray:
        """Return this thread's (max_batch, 3, h, w) input buffer for `canvas`."""
        buffers = getattr(self._local, "buffers", None)
        if buffers is None:
            buffers = self._local.buffers = {}
        buffer = buffers.get(canvas)
        if buffer is None:
            shape = (self.max_batch, 3, *canvas)
            buffer = buffers[canvas] = np.empty(shape, np.float32)
        return buffer

    def _grid(self, canvas: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        grid = self._grids.get(canvas)
        if grid is None:
            grid = self._grids[canvas] = yolox_grid(*canvas)
        return grid

    def _detect_tiled(self, image: np.ndarray) -> Detections:
        height, width = image.shape[:2]
        crops, offsets = [image], [(0, 0)]
        share = self.tiles - (self.tiles - 1) * self.tile_overlap
        tile_w, tile_h = int(width / share), int(height / share)
        for row in range(self.tiles):
            for col in range(self.tiles):
                x = min(width - tile_w, round(col * tile_w * (1 - self.tile_overlap)))
                y = min(height - tile_h, round(row * tile_h * (1 - self.tile_overlap)))
                crops.append(image[y : y + tile_h, x : x + tile_w])
                offsets.append((x, y))
        parts = self._run(crops)
        shifts = [np.array([x, y, x, y], np.float32) for x, y in offsets]
        xyxy = np.concatenate(
            [part.xyxy + shift for part, shift in zip(parts, shifts, strict=True)]
        )
        scores = np.concatenate([part.scores for part in parts])
        class_ids = np.concatenate([part.class_ids for part in parts])
        keep = merge_boxes(xyxy, scores, class_ids, self.nms_iou)
        return Detections(xyxy[keep], scores[keep], class_ids[keep], self.class_names)

    def _detect_chunk(
        self, images: Sequence[np.ndarray], canvas: tuple[int, int]
    ) -> list[Detections]:
        count = len(images)
        buffer = self._input_buffer(canvas)
        scales = [letterbox_into(image, buffer[i]) for i, image in enumerate(images)]
        (raw,) = self._session.run(None, {self._input_name: buffer[:count]})
        offsets, strides = self._grid(canvas)
        return [
            self._decode(raw[i], scales[i], images[i].shape[:2], offsets, strides)
            for i in range(count)
        ]

    def _decode(
        self,
        raw: np.ndarray,
        scale: float,
        frame_shape: tuple[int, int],
        grid_offsets: np.ndarray,
        grid_strides: np.ndarray,
    ) -> Detections:
        objectness = raw[:, 4]
        # The score is objectness times class probability, so no cell whose
        # objectness is below the threshold can pass. Skipping those cells first
        # saves most of the work.
        candidates = np.flatnonzero(objectness >= self.score_threshold)
        if candidates.size == 0:
            return Detections.empty(self.class_names)
        rows = raw[candidates]
        class_probs = rows[:, 5:]
        class_ids = class_probs.argmax(axis=1)
        scores = rows[:, 4] * class_probs[np.arange(len(rows)), class_ids]
        keep = (scores >= self.score_threshold) & self._keep[class_ids]
        if not keep.any():
            return Detections.empty(self.class_names)
        rows, class_ids, scores = rows[keep], class_ids[keep], scores[keep]
        cells = candidates[keep]

        strides = grid_strides[cells]
        centres = (rows[:, :2] + grid_offsets[cells]) * strides
        sizes = np.exp(rows[:, 2:4]) * strides
        xyxy = np.concatenate([centres - sizes / 2, centres + sizes / 2], axis=1)
        xyxy /= scale
        height, width = frame_shape
        np.clip(xyxy[:, 0::2], 0, width, out=xyxy[:, 0::2])
        np.clip(xyxy[:, 1::2], 0, height, out=xyxy[:, 1::2])

        xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
        kept = cv2.dnn.NMSBoxesBatched(
            xywh.tolist(),
            scores.tolist(),
            class_ids.tolist(),
            self.score_threshold,
            self.nms_iou,
        )
        kept = np.asarray(kept, dtype=np.int64).reshape(-1)
        order = kept[np.argsort(-scores[kept])]
        return Detections(
            xyxy=xyxy[order].astype(np.float32),
            scores=scores[order].astype(np.float32),
            class_ids=class_ids[order].astype(np.int64),
            class_names=self.class_names,
        )
