"""Errors that a user can fix (bad config, file, run folder): ``sognet`` prints them as one line.

They derive from :class:`ValueError`, so code that catches ``ValueError`` keeps working; the
command line prints ``sognet <command>: error: <message>`` for them and exits with status 1,
and keeps the traceback for everything else (genuine bugs), or for all errors with ``--debug``.
"""

from __future__ import annotations

__all__ = ["ConfigError", "RunFolderError", "SognetError"]


class SognetError(ValueError):
    """A user error; the message names the problem and its remedy."""


class ConfigError(SognetError):
    """A training configuration that cannot be used (unknown key, wrong type or value)."""


class RunFolderError(SognetError):
    """An output folder that already holds another run, or nothing to resume."""
