"""Every known pretrained checkpoint as a record: what to build, where the file is, how to feed it.

A record names a registered architecture and the ``create_model`` options its weights need
(TensorFlow "SAME" padding and batch-norm epsilon 1e-3 for TF-trained weights, torchvision's
channel convention), the file (URL, name, checksum), the licence, the preprocessing the weights
were trained with, the label set and the accuracy their publisher reports. Params and MACs are
not copied from anywhere: ``record_cost`` computes them with our profile.
"""

from __future__ import annotations

import fnmatch
import functools
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SIGNED_UNIT = (0.5, 0.5, 0.5)  # mean = std = 0.5 maps [0, 1] to [-1, 1] (x / 127.5 - 1), TF's scaling

Source = Literal["torchvision", "timm", "keras"]
ResizeMode = Literal["shorter_side", "squash"]


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes the model's input (the same fields as training checkpoints record).

    ``shorter_side``: resize the shorter side to ``resolution / crop_pct`` keeping the aspect
    ratio, then center-crop ``resolution``; ``squash``: resize both sides to that size.
    ``antialias=False`` resizes as TensorFlow's ``resize_bilinear`` does (half-pixel centres, no
    antialiasing when shrinking), which LiteRT's image pipelines use; PIL always antialiases.
    """

    resolution: int = 224
    crop_pct: float = 0.875
    resize_mode: ResizeMode = "shorter_side"
    interpolation: str = "bilinear"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    color: str = "RGB"
    antialias: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("mean", "std"):
            if key in known:
                known[key] = tuple(float(v) for v in known[key])
        return cls(**known)


@dataclass(frozen=True)
class WeightsRecord:
    name: str
    """``<source>/<the publisher's name>``, e.g. ``torchvision/mobilenet_v2.imagenet1k_v1``."""
    model: str
    """A registered architecture (``mobilenet.list_models()``)."""
    options: dict[str, Any]
    """``create_model`` overrides the weights need (padding, bn_eps, convention, resolution)."""
    source: Source
    url: str
    filename: str
    sha256: str | None
    """Full SHA-256 of the file; None where the publisher gives none (then ``checksum``, if any)."""
    checksum: str | None
    """A weaker published check when no full SHA-256 is known: ``sha256-prefix:<hex>`` (torch hub
    file names) or ``md5:<hex>`` (Keras Applications' hashes)."""
    licence: str
    preprocessing: Preprocessing
    labels: str = "imagenet1k"
    """``imagenet1k`` (1000 classes) or ``imagenet1k+background`` (1001, TF-slim)."""
    accuracy: dict[str, float] | None = None
    """ImageNet-1k validation top-1/top-5 (%) as published, with ``accuracy_source``."""
    accuracy_source: str = ""
    unsupported: str | None = None
    """Why our models cannot load this file yet (the record stays so that users learn why)."""
    notes: tuple[str, ...] = field(default=())

    def create_options(self) -> dict[str, Any]:
        return {"num_classes": 1001 if self.labels == "imagenet1k+background" else 1000, **self.options}


RECORDS: dict[str, WeightsRecord] = {}


def register(record: WeightsRecord) -> None:
    """Add a record; a name registered twice is an error."""
    if record.name in RECORDS:
        raise ValueError(f"weights record {record.name!r} is already registered")
    RECORDS[record.name] = record


def list_records(pattern: str = "*", source: str | None = None) -> list[WeightsRecord]:
    """Records whose name matches the shell-style ``pattern``, optionally from one source."""
    return [r for name, r in sorted(RECORDS.items())
            if fnmatch.fnmatch(name, pattern) and (source is None or r.source == source)]


def get_record(name: str) -> WeightsRecord:
    """The record called ``name``; a ValueError listing similar names otherwise."""
    try:
        return RECORDS[name]
    except KeyError:
        stem = name.split("/")[-1].split(".")[0].split("_")[0]
        close = [n for n in RECORDS if stem and stem in n] or list(RECORDS)
        raise ValueError(f"unknown weights {name!r}; records: {', '.join(sorted(close)[:12])}"
                         f"{' ...' if len(close) > 12 else ''} (`mobilenet weights list`), "
                         "or pass the path of an existing file") from None


