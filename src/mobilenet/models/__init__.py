"""The network class, its feature taps, the model description and the registry of names."""

from mobilenet.models.config import ModelConfig
from mobilenet.models.features import FeatureInfo
from mobilenet.models.mobilenet import MobileNet
from mobilenet.models.registry import MODELS, build_model, list_models

__all__ = ["MODELS", "FeatureInfo", "MobileNet", "ModelConfig", "build_model", "list_models"]
