"""MobileNet V1, V2, V3 and V4 from paper to device: blocks, specs, models, cost accounting, weights,
classification, detection and segmentation, export."""

from mobilenet.cost import conv_cost, profile
from mobilenet.data.preprocessing import Preprocessing, transforms
from mobilenet.factory import create_model, create_pretrained
from mobilenet.models import MobileNet, ModelConfig, list_models

__version__ = "0.1.0"

__all__ = ["MobileNet", "ModelConfig", "Preprocessing", "__version__", "conv_cost", "create_model",
           "create_pretrained", "list_models", "profile", "transforms"]