@functools.lru_cache(maxsize=None)
def record_cost(name: str) -> dict[str, int]:
    """Params (with and without BN) and multiply-adds of a record's model at its resolution."""
    from mobilenet.cost import profile
    from mobilenet.models.registry import create_model

    record = get_record(name)
    model = create_model(record.model, **record.create_options())
    cost = profile(model, record.preprocessing.resolution)
    return {"params": cost.params, "params_with_bn": cost.params_with_bn, "macs": cost.macs}


# --- torchvision (BSD-3-Clause code; weights trained on ImageNet-1k) -------------------------------
# Full SHA-256 values are not published; torchvision checks the 8-hex prefix in the file name.
# All are width 1.0, where torchvision's channel convention equals the paper's: no option needed.
_TV = "https://download.pytorch.org/models/"
for _name, _model, _file, _resize, _acc in (
    ("mobilenet_v2.imagenet1k_v1", "mobilenet_v2", "mobilenet_v2-b0353104.pth", 256, (71.878, 90.286)),
    ("mobilenet_v2.imagenet1k_v2", "mobilenet_v2", "mobilenet_v2-7ebf99e0.pth", 232, (72.154, 90.822)),
    ("mobilenet_v3_large.imagenet1k_v1", "mobilenet_v3_large", "mobilenet_v3_large-8738ca79.pth", 256,
     (74.042, 91.340)),
    ("mobilenet_v3_large.imagenet1k_v2", "mobilenet_v3_large", "mobilenet_v3_large-5c1a4163.pth", 232,
     (75.274, 92.566)),
    ("mobilenet_v3_small.imagenet1k_v1", "mobilenet_v3_small", "mobilenet_v3_small-047dcff4.pth", 256,
     (67.668, 87.402)),
):
    register(WeightsRecord(
        name=f"torchvision/{_name}", model=_model, options={}, source="torchvision",
        url=_TV + _file, filename=_file, sha256=None,
        checksum="sha256-prefix:" + _file.rsplit("-", 1)[1].split(".")[0],
        licence="BSD-3-Clause (torchvision)",
        preprocessing=Preprocessing(224, crop_pct=224 / _resize, interpolation="bilinear"),
        accuracy={"top1": _acc[0], "top5": _acc[1]}, accuracy_source="torchvision weights metadata",
    ))

