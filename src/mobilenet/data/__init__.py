"""Data for training and inference: image folders, the embedded digits, transforms, samplers.

Import from the sub-modules (``mobilenet.data.folders``, ``mobilenet.data.digits``, ...); this
file stays minimal because several parts of the package add modules here.
"""
