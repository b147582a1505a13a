"""TF Object Detection's COCO SSD MobileNetV1 (TFLite, uint8) imported into our ``ssd_mobilenet_v1_075``.

Reference detections: ``../shared/data/README.md`` (tflite-support's object-detector test on
``cats_and_dogs.jpg``), and the LiteRT interpreter on the same TF-resized pixels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

import mobilenet
from mobilenet.data.images import open_rgb
from mobilenet.data.preprocessing import eval_transform, resize_like_tf

pytest.importorskip("ai_edge_litert", reason="reading .tflite files needs ai-edge-litert")

SSD_FILE = "data/pretrained/tflite/coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"
# The shared README's top 4 (x, y, width, height in pixels of the 1200x800 photo).
REFERENCE = [("cat", 0.645, (54, 396, 393, 196)), ("cat", 0.598, (602, 157, 394, 447)),
             ("cat", 0.563, (261, 394, 179, 209)), ("dog", 0.512, (389, 197, 276, 409))]


@pytest.fixture(scope="module")
def imported(shared_dir: Path) -> torch.nn.Module:
    return mobilenet.create_model(weights=shared_dir / SSD_FILE)


@pytest.fixture(scope="module")
def photo(shared_dir: Path):
    return open_rgb(shared_dir / "data/images/cats_and_dogs.jpg")


def xywh_to_xyxy(box: tuple[float, ...]) -> list[float]:
    x, y, w, h = box
    return [x, y, x + w, y + h]


def our_detections(model: torch.nn.Module, photo) -> list[tuple[str, float, list[float]]]:
    with torch.no_grad():
        boxes, scores, classes, count = model(eval_transform(model.preprocessing)(photo)[None])
    width, height = photo.size
    scale = torch.tensor([width, height, width, height])
    return [(model.class_names[int(classes[0, i])], float(scores[0, i]), (boxes[0, i] * scale).tolist())
            for i in range(int(count[0]))]


def assert_same_top(ours: list, reference: list, count: int = 4) -> None:
    assert len(ours) >= count
    for (name, score, box), (ref_name, ref_score, ref_box) in zip(ours[:count], reference[:count]):
        assert name == ref_name
        assert abs(score - ref_score) <= 0.05
        assert float(box_iou(torch.tensor([box]), torch.tensor([ref_box]))) >= 0.85


def test_the_file_becomes_our_ssd_mobilenet_v1(imported: torch.nn.Module) -> None:
    config = imported.config
    assert config.name == "ssd_mobilenet_v1_075" and config.task == "detection"
    assert config.backbone.options["padding"] == "tf_same" and config.backbone.options["width_mult"] == 0.75
    assert (config.options["num_classes"], config.options["score_fn"], config.options["nms"]) == (90, "sigmoid",
                                                                                                "class_agnostic")
    assert (config.options["max_detections"], config.options["iou_threshold"]) == (10, 0.6)
    assert imported.class_names[0] == "person" and len(imported.class_names) == 90
    assert imported.preprocessing.antialias is False and imported.preprocessing.resize_mode == "squash"


def test_top_four_detections_match_the_reference(imported: torch.nn.Module, photo) -> None:
    reference = [(name, score, xywh_to_xyxy(box)) for name, score, box in REFERENCE]
    assert_same_top(our_detections(imported, photo), reference)


def test_detections_match_the_litert_interpreter(imported: torch.nn.Module, photo, shared_dir: Path) -> None:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(shared_dir / SSD_FILE), num_threads=1)
    interpreter.allocate_tensors()
    pixels = np.asarray(resize_like_tf(photo, (300, 300)), dtype=np.uint8)[None]
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], pixels)
    interpreter.invoke()
    boxes, classes, scores, count = (interpreter.get_tensor(d["index"]) for d in interpreter.get_output_details())
    width, height = photo.size
    theirs = []
    for i in range(int(count[0])):
        ymin, xmin, ymax, xmax = boxes[0, i]
        theirs.append((imported.class_names[int(classes[0, i])], float(scores[0, i]),
                       [xmin * width, ymin * height, xmax * width, ymax * height]))
    assert_same_top(our_detections(imported, photo), theirs)


def test_a_fine_tune_starts_from_the_file_with_new_classes(imported: torch.nn.Module, shared_dir: Path) -> None:
    """What ``mobilenet train --model ssd_mobilenet_v1_075 --weights FILE`` builds for one class."""
    model = mobilenet.create_model("ssd_mobilenet_v1_075", weights=shared_dir / SSD_FILE, num_classes=1)
    kept = imported.state_dict()
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in kept.items() if not k.startswith("class_head."))
    assert model.num_classes == 1 and model.class_names == []
    codes, logits, anchors = model.train()(torch.zeros(2, 3, 300, 300))
    assert anchors.shape == (1917, 4) and logits.shape == (2, 1917, 2)
