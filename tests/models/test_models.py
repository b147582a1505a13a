"""Every registered model: forward/backward at odd sizes and other widths, export, errors."""

from __future__ import annotations

import pytest
import torch

from mobilenet import create_model, list_models, profile
from mobilenet.cost import count_by_hooks
from mobilenet.models.registry import MODELS

ALL = list_models(task="classification")  # task models: tests/tasks/
FAMILIES = ["mobilenet_v1", "mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small",
            "mobilenet_v3_large_minimal", "mobilenet_v3_small_minimal", "mobilenet_v4_conv_small",
            "mobilenet_v4_conv_medium", "mobilenet_v4_hybrid_medium"]


def test_registry_lists_every_family_and_filters() -> None:
    assert set(FAMILIES) <= set(ALL)
    assert list_models("mobilenet_v3_small*") == sorted(n for n in ALL if n.startswith("mobilenet_v3_small"))
    assert list_models("nothing*") == []


@pytest.mark.parametrize("name", ALL)
def test_forward_backward_at_odd_resolution(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=7)
    x = torch.randn(2, 3, 97, 97)
    out = model(x)
    assert out.shape == (2, 7)
    out.square().mean().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("width", [0.1, 0.6, 1.15, 2.0])
def test_any_width_works_and_cost_matches_the_real_modules(name: str, width: float) -> None:
    model = create_model(name, width_mult=width, num_classes=5).eval()
    assert model(torch.randn(1, 3, 225, 225)).shape == (1, 5)
    for resolution in (97, 225):
        counted = profile(model, resolution)
        hooked = count_by_hooks(model, (1, 3, resolution, resolution))
        assert counted.macs == hooked["macs"]
        assert counted.params == hooked["params"]
        assert counted.params_with_bn == hooked["params_with_bn"]


@pytest.mark.parametrize("name", ALL)
def test_profile_matches_a_hook_counter_at_the_nominal_resolution(name: str) -> None:
    model = create_model(name)
    size = model.resolution  # 224, or 256/384 for V4-Conv-M/L
    counted, hooked = profile(model), count_by_hooks(model, (1, 3, size, size))
    assert (counted.macs, counted.params, counted.params_with_bn) == (
        hooked["macs"], hooked["params"], hooked["params_with_bn"])


@pytest.mark.parametrize("padding", ["tf_same", "keras_v1"])
@pytest.mark.parametrize("size", [97, 224])
def test_profile_follows_the_padding_mode(padding: str, size: int) -> None:
    model = create_model("mobilenet_v1_025", padding=padding)
    counted, hooked = profile(model, size), count_by_hooks(model, (1, 3, size, size))
    assert counted.macs == hooked["macs"]


def test_fixed_stem_keeps_16_channels_below_width_one() -> None:
    assert create_model("mobilenet_v3_small_050").plan.stem.out_channels == 8
    model = create_model("mobilenet_v3_small_050", fixed_stem=True)
    assert model.plan.stem.out_channels == 16 and model.blocks[0].depthwise.conv.in_channels == 16
    assert create_model(model.config).plan.stem.out_channels == 16


@pytest.mark.parametrize("name", FAMILIES)
def test_eval_mode_is_deterministic(name: str) -> None:
    model = create_model(name, width_mult=0.5).eval()
    x = torch.randn(2, 3, 128, 160)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("name", [*FAMILIES, "mobilenet_v4_hybrid_large"])  # widths add no op kind to a trace
def test_torch_export_traces(name: str) -> None:
    model = create_model(name).eval()
    x = torch.randn(1, 3, 97, 97)
    exported = torch.export.export(model, (x,))
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(x), model(x))


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("output_stride", [8, 16, 32])
@pytest.mark.parametrize("location", ["block", "expansion"])
def test_multiscale_features_match_feature_info(name: str, output_stride: int, location: str) -> None:
    model = create_model(name, width_mult=0.5, output_stride=output_stride).eval()
    if location == "expansion" and name == "mobilenet_v1":
        with pytest.raises(ValueError, match="no expansion"):
            model.feature_info(location)
        return
    info = model.feature_info(location)
    assert [i.reduction for i in info] == [min(r, output_stride) for r in (2, 4, 8, 16, 32)]
    with torch.no_grad():
        features = model.forward_multiscale(torch.randn(1, 3, 224, 224), location)
        final = model.forward_features(torch.randn(1, 3, 224, 224))
    assert len(features) == len(info)
    for tap, feature in zip(info, features):
        assert feature.shape[1:] == (tap.channels, 224 // tap.reduction, 224 // tap.reduction), tap
    assert features[-1].shape == final.shape


def test_v3_large_c4_is_the_expansion_of_the_13th_bottleneck() -> None:
    """V3 paper §6.3: SSDLite's first layer reads the expansion of bottleneck 13 (OS 16)."""
    c4 = create_model("mobilenet_v3_large").feature_info("expansion")[3]
    assert (c4.module, c4.location, c4.reduction, c4.channels) == ("blocks.12", "expansion", 16, 672)
    c4_v2 = create_model("mobilenet_v2").feature_info("expansion")[3]   # V2 §6.2: layer 15's expansion
    assert (c4_v2.module, c4_v2.reduction, c4_v2.channels) == ("blocks.13", 16, 576)


@pytest.mark.parametrize("name", FAMILIES)
def test_config_rebuilds_the_same_model(name: str) -> None:
    model = create_model(name, width_mult=0.75, resolution=160, num_classes=3, convention="torchvision")
    again = create_model(model.config)
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}
    assert again.resolution == 160


