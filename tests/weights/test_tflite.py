"""Google's TFLite MobileNets (the shared Coral classifiers) become our trainable models and agree
with the LiteRT interpreter on the team's photos; broken and foreign files give one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

litert = pytest.importorskip("ai_edge_litert.interpreter")

import flatbuffers  # noqa: E402  (comes with ai-edge-litert)

from mobilenet.cli.main import main  # noqa: E402
from mobilenet.data.images import open_rgb
from mobilenet.data.preprocessing import Preprocessing, eval_transform, resize_like_tf  # noqa: E402
from mobilenet.models.registry import build_model as create_model  # noqa: E402
from mobilenet import create_model as create_with_weights  # noqa: E402
from mobilenet.weights import format as our_format  # noqa: E402
from mobilenet.weights.tflite import import_classifier  # noqa: E402
from mobilenet.weights.tflite_graph import Quantization, read_graph, schema  # noqa: E402

TFLITE = "data/pretrained/tflite"
V1, V2 = "coral_mobilenet_v1_0.5_160_quant.tflite", "coral_mobilenet_v2_1.0_224_quant.tflite"
SSD = "coco_ssd_mobilenet_v1_1.0_quant_2018_06_29.tflite"
IMAGES = ("bird.bmp", "cat.bmp", "cats_and_dogs.jpg", "grace_hopper.bmp", "hot_dog.jpg", "parrot.jpg", "sunflower.bmp")
# Measured: the uint8 file says mortarboard 0.215, our float model academic gown 0.243 with
# mortarboard 0.225 second. Rounding the activations to the file's uint8 grids reproduces the
# interpreter's top-1 (test_uint8_activations_explain_the_difference), so the weights are right;
# the two classes are nearly tied and the uint8 rounding decides between them.
NEAR_TIE = {(V1, "grace_hopper.bmp")}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def imported(shared_dir):
    cache = {}

    def get(name: str):
        if name not in cache:
            cache[name] = import_classifier(shared_dir / TFLITE / name)
        return cache[name]
    return get


def _model(result):
    model = create_model(result.model_config)
    model.load_state_dict(result.state_dict)
    return model.eval()


def _interpreter_probabilities(path: Path, image_path: Path) -> np.ndarray:
    """The uint8 file's softmax on the image resized TF-style (as ../shared/data/README.md says)."""
    interpreter = litert.Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    size = int(source["shape"][1])
    pixels = np.asarray(resize_like_tf(open_rgb(image_path), (size, size), "bilinear"))
    interpreter.set_tensor(source["index"], pixels[None])
    interpreter.invoke()
    scale, zero_point = target["quantization"]
    return (interpreter.get_tensor(target["index"])[0].astype(np.float32) - zero_point) * scale


def test_dequantize_per_tensor_and_per_channel():
    q = np.array([[0, 10], [20, 30]], dtype=np.uint8)
    per_tensor = Quantization(np.array([0.5], np.float32), np.array([10]), 0)
    assert np.allclose(per_tensor.dequantize(q), [[-5, 0], [5, 10]])
    per_channel = Quantization(np.array([1.0, 0.1], np.float32), np.array([0, 10]), 1)
    assert np.allclose(per_channel.dequantize(q), [[0, 0], [20, 2]])


def test_graph_reader(shared_dir):
    graph = read_graph(shared_dir / TFLITE / V1)
    assert [op.type for op in graph.operators[:3]] == ["CONV_2D", "DEPTHWISE_CONV_2D", "CONV_2D"]
    stem = graph.operators[0]
    assert stem.options["stride_h"] == 2 and stem.options["padding"] == "SAME"
    assert stem.options["fused_activation_function"] == "RELU6"
    weight, bias = graph.tensors[stem.inputs[1]], graph.tensors[stem.inputs[2]]
    assert weight.dtype == "UINT8" and bias.dtype == "INT32" and weight.shape == (16, 3, 3, 3)
    expected = (weight.data.astype(np.float64) - weight.quantization.zero_point[0]) * weight.quantization.scale[0]
    assert np.allclose(graph.constant(stem.inputs[1]), expected)
    # int32 biases carry their own scale, the input's times the weights'.
    assert np.allclose(graph.constant(stem.inputs[2]), bias.data * bias.quantization.scale[0])
    labels = graph.associated_files["imagenet_labels.txt"].decode().splitlines()
    assert len(labels) == 1001 and labels[0] == "background"


def test_graph_reader_keeps_custom_ops_and_constants(shared_dir):
    graph = read_graph(shared_dir / TFLITE / SSD)
    post = graph.operators[-1]
    assert post.custom and post.type == "TFLite_Detection_PostProcess"
    assert post.options["num_classes"] == 90 and post.options["max_detections"] == 10
    assert graph.constant(post.inputs[2]).shape == (1917, 4)  # the anchors
    assert graph.associated_files["labelmap.txt"].decode().splitlines()[0] == "person"


