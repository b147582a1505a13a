"""Every weights record builds its model; computed metadata agrees with what publishers state."""

from __future__ import annotations

import pytest
import torchvision

from mobilenet.models.registry import build_model as create_model, list_models
from mobilenet.weights import RECORDS, get_record, list_weights
from mobilenet.weights.labels import LABEL_SETS, class_names
from mobilenet.cli.weights import record_cost

REQUIRED = (
    "torchvision/mobilenet_v2.imagenet1k_v1", "torchvision/mobilenet_v2.imagenet1k_v2",
    "torchvision/mobilenet_v3_large.imagenet1k_v1", "torchvision/mobilenet_v3_large.imagenet1k_v2",
    "torchvision/mobilenet_v3_small.imagenet1k_v1",
    "timm/mobilenetv1_100.*", "timm/mobilenetv2_100.*", "timm/mobilenetv2_050.*", "timm/mobilenetv2_140.*",
    "timm/mobilenetv3_large_100.*", "timm/mobilenetv3_small_050.*", "timm/mobilenetv3_small_075.*",
    "timm/mobilenetv3_small_100.*", "timm/tf_mobilenetv3_*",
    "keras/mobilenet_0.25_128", "keras/mobilenet_1.0_224", "keras/mobilenet_v2_0.35_96", "keras/mobilenet_v2_1.4_224",
    "keras/mobilenet_v3_large_224_0.75", "keras/mobilenet_v3_small_minimalistic_224_1.0",
)


@pytest.mark.parametrize("pattern", REQUIRED)
def test_required_records_exist(pattern):
    assert list_weights(pattern), pattern


@pytest.mark.parametrize("name", sorted(RECORDS))
def test_record_is_consistent(name):
    record = RECORDS[name]
    assert record.model in list_models() and record.labels in LABEL_SETS
    # The cached file keeps the URL's extension: loading tells file kinds apart by it.
    assert record.url.startswith("https://") and record.url.endswith(record.filename.rsplit(".", 1)[-1])
    assert record.sha256 is None or len(record.sha256) == 64
    assert record.checksum is None or record.checksum.split(":")[0] in ("md5", "sha256-prefix")
    pre = record.preprocessing
    assert 0 < pre.crop_pct <= 1 and len(pre.mean) == len(pre.std) == 3
    model = create_model(record.model, **record.create_options())
    assert model.num_classes == len(class_names(record.labels))
    cost = record_cost(name)
    assert cost["params_with_bn"] == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("weights_enum, version", [
    (torchvision.models.MobileNet_V2_Weights, "v1"), (torchvision.models.MobileNet_V2_Weights, "v2"),
    (torchvision.models.MobileNet_V3_Large_Weights, "v1"), (torchvision.models.MobileNet_V3_Large_Weights, "v2"),
    (torchvision.models.MobileNet_V3_Small_Weights, "v1"),
])
def test_torchvision_metadata_recomputed(weights_enum, version):
    """Our profile gives torchvision's parameter count and its GFLOPs; the URL and accuracy match."""
    theirs = weights_enum[f"IMAGENET1K_{version.upper()}"]
    arch = weights_enum.__name__.replace("_Weights", "").lower()
    record = get_record(f"torchvision/{arch}.imagenet1k_{version}")
    cost = record_cost(record.name)
    assert cost["params_with_bn"] == theirs.meta["num_params"]
    assert round(cost["macs"] / 1e9, 3) == pytest.approx(theirs.meta["_ops"], abs=0.002)
    assert record.url == theirs.url and record.accuracy["top1"] == theirs.meta["_metrics"]["ImageNet-1K"]["acc@1"]
    assert record.preprocessing.resolution == theirs.transforms().crop_size[0]
    assert round(224 / record.preprocessing.crop_pct) == theirs.transforms().resize_size[0]


def test_labels():
    names = class_names("imagenet1k")
    assert len(names) == 1000 and names[285] == "Egyptian cat"
    background = class_names("imagenet1k+background")
    assert len(background) == 1001 and background[0] == "background" and background[286] == "Egyptian cat"
    with pytest.raises(ValueError, match="valid: imagenet1k"):
        class_names("coco")
