"""``python -m dltrain``."""

from dltrain.cli import main

main()
