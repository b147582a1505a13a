"""Box annotations in the formats users have, detected automatically: PASCAL VOC XML, COCO JSON,
YOLO txt with ``data.yaml`` (Ultralytics), and the CSV of TF Object Detection tutorials
(``filename,width,height,class,xmin,ymin,xmax,ymax``).

``read_annotations(path)`` returns the splits a source declares (``train``/``val``/``test`` of a
``data.yaml`` or of a folder with one COCO file per split) or one split ``all``. Every box becomes
pixels ``(x1, y1, x2, y2)`` (YOLO's normalised centres are kept normalised until the image's size
is known). Bad annotations:

- a malformed file or row (unparsable XML/txt, missing or non-numeric fields) is skipped, and an
  image that is missing is skipped;
- a box with zero area, or outside the image (after clipping to it, as boxes that reach a little
  past the border are), is skipped;
- these are counted and named in one warning per source (``Annotations.skipped``);
- an unknown class (a YOLO index beyond ``names``, a COCO ``category_id`` without a category) is
  refused with an error: dropping the box would silently teach the model that the object is
  background.
"""

from __future__ import annotations

import csv
import json
import warnings
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import yaml
from torchvision.datasets.folder import IMG_EXTENSIONS

FORMATS = ("voc", "coco", "yolo", "csv")


@dataclass(frozen=True)
class Sample:
    """One image and its boxes: ``(M, 4)`` xyxy (pixels, or [0, 1] when ``normalized``), class indices."""

    image: Path
    boxes: np.ndarray
    labels: np.ndarray
    normalized: bool = False


@dataclass
class Annotations:
    """One split of a source: its samples, class names and what was skipped (``"file: reason"``)."""

    samples: list[Sample]
    classes: list[str]
    source: str
    format: str
    skipped: list[str] = field(default_factory=list)

    def warn(self) -> None:
        """One warning naming the count and the first skipped annotations."""
        if self.skipped:
            shown = "; ".join(self.skipped[:3]) + (f"; ... ({len(self.skipped)} in all)" if len(self.skipped) > 3 else "")
            warnings.warn(f"{self.source}: skipped {len(self.skipped)} bad annotation(s): {shown}", stacklevel=3)


class _Collector:
    """Boxes of one source: checked, clipped, skipped with a reason."""

    def __init__(self, source: str, fmt: str, classes: list[str] | None = None) -> None:
        self.source, self.format = source, fmt
        self.classes: list[str] = list(classes or [])
        self.fixed = classes is not None
        self.samples: list[Sample] = []
        self.skipped: list[str] = []

    def class_index(self, name: str, where: str) -> int:
        if name not in self.classes:
            if self.fixed:
                raise ValueError(f"{where}: unknown class {name!r}; valid: {', '.join(self.classes)}")
            self.classes.append(name)
        return self.classes.index(name)

    def box(self, values: Iterable[Any], size: tuple[float, float] | None, where: str,
            normalized: bool = False) -> list[float] | None:
        """A checked xyxy box, clipped to the image (``size`` = (w, h); 1 x 1 when normalised); None: skipped."""
        try:
            x1, y1, x2, y2 = (float(v) for v in values)
        except (TypeError, ValueError):
            self.skipped.append(f"{where}: a box that is not four numbers")
            return None
        if not all(np.isfinite([x1, y1, x2, y2])):
            self.skipped.append(f"{where}: a box with a non-finite coordinate")
            return None
        if x2 <= x1 or y2 <= y1:
            self.skipped.append(f"{where}: a box of zero area ({x1:g}, {y1:g}, {x2:g}, {y2:g})")
            return None
        width, height = (1.0, 1.0) if normalized else (size or (None, None))
        if width is not None and height is not None:
            clipped = [min(max(x1, 0.0), width), min(max(y1, 0.0), height), min(max(x2, 0.0), width),
                       min(max(y2, 0.0), height)]
            if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
                self.skipped.append(f"{where}: a box outside the {width:g}x{height:g} image "
                                    f"({x1:g}, {y1:g}, {x2:g}, {y2:g})")
                return None
            return clipped
        return [x1, y1, x2, y2]

    def add(self, image: Path, boxes: list[list[float]], labels: list[int], where: str,
            normalized: bool = False) -> None:
        if not image.is_file():
            self.skipped.append(f"{where}: image {image.name} not found")
            return
        self.samples.append(Sample(image, np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
                                   np.asarray(labels, dtype=np.int64), normalized))

    def result(self) -> Annotations:
        return Annotations(self.samples, self.classes, self.source, self.format, self.skipped)


