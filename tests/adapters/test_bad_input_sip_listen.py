"""Adapter test: a SIP listen address already in use stops start-up with a message naming
sip.listen (ConfigError, printed by the CLI), not an OSError traceback."""

from __future__ import annotations

import socket

import pytest
from tests.fixtures.sip.peers import HOST, FakeHooks

from pausegate.calls.b2bua import B2buaSettings
from pausegate.errors import ConfigError
from pausegate.io.sip_service import SipService


@pytest.mark.asyncio
async def test_listen_address_in_use_names_the_key() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind((HOST, 0))
        port = taken.getsockname()[1]
        settings = B2buaSettings(
            listen=(HOST, port),
            advertise=HOST,
            recorder_uri=f"sip:rec@{HOST}:9",
            agent_header=None,
            key_header=None,
            agent_aor_pattern=None,
            max_calls=1,
        )
        svc = SipService(settings, FakeHooks())
        with pytest.raises(ConfigError, match=rf"^sip\.listen: cannot listen on {HOST}:{port} "):
            await svc.start()
        await svc.stop()
