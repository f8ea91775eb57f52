"""The report stage: run folder, manifest facts, plots, run listing and comparison."""
