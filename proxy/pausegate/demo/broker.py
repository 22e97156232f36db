"""Demo adapter: an embedded MQTT 3.1.1 broker (amqtt) on a free loopback port (SPEC §7 demo)."""

from __future__ import annotations

import logging
from typing import Any

from amqtt.broker import Broker

_QUIET_LOGGERS = ("amqtt", "transitions")


class EmbeddedBroker:
    """An amqtt broker bound to ``host`` on a port the OS picks; speaks MQTT 3.1.1 only.

    Anonymous access, no $SYS topics, no packet logging: it exists for one demo run.
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self._host = host
        self._broker: Any = None
        self._port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("embedded broker is not started")
        return self._port

    @property
    def url(self) -> str:
        """The ``mqtt.url`` pausegate and the demo's clients connect to."""
        return f"mqtt://{self._host}:{self.port}"

    async def start(self) -> None:
        for name in _QUIET_LOGGERS:
            logging.getLogger(name).setLevel(logging.WARNING)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self._host}:0"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        broker = Broker(config)
        await broker.start()
        self._broker = broker
        # amqtt has no public accessor for a listener's bound address; its Server
        # wraps the asyncio.Server it started, which knows the port the OS chose.
        server = broker._servers["default"].instance
        self._port = int(server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        broker, self._broker = self._broker, None
        self._port = None
        if broker is None:
            return
        # amqtt logs the cancellation of its own broadcast task at ERROR on every
        # shutdown; that is not an error of the demo, so it is not shown.
        log = logging.getLogger("amqtt.broker")
        level = log.level
        log.setLevel(logging.CRITICAL)
        try:
            await broker.shutdown()
        finally:
            log.setLevel(level)
