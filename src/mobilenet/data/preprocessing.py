"""One description of how an image becomes a model's input, and the one eval transform that applies it.

Weights records, training checkpoints, our safetensors files and exported ONNX files all carry a
``Preprocessing`` (as its dict), because a model fed differently prepared pixels silently loses
points (keras-team/tf-keras#443, onnx/models#609). Training, evaluation, ``predict``, export checks
and INT8 calibration all prepare images with ``eval_transform`` of that record.

Resize modes: ``shorter_side`` resizes the shorter side to ``resolution / crop_pct`` keeping the
aspect ratio, then center-crops ``resolution`` (ImageNet evaluation); ``squash`` resizes both
sides to that size (Keras, TF-Lite, detection and segmentation inputs).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any, Literal, Mapping

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import InterpolationMode, v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SIGNED_UNIT = (0.5, 0.5, 0.5)  # mean = std = 0.5 maps [0, 1] to [-1, 1] (x / 127.5 - 1), TF's scaling

ResizeMode = Literal["shorter_side", "squash"]
RESIZE_MODES: tuple[str, ...] = ("shorter_side", "squash")
INTERPOLATIONS: dict[str, InterpolationMode] = {
    "nearest": InterpolationMode.NEAREST, "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC, "lanczos": InterpolationMode.LANCZOS,
}


@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes the model's input: resize, crop, normalisation (see the module docstring)."""

    resolution: int = 224
    crop_pct: float = 0.875
    resize_mode: ResizeMode = "shorter_side"
    interpolation: str = "bilinear"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    color: str = "RGB"
    antialias: bool = True
    """False resizes as TensorFlow's ``resize_bilinear`` does (half-pixel centres, no antialiasing
    when shrinking), as LiteRT's image pipelines do; PIL always antialiases."""

    def __post_init__(self) -> None:
        if isinstance(self.resolution, bool) or not isinstance(self.resolution, int) or self.resolution < 1:
            raise ValueError(f"preprocessing resolution must be a positive integer, got {self.resolution!r}")
        if not 0.0 < float(self.crop_pct) <= 1.0:
            raise ValueError(f"preprocessing crop_pct must be in (0, 1], got {self.crop_pct!r}")
        if self.resize_mode not in RESIZE_MODES:
            raise ValueError(f"resize_mode must be one of {', '.join(RESIZE_MODES)}, got {self.resize_mode!r}")
        if self.interpolation not in INTERPOLATIONS:
            raise ValueError(f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {self.interpolation!r}")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    @property
    def resize(self) -> int:
        """The size the image is resized to before the center crop."""
        return int(round(self.resolution / self.crop_pct))

    def at_resolution(self, resolution: int) -> Preprocessing:
        """The same normalisation and crop fraction at another input size."""
        return replace(self, resolution=int(resolution))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "mean": list(self.mean), "std": list(self.std)}

    def described(self) -> dict[str, Any]:
        """``to_dict`` plus what a runtime without this package needs spelled out."""
        return {**self.to_dict(), "resize": self.resize, "layout": "NCHW",
                "scale": "pixels / 255, then (x - mean) / std"}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | Preprocessing) -> Preprocessing:
        """From a record's dict (unknown keys, such as ``resize`` or ``layout``, are ignored)."""
        if isinstance(data, Preprocessing):
            return data
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "resolution" in known:
            known["resolution"] = int(known["resolution"])
        return cls(**known)


def as_preprocessing(data: Mapping[str, Any] | Preprocessing | None, resolution: int = 224) -> Preprocessing:
    """A ``Preprocessing`` from a record's dict, or ImageNet's defaults at ``resolution`` for None."""
    return Preprocessing(resolution) if data is None else Preprocessing.from_dict(data)


def default_preprocessing(model: Any) -> Preprocessing:
    """The preprocessing of a model whose weights record none: its own default (task models resize
    whole images) or ImageNet mean/std with the 0.875 center crop, at the model's resolution."""
    own = getattr(model, "default_preprocessing", None)
    if callable(own):
        return Preprocessing.from_dict(own())
    return Preprocessing(int(getattr(model, "resolution", 224)))


def to_tensor_steps(pre: Preprocessing) -> list[Any]:
    """Image -> float tensor on [0, 1] -> normalised with ``pre``'s mean and std."""
    return [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(pre.mean), list(pre.std))]


class TfResize(v2.Transform):
    """Resize images without antialiasing, sampling at half-pixel centres (TF2 ``tf.image.resize``,
    TF1 ``resize_bilinear(half_pixel_centers=True)``), rounded back to 8 bits; other inputs pass."""

    MODES = {"bilinear": "bilinear", "bicubic": "bicubic", "nearest": "nearest-exact"}

    def __init__(self, size: int | tuple[int, int], interpolation: str = "bilinear") -> None:
        super().__init__()
        if interpolation not in self.MODES:
            raise ValueError(f"interpolation {interpolation!r} has no antialias=False form; valid: "
                             f"{', '.join(self.MODES)}")
        self.size, self.interpolation = size, interpolation

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if not isinstance(inpt, Image.Image):
            return inpt
        width, height = inpt.size
        if isinstance(self.size, int):  # the shorter side, as v2.Resize(int)
            scale = self.size / min(width, height)
            size = (max(self.size, round(height * scale)), max(self.size, round(width * scale)))
        else:
            size = self.size
        return resize_like_tf(inpt, (size[1], size[0]), self.interpolation)


def resize_like_tf(image: Image.Image, size: tuple[int, int], interpolation: str = "bilinear") -> Image.Image:
    """``image`` resized to ``size`` (width, height) as ``TfResize`` does."""
    mode = TfResize.MODES[interpolation]
    # float64: in float32 the sums depend on the thread count, and rounding then flips pixels by 1.
    pixels = torch.from_numpy(np.asarray(image, dtype=np.float64)).permute(2, 0, 1)[None]
    resized = torch.nn.functional.interpolate(pixels, size=(size[1], size[0]), mode=mode, antialias=False,
                                              align_corners=None if interpolation == "nearest" else False)
    return Image.fromarray(resized[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy())


def resize_steps(pre: Preprocessing) -> list[Any]:
    """The resize (and center crop) of ``pre``: antialiased as PIL does, or TF's (``antialias=False``)."""
    interpolation = INTERPOLATIONS[pre.interpolation]
    size: int | tuple[int, int] = (pre.resize, pre.resize) if pre.resize_mode == "squash" else pre.resize
    steps: list[Any] = [v2.Resize(size, interpolation=interpolation, antialias=True) if pre.antialias
                        else TfResize(size, pre.interpolation)]
    if pre.resize != pre.resolution or pre.resize_mode == "shorter_side":
        steps.append(v2.CenterCrop(pre.resolution))
    return steps


def eval_transform(pre: Preprocessing | Mapping[str, Any]) -> v2.Compose:
    """The evaluation transform of ``pre``: PIL image (or tensor) -> normalised ``(3, H, W)`` float tensor.

    PIL images are resized by PIL (as Keras' and torchvision's references do), before ``ToImage``."""
    pre = Preprocessing.from_dict(pre)
    return v2.Compose([*resize_steps(pre), *to_tensor_steps(pre)])


def transforms(model: Any) -> v2.Compose:
    """The eval transform a model needs (``weights.transforms()`` in torchvision): its weights'
    preprocessing, or its default one when it has none."""
    pre = getattr(model, "preprocessing", None)
    return eval_transform(pre if pre is not None else default_preprocessing(model))
