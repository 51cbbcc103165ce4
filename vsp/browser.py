"""Debian's Chromium as the browser tests and ``scripts/screenshots.py`` launch it through Playwright.

Playwright never downloads a browser here: ``scripts/system-deps.sh`` installs Debian's.
"""

from __future__ import annotations

import shutil

# Where Debian puts it (``chromium``) or where other distributions do (``chromium-browser``); None if neither.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags for a closed network: nothing in the background tries to reach the internet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