# --- timm (Apache-2.0) --------------------------------------------------------------------------------
# timm (non-tf_) models use batch-norm epsilon 1e-5; its tf_ ports of the TF-slim V3 checkpoints use
# TF "SAME" padding and epsilon 1e-3. No checksums are published; timm's accuracy tables are not
# copied here (see timm's results files).
_TIMM_GH = "https://github.com/rwightman/pytorch-image-models/releases/download/v0.1-weights/"
_TIMM_HF = "https://huggingface.co/timm/{}/resolve/main/model.safetensors"
for _tag, _model, _options, _file, _pre in (
    ("mobilenetv1_100.ra4_e3600_r224_in1k", "mobilenet_v1", {}, None, ("bicubic", SIGNED_UNIT)),
    ("mobilenetv2_100.ra_in1k", "mobilenet_v2", {}, "mobilenetv2_100_ra-b33bc2c4.pth", ("bicubic", IMAGENET_MEAN)),
    ("mobilenetv2_050.lamb_in1k", "mobilenet_v2_050", {}, "mobilenetv2_050-3d30d450.pth", ("bicubic", IMAGENET_MEAN)),
    ("mobilenetv2_140.ra_in1k", "mobilenet_v2_140", {}, "mobilenetv2_140_ra-21a4e913.pth", ("bicubic", IMAGENET_MEAN)),
    ("mobilenetv3_large_100.ra_in1k", "mobilenet_v3_large", {"bn_eps": 1e-5},
     "mobilenetv3_large_100_ra-f55367f5.pth", ("bicubic", IMAGENET_MEAN)),
    # timm keeps a 16-channel stem below width 0.75 (its fix_stem).
    ("mobilenetv3_small_050.lamb_in1k", "mobilenet_v3_small_050", {"bn_eps": 1e-5, "fixed_stem": True},
     "mobilenetv3_small_050_lambc-4b7bbe87.pth", ("bicubic", IMAGENET_MEAN)),
    ("mobilenetv3_small_075.lamb_in1k", "mobilenet_v3_small_075", {"bn_eps": 1e-5},
     "mobilenetv3_small_075_lambc-384766db.pth", ("bicubic", IMAGENET_MEAN)),
    ("mobilenetv3_small_100.lamb_in1k", "mobilenet_v3_small", {"bn_eps": 1e-5},
     "mobilenetv3_small_100_lamb-266a294c.pth", ("bicubic", IMAGENET_MEAN)),
    ("tf_mobilenetv3_large_075.in1k", "mobilenet_v3_large_075", {"padding": "tf_same"},
     "tf_mobilenetv3_large_075-150ee8b0.pth", ("bilinear", SIGNED_UNIT)),
    ("tf_mobilenetv3_large_100.in1k", "mobilenet_v3_large", {"padding": "tf_same"},
     "tf_mobilenetv3_large_100-427764d5.pth", ("bilinear", SIGNED_UNIT)),
    ("tf_mobilenetv3_large_minimal_100.in1k", "mobilenet_v3_large_minimal", {"padding": "tf_same"},
     "tf_mobilenetv3_large_minimal_100-8596ae28.pth", ("bilinear", SIGNED_UNIT)),
    ("tf_mobilenetv3_small_075.in1k", "mobilenet_v3_small_075", {"padding": "tf_same"},
     "tf_mobilenetv3_small_075-da427f52.pth", ("bilinear", SIGNED_UNIT)),
    ("tf_mobilenetv3_small_100.in1k", "mobilenet_v3_small", {"padding": "tf_same"},
     "tf_mobilenetv3_small_100-37f49e2b.pth", ("bilinear", SIGNED_UNIT)),
    ("tf_mobilenetv3_small_minimal_100.in1k", "mobilenet_v3_small_minimal", {"padding": "tf_same"},
     "tf_mobilenetv3_small_minimal_100-922a7843.pth", ("bilinear", SIGNED_UNIT)),
):
    _interpolation, _mean = _pre
    register(WeightsRecord(
        name=f"timm/{_tag}", model=_model, options=_options, source="timm",
        url=_TIMM_GH + _file if _file else _TIMM_HF.format(_tag),
        filename=_file or f"{_tag}.safetensors", sha256=None, checksum=None, licence="Apache-2.0",
        preprocessing=Preprocessing(224, 0.875, interpolation=_interpolation, mean=_mean,
                                    std=SIGNED_UNIT if _mean == SIGNED_UNIT else IMAGENET_STD),
    ))

# timm's MobileNetV4 conv weights (HF hub; the official TF weights are unreleased), each at the
# resolution and crop of its pretrained_cfg. Top-1 only where the model card names the tag
# (papers.md §4.1: conv_medium.e500_r256 79.928 at 256, hybrid_medium.e500_r224 80.442 at 224).
for _tag, _model, _resolution, _crop, _mean, _top1 in (
    ("mobilenetv4_conv_small.e2400_r224_in1k", "mobilenet_v4_conv_small", 224, 0.875, IMAGENET_MEAN, None),
    ("mobilenetv4_conv_small_050.e3000_r224_in1k", "mobilenet_v4_conv_small_050", 224, 0.875, SIGNED_UNIT, None),
    ("mobilenetv4_conv_medium.e500_r256_in1k", "mobilenet_v4_conv_medium", 256, 0.95, IMAGENET_MEAN, 79.928),
    ("mobilenetv4_conv_large.e600_r384_in1k", "mobilenet_v4_conv_large", 384, 0.95, IMAGENET_MEAN, None),
    ("mobilenetv4_hybrid_medium.e500_r224_in1k", "mobilenet_v4_hybrid_medium", 224, 0.95, IMAGENET_MEAN, 80.442),
    ("mobilenetv4_hybrid_large.e600_r384_in1k", "mobilenet_v4_hybrid_large", 384, 0.95, IMAGENET_MEAN, None),
):
    register(WeightsRecord(
        name=f"timm/{_tag}", model=_model, options={}, source="timm", url=_TIMM_HF.format(_tag),
        filename=f"{_tag}.safetensors", sha256=None, checksum=None, licence="Apache-2.0",
        preprocessing=Preprocessing(_resolution, _crop, interpolation="bicubic", mean=_mean,
                                    std=SIGNED_UNIT if _mean == SIGNED_UNIT else IMAGENET_STD),
        **({"accuracy": {"top1": _top1}, "accuracy_source": "timm model card"} if _top1 else {}),
    ))

