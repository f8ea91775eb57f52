"""The train stage: environment setup, callbacks, resume points and the fit loop."""
