"""The training configuration: one flat dataclass with commented defaults (nanoGPT style).

Defaults are neutral; the values of a use (digits demo, fine-tuning, from scratch) live in
``mobilenet/recipes/*.yaml``. Precedence: defaults < recipe file < command-line flags. The resolved config
is written to the run folder as ``config.yaml`` and into every checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from mobilenet.recipes import find_recipe


@dataclass
class TrainConfig:
    # --- data ---
    data: str = "digits"             # an ImageFolder root (with train/ and val/, or one folder to split), or "digits"
    val_fraction: float = 0.2        # held-out share when the data has no val/ folder (seeded, stratified)
    workers: int = -1                # DataLoader workers; -1 = sized for the machine
    max_images: int = 0              # keep only the first N images of each split (quick trials, tests); 0 = all
    # --- model ---
    model: str = "mobilenet_v3_small"
    width_mult: float | None = None  # None = the name's width
    resolution: int = 224            # training crop size; eval resizes to resolution / crop_pct then center-crops
    weights: str | None = None       # pretrained weights (record name or file): fine-tuning with a new head
    dropout: float | None = None     # None = the model's default
    bn_momentum: float | None = None # None = the model's (TF's 0.01 for V3: too slow for runs of a few hundred steps)
    freeze_epochs: int = 0           # train only the new head for this many epochs when fine-tuning
    freeze_bn: bool = False          # keep the pretrained BN statistics (inference-mode BN) for the whole fine-tune
    sync_bn: bool = False            # batch norm statistics over all processes (torchrun)
    channels_last: bool = True
    # --- optimisation ---
    epochs: int = 10
    batch_size: int = 64             # global batch: divided among torchrun processes
    opt: str = "sgd"                 # sgd (Nesterov momentum) | rmsprop_tf | adamw
    lr: float = 0.1                  # for the global batch_size
    momentum: float = 0.9
    weight_decay: float = 4e-5       # never applied to BN parameters and biases
    rmsprop_alpha: float = 0.9       # RMSProp decay (TF "rho")
    rmsprop_eps: float = 1e-3        # TF adds eps inside the square root
    sched: str = "cosine"            # cosine | step | constant (after warm-up)
    warmup_epochs: float = 0.0       # linear warm-up from warmup_lr_ratio * lr
    warmup_lr_ratio: float = 0.01
    min_lr_ratio: float = 0.0        # cosine floor as a fraction of lr
    step_epochs: float = 2.0         # step schedule: multiply by step_gamma every step_epochs
    step_gamma: float = 0.973
    label_smoothing: float = 0.1
    clip_grad: float | None = None   # max gradient norm
    ema_decay: float | None = None   # e.g. 0.999; evaluation and best checkpoint use the EMA weights
    amp: str = "auto"                # auto (fp16 on CUDA, off on CPU) | off | bf16 | fp16
    # --- augmentation ---
    crop_scale: float = 0.08         # RandomResizedCrop minimum area
    hflip: float = 0.5
    auto_augment: str | None = None  # randaugment | autoaugment | trivialaugment
    random_erase: float = 0.0
    crop_pct: float = 0.875          # eval: resize to resolution / crop_pct, center crop
    # --- detection and segmentation (tasks/detection, tasks/segmentation; other tasks ignore these) ---
    val_data: str | None = None      # labelled images to validate on (else the data's val/, valid/ or test/, or val_fraction of it)
    # --- detection ---
    match_iou: float = 0.5           # an anchor is positive at IoU >= this with a box (and each box takes its best)
    neg_pos_ratio: float = 3.0       # hard negative mining: negatives kept per positive anchor (SSD §2.2)
    focal_loss: bool = False         # sigmoid focal loss on every anchor instead (RetinaNet; needs score_fn sigmoid)
    box_loss_weight: float = 1.0     # smooth L1 box loss against the classification loss
    zoom_out: float = 4.0            # SSD augmentation: the image on a canvas up to this many times larger (1 = off)
    iou_crop: bool = True            # SSD augmentation: random crops that keep a box at IoU >= 0.1 ... 0.9
    photometric: bool = True         # SSD augmentation: brightness, contrast, saturation, hue
    # --- segmentation ---
    aux_loss: float = 0.0            # segmentation: weight of an auxiliary FCN head's loss (torchvision: 0.5; 0 = no aux head)
    scale_min: float = 0.5           # segmentation: random rescale of the shorter side, as a fraction of resolution
    scale_max: float = 2.0
    color_jitter: float = 0.0        # segmentation: brightness, contrast and saturation jitter (0 = off)
    # --- run ---
    seed: int = 0
    output: str = "runs"             # run folders are created under this folder
    name: str | None = None          # run folder name; default: <model>-<data>-<time> (numbered when taken)
    exist_ok: bool = False           # allow a new run in an existing non-empty run folder (else refused)
    save_every_steps: int = 0        # also checkpoint every N optimiser steps (0 = per epoch only)
    device: str = "auto"             # auto | cpu | cuda
    progress: bool = True            # tqdm bar per epoch
    extra: dict[str, Any] = field(default_factory=dict)  # free-form notes kept with the run

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


FIELD_NAMES = tuple(f.name for f in fields(TrainConfig))


def load_recipe(path: str | Path) -> dict[str, Any]:
    """The settings of a YAML recipe (a file, or a shipped recipe's name: ``mobilenet.recipes``);
    unknown keys and values of the wrong type are errors that name the setting and what it takes."""
    try:
        values = yaml.safe_load(find_recipe(path).read_text()) or {}
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        raise ValueError(f"recipe {str(path)!r} is not valid YAML{where}: {problem}") from None
    if not isinstance(values, dict):
        raise ValueError(f"recipe {str(path)!r} must be a mapping of setting: value")
    check_keys(values, f"recipe {str(path)!r}")
    return {key: coerce(key, value, f"recipe {str(path)!r}") for key, value in values.items()}


_HINTS = get_type_hints(TrainConfig)


def coerce(name: str, value: Any, where: str) -> Any:
    """``value`` as the type of setting ``name``, or a ValueError naming the setting and the type.

    Ints stay ints (``epochs: 1.5`` is refused, not rounded), an int is accepted for a float, and
    strings are not read as numbers (``lr: '0.1'`` is refused): a recipe says what it means."""
    hint = str(_HINTS[name])
    if value is None:
        if "None" in hint:
            return None
        raise ValueError(f"{name} in {where} needs a value ({_type_name(hint)}), got nothing")
    if name == "extra":
        if not isinstance(value, dict):
            raise ValueError(f"extra in {where} must be a mapping, got {value!r}")
        return value
    if re.search(r"\bbool\b", hint):
        ok = isinstance(value, bool)
    elif re.search(r"\bint\b", hint):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif re.search(r"\bfloat\b", hint):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, str)
    if not ok:
        raise ValueError(f"{name} in {where} must be {_type_name(hint)}, got {value!r} ({type(value).__name__})")
    return value


def _type_name(hint: str) -> str:
    for name, text in (("bool", "true or false"), ("int", "a whole number"), ("float", "a number"),
                       ("str", "a string")):
        if re.search(rf"\b{name}\b", hint):
            return text + (" (or null)" if "None" in hint else "")
    return hint


def check_keys(values: dict[str, Any], where: str) -> None:
    unknown = sorted(set(values) - set(FIELD_NAMES))
    if unknown:
        raise ValueError(f"unknown setting(s) {', '.join(unknown)} in {where}; valid: {', '.join(FIELD_NAMES)}")


FINETUNE_RECIPE = "finetune"


def resolve_config(recipe: str | Path | None = None, **overrides: Any) -> TrainConfig:
    """Defaults, then the recipe, then ``overrides`` (None values are ignored: flag not given).

    Pretrained ``weights`` without a recipe take the ``finetune`` recipe's settings (a from-scratch
    learning rate destroys what the weights know), and say so on stderr."""
    given = {k: v for k, v in overrides.items() if v is not None}
    check_keys(given, "the overrides")
    given = {k: coerce(k, v, "the overrides") for k, v in given.items()}
    if recipe is None and given.get("weights"):
        recipe = FINETUNE_RECIPE
        print(f"note: pretrained weights were given without a recipe: using the {FINETUNE_RECIPE!r} recipe's "
              "settings (give --recipe scratch or another recipe to change them)", file=sys.stderr)
    values: dict[str, Any] = load_recipe(recipe) if recipe else {}
    values.update(given)
    config = TrainConfig(**values)
    validate(config)
    return config


CHOICES = {
    "opt": ("sgd", "rmsprop_tf", "adamw"),
    "sched": ("cosine", "step", "constant"),
    "amp": ("auto", "off", "bf16", "fp16"),
    "device": ("auto", "cpu", "cuda"),
}


def validate(config: TrainConfig) -> None:
    """Fail early with the bad value and the valid ones."""
    for name, valid in CHOICES.items():
        if getattr(config, name) not in valid:
            raise ValueError(f"{name} must be one of {', '.join(valid)}, got {getattr(config, name)!r}")
    if config.auto_augment not in (None, "randaugment", "autoaugment", "trivialaugment"):
        raise ValueError(f"auto_augment must be randaugment, autoaugment or trivialaugment, got {config.auto_augment!r}")
    positive = {"epochs": config.epochs, "batch_size": config.batch_size, "lr": config.lr,
                "resolution": config.resolution}
    if config.max_images < 0:
        raise ValueError(f"max_images must be >= 0 (0 = all), got {config.max_images!r}")
    for name, value in positive.items():
        if not (value > 0 and math.isfinite(value)):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    for f in fields(config):
        value = getattr(config, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{f.name} must be a finite number, got {value!r}")
    if not 0.0 < config.val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {config.val_fraction!r}")
    if not 0.0 < config.scale_min <= config.scale_max:
        raise ValueError(f"scale_min and scale_max must satisfy 0 < scale_min <= scale_max, got {config.scale_min!r} "
                         f"and {config.scale_max!r}")
    if config.aux_loss < 0 or config.color_jitter < 0:
        raise ValueError(f"aux_loss and color_jitter must be >= 0, got {config.aux_loss!r} and {config.color_jitter!r}")
    if not 0.0 < config.crop_scale <= 1.0:
        raise ValueError(f"crop_scale must be in (0, 1], got {config.crop_scale!r}")
    if config.ema_decay is not None and not 0.0 < config.ema_decay < 1.0:
        raise ValueError(f"ema_decay must be in (0, 1), got {config.ema_decay!r}")
    if not 0.0 < config.match_iou <= 1.0:
        raise ValueError(f"match_iou must be in (0, 1], got {config.match_iou!r}")
    if config.neg_pos_ratio < 0 or config.box_loss_weight < 0:
        raise ValueError(f"neg_pos_ratio and box_loss_weight must be >= 0, got {config.neg_pos_ratio!r}, "
                         f"{config.box_loss_weight!r}")
    if config.zoom_out < 1.0:
        raise ValueError(f"zoom_out must be >= 1 (1 = off), got {config.zoom_out!r}")
    if (config.freeze_epochs or config.freeze_bn) and not config.weights:
        raise ValueError("freeze_epochs and freeze_bn need pretrained weights (weights); a random backbone "
                         "must be trained")


def save_config(config: TrainConfig, path: Path) -> None:
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
