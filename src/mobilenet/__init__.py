"""MobileNet V1, V2 and V3 from paper to device: blocks, specs, models, cost accounting."""

from mobilenet.cost import conv_cost, profile
from mobilenet.models import MobileNet, create_model, list_models

__version__ = "0.1.0"

__all__ = ["MobileNet", "__version__", "conv_cost", "create_model", "list_models", "profile"]
