"""One module per CLI verb: run, evaluate, predict, check, launch."""