# --- Keras Applications (Apache-2.0), ported from TF-slim ------------------------------------------
# Inputs scaled to [-1, 1]; images resized to the square input size (as Keras' examples do). V1 pads
# its strided depthwise convs by a fixed (0, 1) ("keras_v1" padding), V2/V3 like TF "SAME"; batch
# norm epsilon 1e-3. V3 models contain a Rescaling layer: the record's [-1, 1] scaling replaces it.
# Keras publishes no checksums for V1/V2 and MD5 hashes for V3.
_KERAS = "https://storage.googleapis.com/tensorflow/keras-applications/"
_KERAS_PRE = {"crop_pct": 1.0, "resize_mode": "squash", "interpolation": "bilinear", "mean": SIGNED_UNIT,
              "std": SIGNED_UNIT}
for _alpha, _model, _text in ((1.0, "mobilenet_v1", "1_0"), (0.75, "mobilenet_v1_075", "7_5"),
                              (0.5, "mobilenet_v1_050", "5_0"), (0.25, "mobilenet_v1_025", "2_5")):
    for _rows in (128, 160, 192, 224):
        _file = f"mobilenet_{_text}_{_rows}_tf.h5"
        register(WeightsRecord(
            name=f"keras/mobilenet_{_alpha}_{_rows}", model=_model,
            options={"padding": "keras_v1", "bn_eps": 1e-3, "resolution": _rows}, source="keras",
            url=_KERAS + "mobilenet/" + _file, filename=_file, sha256=None, checksum=None, licence="Apache-2.0",
            preprocessing=Preprocessing(_rows, **_KERAS_PRE),
        ))
for _alpha, _model in ((0.35, "mobilenet_v2_035"), (0.5, "mobilenet_v2_050"), (0.75, "mobilenet_v2_075"),
                       (1.0, "mobilenet_v2"), (1.3, "mobilenet_v2_130"), (1.4, "mobilenet_v2_140")):
    for _rows in ((96, 128, 160, 192, 224) if _alpha <= 1.0 else (224,)):
        _file = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{_alpha}_{_rows}.h5"
        register(WeightsRecord(
            name=f"keras/mobilenet_v2_{_alpha}_{_rows}", model=_model,
            options={"padding": "tf_same", "bn_eps": 1e-3, "resolution": _rows}, source="keras",
            url=_KERAS + "mobilenet_v2/" + _file, filename=_file, sha256=None, checksum=None,
            licence="Apache-2.0", preprocessing=Preprocessing(_rows, **_KERAS_PRE),
        ))
for _kind, _model, _md5, _top1 in (
    ("large_224_1.0", "mobilenet_v3_large", "59e551e166be033d707958cf9e29a6a7", 75.6),
    ("large_224_0.75", "mobilenet_v3_large_075", "765b44a33ad4005b3ac83185abf1d0eb", 73.3),
    ("large_minimalistic_224_1.0", "mobilenet_v3_large_minimal", "675e7b876c45c57e9e63e6d90a36599c", 72.3),
    ("small_224_1.0", "mobilenet_v3_small", "8768d4c2e7dee89b9d02b2d03d65d862", 68.1),
    ("small_224_0.75", "mobilenet_v3_small_075", "cb65d4e5be93758266aa0a7f2c6708b7", 65.4),
    ("small_minimalistic_224_1.0", "mobilenet_v3_small_minimal", "99cd97fb2fcdad2bf028eb838de69e37", 61.9),
):
    _file = f"weights_mobilenet_v3_{_kind}_float.h5"
    register(WeightsRecord(
        name=f"keras/mobilenet_v3_{_kind}", model=_model, options={"padding": "tf_same"}, source="keras",
        url=_KERAS + "mobilenet_v3/" + _file, filename=_file, sha256=None, checksum=f"md5:{_md5}",
        licence="Apache-2.0", preprocessing=Preprocessing(224, **_KERAS_PRE),
        accuracy={"top1": _top1}, accuracy_source="Keras Applications MobileNetV3 docstring",
    ))