# --- PASCAL VOC -------------------------------------------------------------------------------
def _voc_folders(root: Path) -> tuple[Path, Path] | None:
    for xml_dir in (root / "Annotations", root / "annotations", root):
        if xml_dir.is_dir() and any(xml_dir.glob("*.xml")):
            for image_dir in (root / "JPEGImages", root / "images", xml_dir.parent / "images", root):
                if image_dir.is_dir():
                    return xml_dir, image_dir
    return None


def read_voc(root: Path, classes: list[str] | None = None) -> Annotations:
    """A folder of VOC XML files (``Annotations/`` or ``annotations/``) and images (``JPEGImages/``, ``images/``)."""
    found = _voc_folders(root)
    if found is None:
        raise ValueError(f"{root}: no PASCAL VOC XML files (in Annotations/, annotations/ or the folder itself)")
    xml_dir, image_dir = found
    out = _Collector(str(root), "voc", classes)
    for path in sorted(xml_dir.glob("*.xml")):
        try:
            tree = ET.parse(path).getroot()
            filename = tree.findtext("filename") or path.with_suffix(".jpg").name
            size = tree.find("size")
            dims = (float(size.findtext("width")), float(size.findtext("height"))) if size is not None else None
            if dims is not None and min(dims) <= 0:
                dims = None
            objects = [(o.findtext("name", "").strip(), o.find("bndbox")) for o in tree.iter("object")]
            if any(not name or box is None for name, box in objects):
                raise ValueError("an object without a name or bndbox")
            raw = [(name, [box.findtext(k) for k in ("xmin", "ymin", "xmax", "ymax")]) for name, box in objects]
        except (ET.ParseError, ValueError, TypeError) as error:
            out.skipped.append(f"{path.name}: malformed ({str(error).splitlines()[0][:80]})")
            continue
        boxes, labels = [], []
        for name, values in raw:
            box = out.box(values, dims, path.name)
            if box is not None:
                boxes.append(box)
                labels.append(out.class_index(name, path.name))
        out.add(image_dir / Path(filename).name, boxes, labels, path.name)
    if not classes:
        _sort_classes(out)
    return out.result()


def _sort_classes(out: _Collector) -> None:
    """Discovered class names sorted (as ImageFolder does), the labels renumbered."""
    order = sorted(out.classes)
    remap = np.asarray([order.index(c) for c in out.classes], dtype=np.int64)
    out.samples = [Sample(s.image, s.boxes, remap[s.labels] if len(s.labels) else s.labels, s.normalized)
                   for s in out.samples]
    out.classes = order


# --- CSV (TF Object Detection tutorials) ------------------------------------------------------
CSV_COLUMNS = ("filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax")


def read_csv(path: Path, classes: list[str] | None = None) -> Annotations:
    """``filename,width,height,class,xmin,ymin,xmax,ymax`` rows (pixels); images next to the file or
    in ``images/`` beside its folder."""
    out = _Collector(str(path), "csv", classes)
    with open(path, newline="") as file:
        reader = csv.DictReader(file)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: not a box CSV: missing column(s) {', '.join(missing)} (expected "
                             f"{','.join(CSV_COLUMNS)})")
        rows: dict[str, list[dict[str, str]]] = {}
        for row in reader:
            rows.setdefault(row["filename"], []).append(row)
    folders = [path.parent, path.parent / "images", path.parent.parent / "images"]
    for filename, group in rows.items():
        boxes, labels = [], []
        for n, row in enumerate(group):
            where = f"{path.name} ({filename}, row {n + 1})"
            try:
                dims = (float(row["width"]), float(row["height"]))
            except (TypeError, ValueError):
                dims = None
            box = out.box([row[k] for k in ("xmin", "ymin", "xmax", "ymax")], dims, where)
            if box is not None:
                boxes.append(box)
                labels.append(out.class_index(row["class"].strip(), where))
        image = next((f / filename for f in folders if (f / filename).is_file()), folders[0] / filename)
        out.add(image, boxes, labels, f"{path.name} ({filename})")
    if not classes:
        _sort_classes(out)
    return out.result()


