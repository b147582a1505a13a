"""Pretrained weights: records, download and cache, converters from torchvision, timm and Keras,
and our own safetensors + JSON format.

``load_weights(model, weights)`` takes a record name (``list_weights()``) or a local file;
``mobilenet.create_model(name, weights=...)`` builds the model the weights need and loads them;
``push_to_hub`` and ``from_pretrained`` move our format to and from the Hugging Face Hub.
"""

from mobilenet.data.preprocessing import Preprocessing
from mobilenet.weights.hub import from_pretrained, push_to_hub, save_pretrained
from mobilenet.weights.loading import WeightsInfo, inspect_weights, load_backbone, load_file, load_weights
from mobilenet.weights.records import RECORDS, WeightsRecord, get_record, list_records


def list_weights(pattern: str = "*", source: str | None = None) -> list[str]:
    """Names of the weights records matching ``pattern`` (e.g. ``"keras/*"``), sorted."""
    return [record.name for record in list_records(pattern, source)]


__all__ = [
    "RECORDS",
    "Preprocessing",
    "WeightsRecord",
    "WeightsInfo",
    "from_pretrained",
    "inspect_weights",
    "load_backbone",
    "get_record",
    "list_records",
    "list_weights",
    "load_file",
    "load_weights",
    "push_to_hub",
    "save_pretrained",
]
