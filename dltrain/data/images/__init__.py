"""Image files: decoding, colour modes and resizing (Pillow)."""
