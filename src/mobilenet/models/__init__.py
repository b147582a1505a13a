"""The network class, its feature taps and the registry of names."""

from mobilenet.models.features import FeatureInfo
from mobilenet.models.mobilenet import MobileNet
from mobilenet.models.registry import MODELS, create_model, list_models

__all__ = ["MODELS", "FeatureInfo", "MobileNet", "create_model", "list_models"]