def test_forward_head_pre_logits_and_headless_model() -> None:
    model = create_model("mobilenet_v3_small", num_classes=0).eval()
    x = torch.randn(1, 3, 64, 64)
    assert model(x).shape == (1, 1024)
    full = create_model("mobilenet_v3_small").eval()
    assert full.forward_head(full.forward_features(x), pre_logits=True).shape == (1, 1024)


def test_in_chans_option() -> None:
    model = create_model("mobilenet_v2_035", in_chans=1, num_classes=10)
    assert model(torch.randn(2, 1, 64, 64)).shape == (2, 10)


@pytest.mark.parametrize("width", [0, -0.5, "1.0", None, True])
def test_bad_width_is_a_clear_error(width: object) -> None:
    with pytest.raises(ValueError, match=r"width_mult must be a number in \(0, 10\]"):
        create_model("mobilenet_v2", width_mult=width)


def test_resolution_too_small_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="too small.*at least 32x32"):
        create_model("mobilenet_v1", resolution=31)
    model = create_model("mobilenet_v3_small")
    with pytest.raises(ValueError, match="input size 16 is too small"):
        model(torch.randn(1, 3, 16, 64))
    assert model(torch.randn(1, 3, 32, 33)).shape == (1, 1000)


def test_unknown_name_names_the_valid_choices() -> None:
    with pytest.raises(ValueError, match="unknown model 'mobilenet_v5'.*mobilenet_v1"):
        create_model("mobilenet_v5")


def test_wrong_input_channels_is_a_clear_error() -> None:
    model = create_model("mobilenet_v2")
    with pytest.raises(ValueError, match=r"expects input of shape \(batch, 3, height, width\).*in_chans=1"):
        model(torch.randn(1, 1, 64, 64))
    with pytest.raises(ValueError, match="expects input of shape"):
        model(torch.randn(3, 64, 64))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"output_stride": 4}, "output_stride must be one of"),
        ({"num_classes": -1}, "num_classes must be"),
        ({"dropout": 1.5}, "dropout must be"),
        ({"padding": "reflect"}, "padding must be one of"),
        ({"convention": "keras"}, "convention must be one of"),
        ({"alpha": 0.5}, "unknown option.*alpha.*valid: width_mult"),
        ({"in_chans": 0}, "in_chans must be"),
    ],
)
def test_bad_options_are_clear_errors(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_model("mobilenet_v3_large", **options)


def test_registry_refuses_duplicate_names() -> None:
    from mobilenet.models.registry import register

    entry = MODELS["mobilenet_v2"]
    with pytest.raises(ValueError, match="already registered"):
        register("mobilenet_v2", entry.spec, 1.0)


def test_weights_record_options_apply_to_create_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """``create_model(name, weights=record)`` builds what the record needs (here TF padding) and
    refuses options that contradict it."""
    import mobilenet.factory

    loaded = []
    monkeypatch.setattr(mobilenet.factory, "load_weights", lambda model, info, cache: loaded.append(info.reference))
    model = create_model("mobilenet_v3_large", weights="timm/tf_mobilenetv3_large_100.in1k")
    assert model.padding == "tf_same" and loaded == ["timm/tf_mobilenetv3_large_100.in1k"]
    with pytest.raises(ValueError, match="padding='symmetric' \\(they need 'tf_same'\\)"):
        create_model("mobilenet_v3_large", weights="timm/tf_mobilenetv3_large_100.in1k", padding="symmetric")
