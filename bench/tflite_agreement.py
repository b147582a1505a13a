"""Our float models imported from .tflite classifiers vs the LiteRT interpreter on the original files.

For every image, the interpreter gets the image resized TF-style (bilinear, half-pixel centres, no
antialiasing, rounded to uint8); our model gets the same pixels through its recorded preprocessing
(``antialias: false``), and, to show what PIL's antialiased resize would change, PIL-resized pixels.
Prints one Markdown row per image and a summary per file.

Run: ``.venv/bin/python bench/tflite_agreement.py [FILE.tflite ...] [--images DIR]``
(default: the Coral V1-0.5/160 and V2-1.0/224 files and the photos in ../shared/data).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from mobilenet.data.images import open_rgb
from mobilenet.data.preprocessing import Preprocessing, eval_transform, resize_like_tf
from mobilenet import create_model

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
DEFAULT = [SHARED / "pretrained/tflite/coral_mobilenet_v1_0.5_160_quant.tflite",
           SHARED / "pretrained/tflite/coral_mobilenet_v2_1.0_224_quant.tflite"]


def interpreter_probabilities(path: Path, image: Path) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    source, target = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    size = int(source["shape"][1])
    interpreter.set_tensor(source["index"], np.asarray(resize_like_tf(open_rgb(image), (size, size), "bilinear"))[None])
    interpreter.invoke()
    out = interpreter.get_tensor(target["index"])[0].astype(np.float32)
    scale, zero_point = target["quantization"]
    return (out - zero_point) * scale if scale else out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="*", type=Path, default=DEFAULT)
    parser.add_argument("--images", type=Path, default=SHARED / "images")
    args = parser.parse_args()
    torch.set_num_threads(1)
    images = sorted(p for p in args.images.iterdir() if p.suffix.lower() in (".bmp", ".jpg", ".jpeg", ".png"))
    print("| file | image | LiteRT uint8 top-1 | ours (same pixels) | diff | ours, PIL resize |")
    print("|---|---|---|---|---|---|")
    for path in args.files:
        model = create_model(weights=str(path))
        agree, agree_pil, worst = 0, 0, 0.0
        for image in images:
            reference = interpreter_probabilities(path, image)
            with torch.no_grad():
                ours = model(eval_transform(model.preprocessing)(open_rgb(image))[None]).softmax(-1)[0].numpy()
                pil = model(eval_transform({**model.preprocessing.to_dict(), "antialias": True})(open_rgb(image))[None])
            pil = pil.softmax(-1)[0].numpy()
            diff = abs(float(ours.max() - reference.max()))
            agree += int(ours.argmax() == reference.argmax())
            agree_pil += int(pil.argmax() == reference.argmax())
            worst = max(worst, diff)
            print(f"| {path.name} | {image.name} | {reference.argmax()} {reference.max():.3f} | "
                  f"{ours.argmax()} {ours.max():.3f} | {diff:.3f} | {pil.argmax()} {pil.max():.3f} |")
        print(f"\n{path.name} ({model.config.name} at {model.resolution}): top-1 agrees on {agree}/{len(images)}, "
              f"largest top-1 probability difference {worst:.3f}; with PIL's resize {agree_pil}/{len(images)}\n")


if __name__ == "__main__":
    main()
