"""``torch.hub`` entry points: one per registered model name, generated from the registry.

    model = torch.hub.load("path/to/mobilenet", "mobilenet_v3_large", source="local", pretrained=False,
                           num_classes=10)
    torch.hub.list("path/to/mobilenet", source="local")       # every name of mobilenet.list_models()

Each entry takes ``mobilenet.create_model``'s options. ``pretrained``: False (random weights), a
weights record or file (``"torchvision/mobilenet_v3_large.imagenet1k_v2"``, ``"model.safetensors"``:
the record's options, such as TF padding, are applied), or True for the name's default record.
"""

import os as _os
import sys as _sys

# Module names torch.hub checks before it calls an entry (the package's own dependencies).
dependencies = ["torch", "torchvision", "numpy", "safetensors", "PIL", "yaml", "tqdm", "filelock"]

_SRC = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "src")
if _SRC not in _sys.path:  # a clone of the repository: the package is in src/
    _sys.path.insert(0, _SRC)

from mobilenet import create_model as _create_model  # noqa: E402
from mobilenet.models.registry import list_models as _list_models  # noqa: E402


def _entry(name):
    def entry(pretrained=False, **options):
        if pretrained is True:  # the name's default record, as mobilenet.create_model(pretrained=True)
            return _create_model(name, pretrained=True, **options)
        return _create_model(name, weights=str(pretrained) if pretrained else None, **options)

    entry.__name__ = entry.__qualname__ = name
    entry.__doc__ = (f"{name}: mobilenet.create_model({name!r}, **options). pretrained: False, a weights "
                     "record or file, or True for the name's default record (`mobilenet weights list`).")
    return entry


globals().update({_name: _entry(_name) for _name in _list_models()})
