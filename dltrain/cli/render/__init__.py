"""Terminal rendering: run results, live progress, tune tables, export tables.

Only :mod:`dltrain.cli` prints; library code reports through progress-sink Protocols whose
null sinks live beside them (``dltrain.train.sink``, ``dltrain.tune.sink``).
"""
