"""Retention tests read back what they wrote at once: the root `store` fixture, flushing every 10 ms."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def store_options() -> dict[str, Any]:
    return {"flush_interval": 0.01}
