"""Semantic segmentation: LR-ASPP (V3 §6.4) and Mobile DeepLabv3 (V2 §6.3) on every MobileNet.

Importing the package registers the task (``task.py``), the segmenters (``registry.py``) and the
papers' segmentation rows (``published.py``) in ``mobilenet.cost.published.PUBLISHED``.
"""

from mobilenet.cost.published import PUBLISHED
from mobilenet.tasks import register_task
from mobilenet.tasks.segmentation import registry  # noqa: F401  (registers the models)
from mobilenet.tasks.segmentation.published import SEGMENTATION_PUBLISHED
from mobilenet.tasks.segmentation.task import SegmentationTask

register_task(SegmentationTask())
PUBLISHED.update(SEGMENTATION_PUBLISHED)
