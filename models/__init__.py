"""Model manifest: which detector files sharpeyes loads and how they are verified."""

from models.registry import ModelError, ModelSpec, load_model_spec, sha256_of_file

__all__ = ["ModelError", "ModelSpec", "load_model_spec", "sha256_of_file"]
