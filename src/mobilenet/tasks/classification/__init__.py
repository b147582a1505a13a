"""Image classification: data, transforms, metrics and plots of the classification task."""