# --- COCO JSON --------------------------------------------------------------------------------
def read_coco(path: Path, classes: list[str] | None = None) -> Annotations:
    """A COCO ``instances`` file: ``images``, ``annotations`` (bbox x, y, w, h), ``categories``.

    Classes are the categories in id order (Roboflow's umbrella category, the supercategory of the
    others without boxes of its own, is left out); crowd boxes (``iscrowd``) are not objects to find."""
    try:
        data = json.loads(path.read_text())
        images = {int(i["id"]): i for i in data["images"]}
        categories = sorted(data["categories"], key=lambda c: int(c["id"]))
        annotations = data.get("annotations", [])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not a readable COCO annotation file ({type(error).__name__}: "
                         f"{str(error)[:100]})") from None
    used = {int(a.get("category_id", -1)) for a in annotations if isinstance(a, dict)}
    parents = {c.get("supercategory") for c in categories}
    names = {int(c["id"]): str(c["name"]) for c in categories if int(c["id"]) in used or c["name"] not in parents}
    out = _Collector(str(path), "coco", classes if classes is not None else list(names.values()))
    per_image: dict[int, tuple[list, list]] = {i: ([], []) for i in images}
    for n, item in enumerate(annotations):
        where = f"{path.name} (annotation {item.get('id', n) if isinstance(item, dict) else n})"
        if not isinstance(item, dict) or int(item.get("image_id", -1)) not in images:
            out.skipped.append(f"{where}: no such image")
            continue
        if item.get("iscrowd"):
            continue
        category = int(item.get("category_id", -1))
        if category not in names:
            raise ValueError(f"{where}: unknown category_id {category}; the file's categories: "
                             f"{', '.join(f'{k} {v}' for k, v in names.items())}")
        image = images[int(item["image_id"])]
        bbox = item.get("bbox")
        if not isinstance(bbox, (list, tuple)) or len(bbox) != 4:
            out.skipped.append(f"{where}: a bbox that is not [x, y, width, height]")
            continue
        try:
            x, y, w, h = (float(v) for v in bbox)
            dims = (float(image["width"]), float(image["height"])) if "width" in image else None
        except (TypeError, ValueError):
            out.skipped.append(f"{where}: a bbox that is not four numbers")
            continue
        box = out.box([x, y, x + w, y + h], dims, where)
        if box is not None:
            per_image[int(item["image_id"])][0].append(box)
            per_image[int(item["image_id"])][1].append(out.class_index(names[category], where))
    folders = [path.parent, path.parent / "images", path.parent.parent / "images"]
    for image_id, (boxes, labels) in per_image.items():
        name = str(images[image_id].get("file_name", ""))
        image = next((f / name for f in folders if (f / name).is_file()), folders[0] / name)
        out.add(image, boxes, labels, f"{path.name} ({name})")
    return out.result()


# --- YOLO -------------------------------------------------------------------------------------
def _yolo_names(config: dict[str, Any], where: Path) -> list[str]:
    names = config.get("names")
    if isinstance(names, dict):
        return [str(names[k]) for k in sorted(names, key=int)]
    if isinstance(names, list):
        return [str(n) for n in names]
    if isinstance(config.get("nc"), int):
        return [str(i) for i in range(config["nc"])]
    raise ValueError(f"{where}: a data.yaml needs 'names' (a list or an index: name mapping)")


def read_yolo_split(image_dir: Path, classes: list[str], source: str) -> Annotations:
    """Images in ``.../images`` and one ``class cx cy w h`` line per box (normalised) in ``.../labels``."""
    if not image_dir.is_dir():
        raise FileNotFoundError(f"{source}: image folder {image_dir} not found")
    label_dir = _label_dir(image_dir)
    out = _Collector(source, "yolo", classes)
    for image in sorted(p for p in image_dir.rglob("*") if p.suffix.lower() in IMG_EXTENSIONS):
        label_file = label_dir / image.relative_to(image_dir).with_suffix(".txt")
        boxes, labels = [], []
        if label_file.is_file():   # no file: an image without objects (YOLO's background images)
            try:
                rows = [line.split() for line in label_file.read_text().splitlines() if line.strip()]
                if any(len(r) != 5 for r in rows):
                    raise ValueError("a line without exactly 5 fields (class cx cy w h)")
                parsed = [(int(r[0]), *(float(v) for v in r[1:])) for r in rows]
            except (OSError, ValueError, UnicodeDecodeError) as error:
                out.skipped.append(f"{label_file.name}: malformed ({str(error)[:80]})")
                continue
            for index, cx, cy, w, h in parsed:
                if not 0 <= index < len(classes):
                    raise ValueError(f"{label_file}: class index {index} is not among the {len(classes)} names "
                                     f"(0..{len(classes) - 1}: {', '.join(classes)})")
                box = out.box([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], None, label_file.name,
                              normalized=True)
                if box is not None:
                    boxes.append(box)
                    labels.append(index)
        out.add(image, boxes, labels, image.name, normalized=True)
    return out.result()