@pytest.mark.parametrize("name, model, resolution", [(V1, "mobilenet_v1_050", 160), (V2, "mobilenet_v2", 224)])
def test_coral_classifiers_are_recognised(imported, name, model, resolution):
    result = imported(name)
    assert result.model_config["name"] == model and result.model_config["resolution"] == resolution
    assert result.model_config["num_classes"] == 1001 and result.model_config["padding"] == "tf_same"
    assert result.class_names[0] == "background" and result.class_names[286] == "Egyptian cat"
    pre = result.preprocessing
    assert pre["resolution"] == resolution and pre["antialias"] is False and pre["resize_mode"] == "squash"
    assert pre["mean"] == pytest.approx([128 / 255] * 3) and pre["std"] == pytest.approx([128 / 255] * 3)


@pytest.mark.parametrize("name", [V1, V2])
@pytest.mark.parametrize("image", IMAGES)
def test_float_model_agrees_with_the_interpreter(shared_dir, imported, name, image, request):
    if (name, image) in NEAR_TIE:
        request.applymarker(pytest.mark.xfail(strict=True, reason="near tie decided by uint8 rounding"))
    result = imported(name)
    reference = _interpreter_probabilities(shared_dir / TFLITE / name, shared_dir / "data/images" / image)
    with torch.no_grad():
        ours = _model(result)(eval_transform(result.preprocessing)(open_rgb(shared_dir / "data/images" / image))[None])
    ours = ours.softmax(-1)[0].numpy()
    assert ours.argmax() == reference.argmax()
    assert abs(ours.max() - reference.max()) <= 0.05


def _round_activations(model, result) -> None:
    """Round every conv, dense and residual output to the uint8 grid of the graph tensor it stands for."""
    graph = result.graph

    def hook(tensor: int):
        q = graph.tensors[tensor].quantization
        scale, zero_point = float(q.scale[0]), float(q.zero_point[0])
        return lambda module, inputs, out: (torch.clamp(torch.round(out / scale) + zero_point, 0, 255)
                                            - zero_point) * scale
    for name, index in result.sources.items():
        model.get_submodule(name).register_forward_hook(hook(graph.operators[index].outputs[0]))
        if name.endswith(".project") and model.get_submodule(name.rsplit(".", 1)[0]).use_residual:
            add = next(op for op in graph.consumers(graph.operators[index].outputs[0]) if op.type == "ADD")
            model.get_submodule(name.rsplit(".", 1)[0]).register_forward_hook(hook(add.outputs[0]))


@pytest.mark.parametrize("name", [V1, V2])
def test_uint8_activations_explain_the_difference(shared_dir, imported, name):
    result = imported(name)
    model = _model(result)
    _round_activations(model, result)
    for image in IMAGES:
        reference = _interpreter_probabilities(shared_dir / TFLITE / name, shared_dir / "data/images" / image)
        with torch.no_grad():
            ours = model(eval_transform(result.preprocessing)(open_rgb(shared_dir / "data/images" / image))[None])
        ours = ours.softmax(-1)[0].numpy()
        assert ours.argmax() == reference.argmax(), image
        assert abs(ours.max() - reference.max()) <= 0.05, image


def test_converted_model_is_trainable_and_round_trips(imported, tmp_path):
    result = imported(V1)
    model = _model(result)
    saved = our_format.save(model, tmp_path / "v1.safetensors", result.preprocessing, result.class_names)
    reloaded, info = our_format.build(saved)
    x = torch.randn(2, 3, 160, 160, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model(x), reloaded(x))
    assert info.preprocessing == result.preprocessing and info.class_names == result.class_names
    reloaded.train()
    reloaded(x).logsumexp(-1).mean().backward()
    assert reloaded.stem.bn.bias.grad.abs().sum() > 0 and reloaded.classifier.weight.grad.abs().sum() > 0


def _edited_copy(source: Path, target: Path, edit) -> Path:
    """``source`` unpacked with the schema's object API, changed by ``edit(model)``, written back."""
    s = schema()
    model = s.ModelT.InitFromPackedBuf(source.read_bytes(), 0)
    edit(model)
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    target.write_bytes(bytes(builder.Output()))
    return target


def test_a_graph_that_differs_is_refused_at_its_first_different_op(shared_dir, tmp_path):
    def stride_one(model):
        options = model.subgraphs[0].operators[3].builtinOptions   # blocks.1.depthwise, stride 2
        options.strideH = options.strideW = 1
    path = _edited_copy(shared_dir / TFLITE / V1, tmp_path / "edited.tflite", stride_one)
    with pytest.raises(ValueError) as error:
        import_classifier(path)
    message = str(error.value)
    assert "\n" not in message and str(path) in message
    assert "op 3 (DEPTHWISE_CONV_2D)" in message and "blocks.1.depthwise" in message and "stride 2" in message


def test_a_graph_that_is_no_classifier_is_refused(shared_dir, tmp_path):
    def two_ops(model):
        graph = model.subgraphs[0]
        graph.operators = graph.operators[:2]
        graph.outputs = list(graph.operators[1].outputs)
    path = _edited_copy(shared_dir / TFLITE / V1, tmp_path / "two_ops.tflite", two_ops)
    with pytest.raises(ValueError, match="no classifier"):
        import_classifier(path)


