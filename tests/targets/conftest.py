"""Fixtures for the targets suite.

Keeps ``tests/targets`` importable (for ``stats_helpers``) whatever pytest's import mode,
and offers a writer for user target files in ``tmp_path``.
"""

from __future__ import annotations

import os
import sys
import textwrap

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)


@pytest.fixture
def write_target(tmp_path):
    """``write_target(source, name="user_target.py") -> path``: a dedented file in tmp_path."""

    def write(source: str, name: str = "user_target.py"):
        path = tmp_path / name
        path.write_text(textwrap.dedent(source).lstrip("\n"))
        return path

    return write
