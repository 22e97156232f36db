"""Shared pytest fixtures for all of pausegate's tests.

``mosquitto``: a fresh mosquitto broker per test on a free 127.0.0.1 port
(``listener PORT 127.0.0.1``, ``allow_anonymous true``, ``persistence false``),
killed at teardown. The value is a ``tests.fixtures.mosquitto.Mosquitto`` with
``.host``, ``.port``, ``.url`` (``mqtt://127.0.0.1:PORT``, ready for
``mqtt.url``/``load_config``), ``.stop()``/``.kill()``/``.start()``/``.restart()``
(same port, to simulate outages) and ``.log()``. Tests are skipped when the
binary is missing; mark such tests ``@pytest.mark.mosquitto``. Usage::

    @pytest.mark.mosquitto
    @pytest.mark.asyncio
    async def test_x(mosquitto: Mosquitto) -> None:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client: ...
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.mosquitto import Mosquitto, find_mosquitto


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    binary = find_mosquitto()
    if binary is None:
        pytest.skip("mosquitto is not installed")
    broker = Mosquitto(tmp_path, binary)
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()
