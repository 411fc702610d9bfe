"""Fixtures for the CLI suite: the ``mdhmc`` command in subprocesses, run concurrently.

Each ``mdhmc`` process pays a few seconds of imports and numba compilation, so every
command the suite needs is submitted to a small thread pool when the session starts
(``MDHMC_TEST_JOBS`` workers, default 3) and each test waits for its own result.
"""

from __future__ import annotations

import os
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:  # keep cli_helpers importable whatever pytest's import mode
    sys.path.insert(0, _HERE)

from cli_helpers import PRESETS, STUB_APP, TARGET_FILES  # noqa: E402


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    """A folder with the target files, presets and stub app above."""
    d = tmp_path_factory.mktemp("cli")
    for name, text in {**TARGET_FILES, **PRESETS, "stub_app.py": STUB_APP}.items():
        (d / name).write_text(textwrap.dedent(text).lstrip("\n"))
    (d / "a-directory.npz").mkdir()
    return d


@pytest.fixture(scope="session")
def pool():
    ex = ThreadPoolExecutor(max_workers=int(os.environ.get("MDHMC_TEST_JOBS", "3")))
    yield ex
    ex.shutdown(wait=True, cancel_futures=True)
