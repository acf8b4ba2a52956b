"""Read models/manifest.yaml and check a weight file against its recorded sha256."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

MANIFEST_PATH = Path(__file__).with_name("manifest.yaml")


class ModelError(Exception):
    """A model named in the config is unknown, missing or fails its checksum."""


@dataclass(frozen=True)
class ModelSpec:
    """One manifest entry, resolved to a weight file on disk."""

    name: str
    path: Path
    sha256: str
    family: str
    input_height: int
    input_width: int
    dynamic_batch: bool
    # Fully convolutional: runs at any input size that is a multiple of `stride`.
    free_input_size: bool
    stride: int
    class_names: tuple[str, ...]
    source: str
    licence: str


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_model_spec(
    name: str, model_dir: Path, manifest_path: Path = MANIFEST_PATH
) -> ModelSpec:
    """Look up `name` in the manifest and verify its weight file in `model_dir`.

    Raises ModelError with a one-line message when the name is unknown, the file is
    missing, or its sha256 differs from the manifest.
    """
    manifest = yaml.safe_load(manifest_path.read_text())
    entries = manifest["models"]
    if name not in entries:
        known = ", ".join(sorted(entries))
        raise ModelError(f"model.name: unknown model {name!r} (known: {known})")
    entry = entries[name]

    path = Path(model_dir) / entry["file"]
    if not path.is_file():
        raise ModelError(
            f"model.dir: weight file {str(path)!r} not found; download "
            f"{entry['file']} as described in models/manifest.yaml"
        )
    actual = sha256_of_file(path)
    if actual != entry["sha256"]:
        raise ModelError(
            f"model.dir: weight file {str(path)!r} has sha256 {actual}, "
            f"expected {entry['sha256']}; the file is damaged or a different model"
        )

    height, width = entry["input_size"]
    return ModelSpec(
        name=name,
        path=path,
        sha256=actual,
        family=entry["family"],
        input_height=int(height),
        input_width=int(width),
        dynamic_batch=bool(entry["dynamic_batch"]),
        free_input_size=bool(entry.get("free_input_size", False)),
        stride=int(entry.get("stride", 32)),
        class_names=tuple(manifest["classes"][entry["classes"]]),
        source=" ".join(entry["source"].split()),
        licence=entry["licence"],
    )
