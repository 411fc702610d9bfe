"""Fixtures for the dashboard suite: user target files, a `panel serve` subprocess, Chromium.

The browser tests (``@pytest.mark.browser``) start ``panel serve dashboard/app.py --warm``
once per test session on a free port (kernels for scorpio and funnel compiled before it
listens) and drive it with Playwright in Debian's Chromium. They are skipped when Chromium
or Playwright is missing. Screenshots and the server log go to ``test-artifacts/``.
"""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from dashboard_helpers import (ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, browser_available, start_server,  # noqa: E402
                               stop_server, write_target_files)


@pytest.fixture(scope="session")
def target_files(tmp_path_factory):
    return write_target_files(tmp_path_factory.mktemp("dashboard-targets"))


@pytest.fixture(scope="session")
def dashboard_server(target_files):
    if not browser_available():
        pytest.skip("needs playwright and Chromium (/usr/bin/chromium)")
    server = start_server(ARTIFACTS / "dashboard-server.log", target_files)
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def browser():
    if not browser_available():
        pytest.skip("needs playwright and Chromium (/usr/bin/chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()
