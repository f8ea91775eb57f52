"""Inputs for ``dltrain predict``."""
PredictionInputs = None
load_prediction_inputs = None
