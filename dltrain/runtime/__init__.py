"""Process-wide settings the CLI and the API enter and leave: quiet output, the XLA cache."""
