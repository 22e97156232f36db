"""Reference recorder RTP sink: WAV + sidecar per stream, metadata per call (SPEC §7). Adapter.

Rules:
1. Each stream binds an even/odd pair (RTP, RTCP) from the sink's port range; RTP goes
   to a ``Track`` (placement by RTP timestamp, see ``pausegate.recorder.track``), RTCP
   is counted. Arrival times are epoch ms taken from one (wall, monotonic) pair, so
   they never jump with the wall clock.
2. Everything is kept in memory and written at ``close_call``:
   ``out_dir/<call>/<label>.wav``, ``<label>.json`` (the sidecar),
   ``metadata.json`` (SDP offer, start/end times, streams) and ``metadata.xml`` (the
   SIPREC metadata as received, when there was any). Names are made filesystem-safe.
3. Bad packets are counted in the sidecar and dropped; nothing raises out of a receive.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pausegate.io.udp import address_family, bind_udp_pair
from pausegate.recorder.track import Track
from pausegate.rtp.ports import PortAllocator
from pausegate_codecs.registry import Codec

SINK_PORT_QUARANTINE_S = 2.0
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_name(text: str) -> str:
    """A file or directory name for ``text``: [A-Za-z0-9._-] only, no leading dot."""
    name = _UNSAFE.sub("_", text)[:120]
    if not name or name.startswith("."):
        name = "_" + name
    return name


class _SinkProtocol(asyncio.DatagramProtocol):
    def __init__(self, stream: SinkStream, rtcp: bool) -> None:
        self._stream = stream
        self._rtcp = rtcp

    def datagram_received(self, data: bytes, addr: Any) -> None:
        track = self._stream.track
        if self._rtcp:
            track.rtcp_packets += 1
        else:
            track.receive(data, self._stream.sink.now_ms())


def _factory(proto: asyncio.DatagramProtocol) -> Callable[[], asyncio.DatagramProtocol]:
    return lambda: proto


class SinkStream:
    """One recorded stream: where the recorder's answer tells pausegate to send it."""

    def __init__(self, sink: RecordingSink, call_id: str, label: str, track: Track) -> None:
        self.sink = sink
        self.call_id = call_id
        self.label = label
        self.track = track
        self.rtp_port = 0
        self.rtcp_port = 0
        self.transports: list[asyncio.DatagramTransport] = []

    @property
    def packets(self) -> int:
        return self.track.packets


@dataclass
class _Call:
    streams: list[SinkStream] = field(default_factory=list)
    started_at: float | None = None
    sdp_offer: str | None = None
    metadata_xml: bytes | None = None


class RecordingSink:
    """All streams the reference recorder is receiving."""

    def __init__(
        self,
        out_dir: Path,
        bind_host: str,
        ports: tuple[int, int],
        *,
        quarantine_s: float = SINK_PORT_QUARANTINE_S,
    ) -> None:
        self.out_dir = out_dir
        self.bind_host = bind_host
        self._family = address_family(bind_host)
        self._ports = PortAllocator(ports[0], ports[1], quarantine_s)
        self._calls: dict[str, _Call] = {}

    def now_ms(self) -> float:
        """Epoch ms from the system clock, the clock callers stamp their sends with: a
        monotonic-derived wall time drifts from it whenever the system clock is slewed
        (seen on this VM: 20 ms in 4 s), which would skew every send-to-record delay."""
        return time.time() * 1000.0

    async def open_stream(
        self, call_id: str, label: str, codecs: Mapping[int, Codec]
    ) -> SinkStream:
        """Bind an RTP/RTCP pair for one stream; raises ResourceExhausted."""
        loop = asyncio.get_running_loop()
        call = self._calls.setdefault(call_id, _Call())
        if call.started_at is None:
            call.started_at = self.now_ms()
        stream = SinkStream(self, call_id, label, Track(label, codecs))
        port, rtp_sock, rtcp_sock = bind_udp_pair(
            self._ports, self._family, self.bind_host, time.monotonic()
        )
        stream.rtp_port, stream.rtcp_port = port, port + 1
        try:
            for sock, rtcp in ((rtp_sock, False), (rtcp_sock, True)):
                proto = _SinkProtocol(stream, rtcp)
                transport, _ = await loop.create_datagram_endpoint(_factory(proto), sock=sock)
                stream.transports.append(transport)
        except BaseException:
            for t in stream.transports:
                t.close()
            for sock in (rtp_sock, rtcp_sock)[len(stream.transports) :]:
                sock.close()
            self._ports.release(port, time.monotonic())
            raise
        call.streams.append(stream)
        return stream

    def set_metadata(self, call_id: str, sdp_offer: str, metadata_xml: bytes | None) -> None:
        """The call's SDP offer and SIPREC metadata (before or after its streams open)."""
        call = self._calls.setdefault(call_id, _Call())
        call.sdp_offer = sdp_offer
        call.metadata_xml = metadata_xml

    def close_call(self, call_id: str) -> Path:
        """Stop receiving and write the call's files; return its directory."""
        call = self._calls.pop(call_id, None) or _Call()
        now = time.monotonic()
        for stream in call.streams:
            for t in stream.transports:
                t.close()
            self._ports.release(stream.rtp_port, now)
        call_dir = self._unique(self.out_dir / safe_name(call_id))
        call_dir.mkdir(parents=True)
        streams: list[dict[str, Any]] = []
        used: set[str] = set()
        for stream in call.streams:
            base = safe_name(stream.label)
            name, n = base, 1
            while name in used:
                n += 1
                name = f"{base}-{n}"
            used.add(name)
            (call_dir / f"{name}.wav").write_bytes(stream.track.wav_bytes())
            sidecar = stream.track.sidecar()
            (call_dir / f"{name}.json").write_text(json.dumps(sidecar, indent=1))
            streams.append({"label": stream.label, "wav": f"{name}.wav", "sidecar": f"{name}.json"})
        if call.metadata_xml is not None:
            (call_dir / "metadata.xml").write_bytes(call.metadata_xml)
        meta = {
            "call_id": call_id,
            "started_at": call.started_at,
            "ended_at": self.now_ms(),
            "sdp_offer": call.sdp_offer,
            "metadata_xml": "metadata.xml" if call.metadata_xml is not None else None,
            "streams": streams,
        }
        (call_dir / "metadata.json").write_text(json.dumps(meta, indent=1))
        return call_dir

    async def close(self) -> None:
        """Finalise every open call."""
        for call_id in list(self._calls):
            self.close_call(call_id)
        await asyncio.sleep(0)  # let the transports close their sockets

    @staticmethod
    def _unique(path: Path) -> Path:
        candidate, n = path, 1
        while candidate.exists():
            n += 1
            candidate = path.with_name(f"{path.name}-{n}")
        return candidate
