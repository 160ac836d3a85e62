"""Shared pytest configuration for all test directories. Keep this small: fixtures belong next to
the tests that use them (the browser harness lives in tests/browser/conftest.py)."""

from __future__ import annotations

import os

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # hypothesis is in the `test` extra; tolerate running without it
    pass
else:
    # Shared 2-core CI machines stall now and then; per-example deadlines would turn that into
    # flaky failures. Locally the defaults stay.
    settings.register_profile(
        "ci", deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
    )
    if os.environ.get("CI", "").strip().lower() == "true":
        settings.load_profile("ci")
