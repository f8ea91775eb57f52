"""The version of dltrain (a leaf: the manifest records it without importing the package)."""

__version__ = "0.1.0"
