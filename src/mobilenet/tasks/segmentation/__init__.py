"""Semantic segmentation: LR-ASPP (V3 §6.4) and Mobile DeepLabv3 (V2 §6.3) on every MobileNet.

Importing the package registers the segmenters (``registry.py``) and the papers' segmentation rows
(``published.py``) in ``mobilenet.cost.published.PUBLISHED``.
"""

from mobilenet.tasks.segmentation import registry  # noqa: F401  (registers the models)

from mobilenet.cost.published import PUBLISHED  # noqa: E402
from mobilenet.tasks.segmentation.published import SEGMENTATION_PUBLISHED  # noqa: E402

PUBLISHED.update(SEGMENTATION_PUBLISHED)
