"""Object detection: SSD and SSDLite on every MobileNet (V1 Table 13, V2 §6.2, V3 §6.3).

Importing this package registers the detectors of ``specs.DETECTORS`` in the model registry, the
detection task for the shared trainer, and the papers' detection rows in
``mobilenet.cost.published``.
"""

from __future__ import annotations

from functools import partial

from mobilenet.cost.published import MACS_PRINTED_TO, PUBLISHED
from mobilenet.models.registry import register_task_model
from mobilenet.tasks import register_task
from mobilenet.tasks.detection.model import BUILD_OPTIONS, SSD, build_detector
from mobilenet.tasks.detection.published import DETECTION_MACS_PRINTED_TO, DETECTION_PUBLISHED
from mobilenet.tasks.detection.specs import DETECTORS, DetectorSpec
from mobilenet.tasks.detection.task import DetectionTask

for _spec in DETECTORS:
    register_task_model(_spec.name, "detection", partial(build_detector, _spec), _spec.backbone, BUILD_OPTIONS,
                        _spec.description)
register_task(DetectionTask())
PUBLISHED.update(DETECTION_PUBLISHED)
MACS_PRINTED_TO.update(DETECTION_MACS_PRINTED_TO)

__all__ = ["DETECTORS", "DetectionTask", "DetectorSpec", "SSD", "build_detector"]