@pytest.mark.parametrize("cut", [0.0005, 0.3, 0.9, 0.995])
def test_truncated_and_foreign_files_give_one_line_errors(shared_dir, tmp_path, cut):
    raw = (shared_dir / TFLITE / V1).read_bytes()
    path = tmp_path / "cut.tflite"
    path.write_bytes(raw[:int(len(raw) * cut)])
    with pytest.raises(ValueError) as error:
        import_classifier(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_foreign_file_is_not_tflite(tmp_path):
    path = tmp_path / "image.tflite"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(ValueError, match="is not a TensorFlow Lite file"):
        import_classifier(path)


def test_cli_convert_and_predict(shared_dir, tmp_path, capsys):
    out = tmp_path / "v2.safetensors"
    assert main(["convert", str(shared_dir / TFLITE / V2), "-o", str(out)]) == 0
    config = json.loads(out.with_suffix(".json").read_text())
    assert config["model_config"]["name"] == "mobilenet_v2" and config["preprocessing"]["antialias"] is False
    capsys.readouterr()
    cat = str(shared_dir / "data/images/cat.bmp")
    assert main(["predict", str(shared_dir / TFLITE / V2), cat, "--format", "json", "--top", "1"]) == 0
    top = json.loads(capsys.readouterr().out)["results"][0]["top"][0]
    assert top["index"] == 286 and top["class"] == "Egyptian cat" and top["probability"] > 0.7
    broken = tmp_path / "broken.tflite"
    broken.write_bytes((shared_dir / TFLITE / V2).read_bytes()[:5000])
    assert main(["predict", str(broken), cat]) == 2
    capsys.readouterr()
    from tests.weights.tflite_writer import Writer

    unsupported = create_model("mobilenet_v1_025", num_classes=10, padding="tf_same", bn_eps=1e-3)
    del unsupported.blocks[-3]   # a MobileNet-like graph that is no registered architecture
    (tmp_path / "unsupported.tflite").write_bytes(Writer(pad=True, classifier="fc").write(unsupported, 96))
    assert main(["convert", str(tmp_path / "unsupported.tflite"), "-o", str(tmp_path / "u.safetensors")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mobilenet convert: error: ")
    assert "does not match mobilenet_v1_025" in lines[0] and "no MobileNet V1-V3 classifier matches" in lines[0]
    assert not (tmp_path / "u.safetensors").exists()


def test_build_model_from_tflite_matches_the_import(shared_dir, imported):
    model = create_with_weights(weights=str(shared_dir / TFLITE / V1))
    assert model.class_names == imported(V1).class_names
    assert model.preprocessing == Preprocessing.from_dict(imported(V1).preprocessing)
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in imported(V1).state_dict.items())


# Float files written from our models (tflite_writer): V3's squeeze-excite and hard-swish, and the
# other spellings converters use; odd sizes where TF "SAME" padding is asymmetric.
WRITTEN = (
    ("mobilenet_v3_small_075", 97, dict(hswish="op", pool="mean", classifier="fc")),
    ("mobilenet_v3_large", 64, dict(hswish="decomposed", pool="avgpool", classifier="conv")),
    ("mobilenet_v2_035", 97, dict(pool="avgpool", classifier="conv")),
    ("mobilenet_v1_025", 96, dict(pad=True, classifier="fc")),
)


@pytest.mark.parametrize("name, size, spelling", WRITTEN)
def test_float_files_of_every_family_import_exactly(name, size, spelling, tmp_path):
    from tests.weights.tflite_writer import Writer
    from tests.weights.helpers import randomize_batch_norm

    torch.manual_seed(0)
    source = create_model(name, num_classes=10, padding="tf_same", bn_eps=1e-3)
    with torch.no_grad():   # the heads and SE biases start at ~0; give them weights that matter
        for module in source.modules():
            if isinstance(module, torch.nn.Linear):
                torch.nn.init.normal_(module.weight, 0, module.in_features ** -0.5)
            if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)) and module.bias is not None:
                torch.nn.init.normal_(module.bias, 0, 0.5)
    source = randomize_batch_norm(source)
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(Writer(**spelling).write(source, size))
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(size))
    with torch.no_grad():
        expected = source(x)
    interpreter = litert.Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x.permute(0, 2, 3, 1).numpy())
    interpreter.invoke()
    written = torch.from_numpy(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
    assert float(expected.std()) > 0.1 and torch.allclose(written, expected, atol=1e-4), "the writer itself"
    result = import_classifier(path)
    assert result.model_config["name"] == name and result.model_config["resolution"] == size
    assert result.class_names == [] and result.preprocessing["mean"] == [0.5] * 3   # float input: [-1, 1]
    with torch.no_grad():
        assert torch.allclose(_model(result)(x), expected, atol=1e-4)


def test_missing_extra_is_one_line_naming_the_install(shared_dir, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)   # as if ai-edge-litert were not installed
    assert main(["predict", str(shared_dir / TFLITE / V1), str(shared_dir / "data/images/cat.bmp")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "pip install 'mobilenet[tflite]'" in lines[0]
