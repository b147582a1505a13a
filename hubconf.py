"""``torch.hub`` entry points: one per registered model name, generated from the registry.

    model = torch.hub.load("path/to/mobilenet", "mobilenet_v3_large", source="local", pretrained=False,
                           num_classes=10)
    torch.hub.list("path/to/mobilenet", source="local")       # every name of mobilenet.list_models()

Each entry takes ``mobilenet.create_model``'s options. ``pretrained``: False (random weights), a
weights record or file (``"torchvision/mobilenet_v3_large.imagenet1k_v2"``, ``"model.safetensors"``:
the record's options, such as TF padding, are applied), or True when the name has exactly one record.
"""

import os as _os
import sys as _sys

# Module names torch.hub checks before it calls an entry (the package's own dependencies).
dependencies = ["torch", "torchvision", "numpy", "safetensors", "PIL", "yaml", "tqdm", "filelock"]

_SRC = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "src")
if _SRC not in _sys.path:  # a clone of the repository: the package is in src/
    _sys.path.insert(0, _SRC)

from mobilenet.models.registry import create_model as _create_model  # noqa: E402
from mobilenet.models.registry import list_models as _list_models  # noqa: E402


def _weights_for(name, pretrained):
    """The ``weights`` argument of ``create_model`` that ``pretrained`` stands for."""
    if pretrained is False or pretrained is None:
        return None
    if pretrained is not True:
        return str(pretrained)
    from mobilenet.weights import RECORDS

    records = sorted(record.name for record in RECORDS.values() if record.model == name)
    if len(records) != 1:
        choices = f"one of: {', '.join(records)}" if records else "none is known; use pretrained=False"
        raise ValueError(f"pretrained=True is ambiguous for {name!r}: pass the weights record by name, {choices}")
    return records[0]


def _entry(name):
    def entry(pretrained=False, **options):
        return _create_model(name, weights=_weights_for(name, pretrained), **options)

    entry.__name__ = entry.__qualname__ = name
    entry.__doc__ = (f"{name}: mobilenet.create_model({name!r}, **options). pretrained: False, a weights "
                     "record or file, or True when the name has exactly one record (`mobilenet weights list`).")
    return entry


globals().update({_name: _entry(_name) for _name in _list_models()})
