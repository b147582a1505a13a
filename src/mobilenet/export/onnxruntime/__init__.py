"""What is specific to onnxruntime's CPU kernels: static INT8 in QDQ format (``quantize``), the
model's INT8 form that those kernels run fast (``int8_form``: depthwise widths padded to 16 by
``pad``, integer hard-swish), and quantization-aware fine-tuning with observers placed where
this QDQ graph quantizes (``qat``)."""
