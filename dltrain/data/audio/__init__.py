"""WAV recordings: reading, mixing to mono, cropping and padding (soundfile)."""
