"""``dltrain explain``'s computations: which inputs a trained model relies on, and checks that
the answer is about the model.

Small modules, one idea each: :mod:`~dltrain.explain.permutation` (raw CSV columns shuffled,
NumPy only), :mod:`~dltrain.explain.gradients` (integrated gradients, saliency and their
completeness, ``tf.GradientTape``), :mod:`~dltrain.explain.gradcam`,
:mod:`~dltrain.explain.text` (per-token integrated gradients through the embedding),
:mod:`~dltrain.explain.sanity` (the randomized-model check), :mod:`~dltrain.explain.figures`
(PNG and HTML), :mod:`~dltrain.explain.record` (``explain.json``). TensorFlow is imported
inside the modules that need it, never here; the engine verb is
:mod:`dltrain.engine.explain`.
"""
