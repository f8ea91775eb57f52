"""Leaves with no dltrain imports: key suggestions, unit formatting."""
