"""Shared by the weights tests: peers with non-trivial batch-norm statistics, logit comparison."""

from __future__ import annotations

import torch
from torch import nn

SIZES = (224, 193)  # the nominal size and an odd one, where TF "SAME" padding is asymmetric
TOLERANCE = 1e-4


def randomize_batch_norm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random BN affine terms and running statistics measured on random images.

    Measured statistics keep activations near unit scale through the whole depth (so float32
    logits are comparable at 1e-4), yet differ per channel from the 0/1 defaults, so a wrong
    key map, epsilon or padding changes the logits.
    """
    generator = torch.Generator().manual_seed(seed)
    batch_norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for module in batch_norms:
            module.weight.copy_(torch.rand(module.weight.shape, generator=generator) * 0.5 + 0.75)
            module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * 0.1)
            module.reset_running_stats()
            module.momentum = None  # cumulative average: the statistics of exactly this batch
        model.train()
        model(torch.randn(4, 3, 160, 160, generator=generator))
    return model.eval()


def max_abs_diff(first: torch.Tensor, second: torch.Tensor) -> float:
    return float((first.detach().float() - second.detach().float()).abs().max())


def assert_same_logits(ours: torch.Tensor, expected: torch.Tensor, label: str) -> float:
    """Peer logits must spread (or the test could not fail) and ours must match them within TOLERANCE."""
    ours, expected = torch.as_tensor(ours), torch.as_tensor(expected)
    assert float(expected.float().std()) > 100 * TOLERANCE, f"{label}: peer logits too flat to compare"
    diff = max_abs_diff(ours, expected)
    print(f"{label}: max abs diff {diff:.2e}")  # pytest -s shows it
    assert diff <= TOLERANCE, label
    return diff


class FileServer:
    """A local HTTP server thread serving ``data`` at ``/<name>`` (HTTP/1.0, Range requests answered
    with 206), in ``chunk``-byte pieces ``delay`` seconds apart. ``truncate_at``: announce the whole
    size but close the connection after that byte, as a dropped transfer does. ``requests`` logs the
    start offset of each GET."""

    def __init__(self, data: bytes, chunk: int = 1 << 16, delay: float = 0.0) -> None:
        import http.server
        import threading

        self.data, self.chunk, self.delay = data, chunk, delay
        self.truncate_at: int | None = None
        self.requests: list[int] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                import time

                spec = self.headers.get("Range")
                start = int(spec.split("=")[1].rstrip("-")) if spec else 0
                owner.requests.append(start)
                body = owner.data[start:]
                self.send_response(206 if start else 200)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(owner.data) - 1}/{len(owner.data)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                end = len(body) if owner.truncate_at is None else max(0, owner.truncate_at - start)
                for offset in range(0, end, owner.chunk):
                    self.wfile.write(body[offset:min(offset + owner.chunk, end)])
                    self.wfile.flush()
                    time.sleep(owner.delay)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, name: str = "weights.pth") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/{name}"

    def __enter__(self) -> "FileServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def fake_hub(monkeypatch, files: dict[tuple[str, str], bytes], hub_cache):
    """``huggingface_hub.hf_hub_download`` answered from ``files`` ({(repo_id, filename): bytes}), laid out
    like the Hub's cache (``blobs/<sha256>``, ``snapshots/<revision>/<filename>`` linking to it), without
    network. Returns the list of calls (their keyword arguments)."""
    import hashlib

    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    calls: list[dict] = []

    def download(repo_id, filename, *, revision=None, cache_dir=None, local_files_only=False, **kwargs):
        calls.append(dict(repo_id=repo_id, filename=filename, revision=revision, cache_dir=cache_dir,
                          local_files_only=local_files_only, **kwargs))
        root = (cache_dir or hub_cache) / f"models--{repo_id.replace('/', '--')}"
        link = root / "snapshots" / (revision or "main") / filename
        if link.exists():
            return str(link)
        if local_files_only or (repo_id, filename) not in files:
            raise LocalEntryNotFoundError(f"{filename} of {repo_id} is not in the local cache\n(offline)")
        data = files[(repo_id, filename)]
        blob = root / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.unlink(missing_ok=True)  # a link whose blob was removed: the Hub downloads again
        link.symlink_to(blob)
        return str(link)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", download)
    return calls
