"""Detector cost against the papers (V2 Tables 5-6, V3 Table 6) and torchvision's ssdlite320.

Tolerance (issue 12): within 2% of the params and 1% of the MAdds, or one unit of the printed
figure. A cell we cannot reproduce is a strict xfail with the reason.
"""

from __future__ import annotations

import pytest
import torch

from mobilenet import create_model, profile
from mobilenet.cost.published import PUBLISHED
from mobilenet.tasks.detection.published import (DETECTION_HEADS_PUBLISHED, DETECTION_MACS_PRINTED_TO,
                                                  DETECTION_PUBLISHED)
from mobilenet.tasks.detection.torchvision_convert import key_map, load_torchvision_ssdlite
from mobilenet.weights.mapping import tensor_map

from tests.tasks.detection.helpers import calibrate_batch_norm, smooth_images


def unit_of(figure: float) -> float:
    text = repr(float(figure)).rstrip("0").rstrip(".")
    return 10.0 ** -(len(text.split(".")[1]) if "." in text else 0)


def within(ours: float, published: float, relative: float, unit: float) -> bool:
    return abs(ours - published) <= max(relative * published, unit)


def test_the_rows_join_the_published_table() -> None:
    assert all(PUBLISHED[key] == value for key, value in DETECTION_PUBLISHED.items())


@pytest.mark.parametrize(("key", "figures"), sorted(DETECTION_PUBLISHED.items()), ids=lambda v: str(v))
def test_detectors_match_the_papers(key: tuple[str, int], figures: tuple[float, float, str]) -> None:
    name, resolution = key
    macs, params, source = figures
    cost = profile(create_model(name, resolution=resolution))
    assert within(cost.macs / 1e6, macs, 0.01, DETECTION_MACS_PRINTED_TO[key]), \
        f"{source}: {cost.macs / 1e6:.1f}M MAdds vs {macs}M"
    assert within(cost.params / 1e6, params, 0.02, unit_of(params)), f"{source}: {cost.params / 1e6:.3f}M vs {params}M"


HEAD_XFAIL = {
    ("ssdlite_mobilenet_v2", 320, "macs"): "V2 Table 5 prints 0.35B for the SSDLite head, but Table 6's V2 + SSDLite "
    "total of 0.8B minus the 0.61B backbone at 320 leaves 0.19B; we count 0.178B (its 2.1M params match)",
}


def head_cases() -> list[object]:
    cases = []
    for (name, resolution), figures in sorted(DETECTION_HEADS_PUBLISHED.items()):
        for what in ("macs", "params"):
            reason = HEAD_XFAIL.get((name, resolution, what))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(pytest.param(name, resolution, what, figures, marks=marks, id=f"{name}-{what}"))
    return cases


@pytest.mark.parametrize(("name", "resolution", "what", "figures"), head_cases())
def test_heads_match_v2_table_5(name: str, resolution: int, what: str, figures: tuple[float, float, str]) -> None:
    rows = [r for r in profile(create_model(name, resolution=resolution)).layers if not r.layer.startswith("backbone.")]
    macs, params, source = figures
    if what == "macs":
        ours = sum(r.macs for r in rows) / 1e6
        assert within(ours, macs, 0.01, 10.0), f"{source}: {ours:.1f}M MAdds vs {macs}M"
    else:
        ours = sum(r.params for r in rows) / 1e6
        assert within(ours, params, 0.02, unit_of(params)), f"{source}: {ours:.3f}M params vs {params}M"


def test_the_v3_rows_need_the_settings_we_worked_out() -> None:
    """The counterfactuals behind the registered settings (``published.py``): they miss the papers."""
    v2_90 = profile(create_model("ssdlite_mobilenet_v2", num_classes=90, resolution=320))
    assert not within(v2_90.params / 1e6, 4.3, 0.02, 0.1)
    kept = profile(create_model("ssdlite_mobilenet_v2_035", backbone={"shrink_last_conv": False}, resolution=320))
    assert not within(kept.params / 1e6, 0.93, 0.02, 0.01)


def torchvision_ssdlite():
    torchvision_detection = pytest.importorskip("torchvision.models.detection")
    torch.manual_seed(0)
    model = torchvision_detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)
    calibrate_batch_norm(model, lambda x: model.head(list(model.backbone(x).values())), 320)
    return model


def test_ssdlite320_is_torchvisions_model_layer_for_layer() -> None:
    theirs = torchvision_ssdlite()
    ours = create_model("ssdlite320_mobilenet_v3_large")
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in theirs.parameters()) == 3_440_060
    assert profile(ours).params_with_bn == 3_440_060
    assert round(profile(ours).macs / 1e9, 3) == 0.583  # torchvision's "GFLOPS" (its _ops) is MACs
    source = theirs.state_dict()
    pairs = tensor_map(key_map(ours), "torch")
    target = ours.state_dict()
    assert {theirs_key for _, theirs_key, _ in pairs} == {k for k in source if not k.endswith("num_batches_tracked")}
    assert all(target[o].shape == source[t].shape for o, t, _ in pairs)


def test_a_torchvision_state_dict_gives_torchvisions_detections() -> None:
    theirs = torchvision_ssdlite()
    ours = load_torchvision_ssdlite(create_model("ssdlite320_mobilenet_v3_large"), theirs.state_dict()).eval()
    image = smooth_images(1, 320, seed=1)[0]
    with torch.no_grad():
        expected = theirs([image])[0]
        boxes, scores, classes, count = ours(((image - 0.5) / 0.5)[None])
    n = int(count[0])
    assert n == len(expected["scores"]) == 300 and len(set(expected["scores"].tolist())) == 300
    # torchvision's labels count the background; its boxes are pixels of the 320x320 input.
    got = sorted(zip(scores[0, :n].tolist(), (classes[0, :n] + 1).tolist(), (boxes[0, :n] * 320).tolist()))
    want = sorted(zip(expected["scores"].tolist(), expected["labels"].tolist(), expected["boxes"].tolist()))
    for (s1, c1, b1), (s2, c2, b2) in zip(got, want):
        assert abs(s1 - s2) <= 1e-4 and c1 == c2
        assert max(abs(a - b) for a, b in zip(b1, b2)) <= 1e-4 * 320
