"""Shared pytest fixtures for all of pausegate's tests.

``mosquitto``: a fresh mosquitto broker per test on a free 127.0.0.1 port
(``listener PORT 127.0.0.1``, ``allow_anonymous true``, ``persistence false``),
killed at teardown. The value is a ``tests.fixtures.mosquitto.Mosquitto`` with
``.host``, ``.port``, ``.url`` (``mqtt://127.0.0.1:PORT``, ready for
``mqtt.url``/``load_config``), ``.stop()``/``.kill()``/``.start()``/``.restart()``
(same port, to simulate outages) and ``.log()``.

``mosquitto_tls``: the same plus a TLS listener signed by a throwaway CA:
``.tls_url`` (``mqtts://127.0.0.1:TLS_PORT``) and ``.tls.ca`` (for ``mqtt.tls_ca``).

Tests are skipped when the binary is missing; mark such tests
``@pytest.mark.mosquitto``. Usage::

    @pytest.mark.mosquitto
    @pytest.mark.asyncio
    async def test_x(mosquitto: Mosquitto) -> None:
        async with aiomqtt.Client(mosquitto.host, mosquitto.port) as client: ...
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.mosquitto import Mosquitto, find_mosquitto, make_test_pki


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


@pytest.fixture
def mosquitto_tls(tmp_path: Path) -> Iterator[Mosquitto]:
    binary = find_mosquitto()
    if binary is None:
        pytest.skip("mosquitto is not installed")
    broker = Mosquitto(tmp_path, binary, tls=make_test_pki(tmp_path))
    broker.start()
    try:
        yield broker
    finally:
        broker.kill()
