"""Subcommands added by later parts of the tool (serve, tui, bench, compare) register here."""
from __future__ import annotations


def add_parsers(sub, add_config) -> None:
    pass
