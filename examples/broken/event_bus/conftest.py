from __future__ import annotations

import pytest
from broken_bus import EventBus


@pytest.fixture
async def bus():
    bus = EventBus()
    await bus.start()  # starts the hourly cleanup task...
    return bus  # ...and nothing ever stops it
