"""Pretrained weights: records, download and cache, converters from torchvision, timm and Keras,
and our own safetensors + JSON format.

``load_weights(model, weights)`` takes a record name (``list_weights()``) or a local file;
``create_pretrained(name)`` builds the model a record needs and loads it; ``push_to_hub`` and
``from_pretrained`` move our format to and from the Hugging Face Hub.
"""

from mobilenet.weights.hub import from_pretrained, push_to_hub, save_pretrained
from mobilenet.weights.loading import build_model, create_pretrained, load_file, load_weights
from mobilenet.weights.records import RECORDS, Preprocessing, WeightsRecord, get_record, list_records


def list_weights(pattern: str = "*", source: str | None = None) -> list[str]:
    """Names of the weights records matching ``pattern`` (e.g. ``"keras/*"``), sorted."""
    return [record.name for record in list_records(pattern, source)]


__all__ = [
    "RECORDS",
    "Preprocessing",
    "WeightsRecord",
    "build_model",
    "create_pretrained",
    "from_pretrained",
    "get_record",
    "list_records",
    "list_weights",
    "load_file",
    "load_weights",
    "push_to_hub",
    "save_pretrained",
]
