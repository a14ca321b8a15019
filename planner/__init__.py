"""mdplan: get a camera-trap image set to a MegaDetector Azure Blob container, or decide to mail a drive."""

__version__ = "0.1.0"
