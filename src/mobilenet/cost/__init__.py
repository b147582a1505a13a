"""Cost accounting: params and multiply-adds per layer, as the papers count them."""

from mobilenet.cost.conv_cost import ConvCost, conv_cost
from mobilenet.cost.measure import count_by_hooks
from mobilenet.cost.profile import LayerCost, Profile, profile

__all__ = ["ConvCost", "LayerCost", "Profile", "conv_cost", "count_by_hooks", "profile"]
