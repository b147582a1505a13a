"""The Hugging Face Hub: records hosted there download through ``huggingface_hub``, and our own models
go to and from the Hub in our format (``mobilenet.weights.format``).

- A record whose URL is ``https://huggingface.co/<repo>/resolve/<revision>/<file>`` (timm's) is
  fetched with ``hf_hub_download``: the Hub's cache (shared with timm and transformers), its file
  locks and progress bars. The Hub names each large file by its SHA-256 (the blob's name in the
  cache); the file is checked against it, since ``hf_hub_download`` does not.
- ``save_pretrained(model, folder)`` writes ``model.safetensors`` (weights, config, preprocessing
  and class names in its metadata) and ``config.json``; ``push_to_hub(model, repo_id)`` uploads
  that folder; ``from_pretrained(repo_id_or_folder)`` rebuilds the model from either.

Needs the ``hub`` extra for the Hub itself (``pip install 'mobilenet[hub]'``); local folders do not.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from torch import nn

from mobilenet.extras import require
from mobilenet.weights import format as ours
from mobilenet.weights.download import ENV_CACHE, cache_dir, file_digest, offline_error, place_hint, verify
from mobilenet.weights.records import WeightsRecord

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"  # the name the Hub and other tools look for
_RESOLVE = re.compile(r"https://huggingface\.co/([\w.-]+/[\w.-]+)/resolve/([^/]+)/(.+)")
_REPO_ID = re.compile(r"[\w.-]+/[\w.-]+")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def hub_location(url: str) -> tuple[str, str, str] | None:
    """``(repo_id, revision, filename)`` of a huggingface.co download URL, None for other URLs."""
    match = _RESOLVE.fullmatch(url)
    return (match.group(1), match.group(2), match.group(3)) if match else None


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text if len(text) <= 300 else text[:297] + "..."


def _hub_sha256_problem(path: Path) -> str | None:
    """None when the cached blob's content matches its name (the Hub's SHA-256 of large files)."""
    blob = path.resolve()
    if not _SHA256.fullmatch(blob.name):
        return None  # a small file kept in git: the Hub's name for it is a git hash, not checked here
    actual = file_digest(blob)
    return None if actual == blob.name else f"sha256 {actual} != the Hub's {blob.name}"


def _download(repo_id: str, filename: str, revision: str | None, cache: str | os.PathLike[str] | None,
              offline: bool) -> Path:
    """``hf_hub_download`` into ``cache`` (None: the Hub's own), then the Hub's SHA-256 checked."""
    from mobilenet import __version__

    hf = require("huggingface_hub", "downloading from the Hugging Face Hub")
    path = Path(hf.hf_hub_download(repo_id, filename, revision=revision, cache_dir=cache,
                                   local_files_only=offline, library_name="mobilenet",
                                   library_version=__version__))
    problem = _hub_sha256_problem(path)
    if problem:
        path.resolve().unlink(missing_ok=True)  # the next call downloads it again
        raise ValueError(f"the download of {filename} from {repo_id} is wrong ({problem}); it was removed "
                         "from the Hugging Face cache; retry")
    return path


def fetch_record(record: WeightsRecord, target: Path, offline: bool,
                 directory: str | os.PathLike[str] | None = None) -> Path:
    """The verified file of a record hosted on the Hub (``target``: where a hand-placed copy goes).

    The Hub's cache is its default one, or ``<cache>/huggingface`` when a cache folder is given
    (``directory`` or ``$MOBILENET_CACHE``).
    """
    location = hub_location(record.url)
    if location is None:
        raise ValueError(f"{record.url} is not a huggingface.co download URL")
    repo_id, revision, filename = location
    cache = cache_dir(directory) / "huggingface" if directory is not None or os.environ.get(ENV_CACHE) else None
    try:
        path = _download(repo_id, filename, revision, cache, offline)
    except OSError as error:  # the Hub's errors: not cached (offline), HTTP, network
        if offline:
            raise offline_error(record, target) from None
        raise FileNotFoundError(f"cannot download weights {record.name!r} from the Hugging Face Hub "
                                f"({_one_line(error)}); {place_hint(record, target)}") from None
    problem = verify(path, record)
    if problem:
        raise ValueError(f"checksum mismatch for {path} ({problem}); {place_hint(record, target)}")
    return path


def save_pretrained(model: nn.Module, folder: str | os.PathLike[str], preprocessing: dict[str, Any] | None = None,
                    class_names: list[str] | None = None) -> Path:
    """Write ``model`` to ``folder`` as ``model.safetensors`` and ``config.json`` (our format).

    Preprocessing and class names default to the model's own (set when it was loaded).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if preprocessing is None:
        preprocessing = getattr(model, "preprocessing", None)
    if class_names is None:
        class_names = list(getattr(model, "class_names", None) or [])
    path = ours.save(model, folder / WEIGHTS_NAME, preprocessing, class_names)
    os.replace(ours.config_path(path), folder / CONFIG_NAME)
    return folder


def push_to_hub(model: nn.Module, repo_id: str, *, private: bool | None = None, token: str | None = None,
                revision: str | None = None, commit_message: str = "Upload a mobilenet model",
                preprocessing: dict[str, Any] | None = None, class_names: list[str] | None = None) -> str:
    """Upload ``model`` to the Hub repository ``repo_id`` (created if needed); the commit's URL."""
    if not _REPO_ID.fullmatch(repo_id):
        raise ValueError(f"repo_id must look like 'owner/name', got {repo_id!r}")
    hf = require("huggingface_hub", "push_to_hub")
    api = hf.HfApi(token=token)
    with tempfile.TemporaryDirectory(prefix="mobilenet-push-") as folder:
        save_pretrained(model, folder, preprocessing, class_names)
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, folder_path=folder, revision=revision,
                                 commit_message=commit_message)
    return str(getattr(info, "commit_url", info))


def from_pretrained(source: str | os.PathLike[str], *, revision: str | None = None,
                    cache_dir: str | os.PathLike[str] | None = None, offline: bool | None = None) -> nn.Module:
    """The model saved by ``save_pretrained``/``push_to_hub``: a local folder or file, or a Hub repository.

    Returns it in eval mode with ``preprocessing`` and ``class_names`` set. ``offline`` (default:
    ``$MOBILENET_OFFLINE`` or ``$HF_HUB_OFFLINE``) uses only the Hub's cache.
    """
    from mobilenet.weights.download import is_offline

    path = Path(source)
    if path.is_dir():
        path = path / WEIGHTS_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{str(source)!r} has no {WEIGHTS_NAME}; save one with save_pretrained")
    elif not path.is_file():
        if not _REPO_ID.fullmatch(str(source)):
            raise FileNotFoundError(f"{str(source)!r} is neither a local folder or file nor a Hub repository "
                                    "id ('owner/name')")
        offline = is_offline("https://huggingface.co/", offline)
        try:
            path = _download(str(source), WEIGHTS_NAME, revision, cache_dir, offline)
        except OSError as error:
            state = "is not in the Hugging Face cache (offline)" if offline else "cannot be downloaded"
            raise FileNotFoundError(f"{str(source)!r} is not a local folder or file, and {WEIGHTS_NAME} of the Hub "
                                    f"repository {str(source)!r} {state} ({_one_line(error)})") from None
    model, saved = ours.build(path)
    return model