def _label_dir(image_dir: Path) -> Path:
    """YOLO's rule: the labels of ``.../images/...`` are in ``.../labels/...`` (the last ``images``)."""
    parts = list(image_dir.parts)
    if "images" not in parts:
        return image_dir
    parts[len(parts) - 1 - parts[::-1].index("images")] = "labels"
    return Path(*parts)


def _find_yaml(folder: Path) -> Path | None:
    for candidate in (folder / "data.yaml", folder.parent / "data.yaml"):
        if candidate.is_file():
            return candidate
    return None


def read_yolo(path: Path) -> dict[str, Annotations]:
    """A ``data.yaml`` (``path``, ``train``/``val``/``test``, ``names``): one split per entry."""
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not a readable YAML file ({str(error).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise ValueError(f"{path}: a data.yaml must be a mapping (path, train, val, names)")
    classes = _yolo_names(config, path)
    base = path.parent / str(config.get("path") or ".")
    splits: dict[str, Annotations] = {}
    read: dict[str, Annotations] = {}   # val and test often name the same folder: read (and warn) once
    for split in ("train", "val", "test"):
        entry = config.get(split)
        if isinstance(entry, str):
            if entry not in read:
                read[entry] = read_yolo_split(base / entry, classes, f"{path} ({entry})")
            splits[split] = read[entry]
    if not splits:
        raise ValueError(f"{path}: the data.yaml names no split (train, val or test)")
    return splits


# --- detection of the format ------------------------------------------------------------------
def _coco_files(folder: Path) -> dict[str, Path]:
    """COCO files of a folder: one per split folder (Roboflow: ``train/_annotations.coco.json``), or its own."""
    splits = {}
    for child in sorted(p for p in folder.iterdir() if p.is_dir()):
        files = sorted(child.glob("*.json"))
        if len(files) == 1:
            splits[child.name] = files[0]
    own = sorted(folder.glob("*.json")) + sorted((folder / "annotations").glob("*.json"))
    if not splits and len(own) == 1:
        splits["all"] = own[0]
    return splits


def read_annotations(path: str | Path, classes: list[str] | None = None) -> dict[str, Annotations]:
    """The splits of a labelled source (see the module docstring), each with its warnings emitted."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"detection data {str(path)!r} not found")
    if path.is_file():
        readers = {".json": lambda p: {"all": read_coco(p, classes)}, ".csv": lambda p: {"all": read_csv(p, classes)},
                   ".yaml": read_yolo, ".yml": read_yolo}
        if path.suffix.lower() not in readers:
            raise ValueError(f"{path}: unknown annotation file type {path.suffix!r}; valid: a COCO .json, a YOLO "
                             "data.yaml, a .csv of boxes, or a folder (VOC XML, COCO, YOLO)")
        splits = readers[path.suffix.lower()](path)
    elif _find_yaml(path) is not None and (path / "data.yaml").is_file():
        splits = read_yolo(path / "data.yaml")
    elif (path / "images").is_dir() and (path / "labels").is_dir():
        found = _find_yaml(path)
        if found is None:
            raise ValueError(f"{path}: a YOLO folder needs a data.yaml (here or in the parent) for its class names")
        names = _yolo_names(yaml.safe_load(found.read_text()) or {}, found)
        splits = {"all": read_yolo_split(path / "images", names, str(path))}
    elif _voc_folders(path) is not None:
        splits = {"all": read_voc(path, classes)}
    elif _coco_files(path):
        splits = {name: read_coco(file, classes) for name, file in _coco_files(path).items()}
    else:
        raise ValueError(f"{path}: no detection annotations found; expected PASCAL VOC XML files, a COCO .json, "
                         "a YOLO data.yaml with images/ and labels/, or a .csv of boxes")
    for split in {id(s): s for s in splits.values()}.values():
        split.warn()
    return splits
