"""From a trained model to an edge runtime: BN folding, ONNX export, INT8, latency benchmarks.

``fuse`` (inference form), ``onnx`` (validated export), ``quantize`` (onnxruntime static INT8),
``qat`` (quantization-aware fine-tuning), ``bench`` (latency), ``fit`` (pick a model for a budget).
Heavy dependencies (onnx, onnxruntime) are imported by the submodules, not here.
"""
