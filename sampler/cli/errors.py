"""The one error type of the command line: one line on stderr, then exit with its status."""

from __future__ import annotations


class CLIError(Exception):
    """Bad input or an unusable environment: one line on stderr and exit ``status``."""

    def __init__(self, message: str, status: int = 2, kind: str = "error"):
        super().__init__(" ".join(str(message).split()))  # always one line
        self.status = status
        self.kind = kind  # the word after "mdhmc: " ("error", or "interrupted" for Ctrl-C)


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (its type name when it has none)."""
    return " ".join(str(exc).split()) or type(exc).__name__
