"""Load harness: child processes (pinned, bounded, cleaned up) and their /proc readings.

Rules:
1. Every child is started by ``Children.start`` with its CPU affinity set at once
   and ends when the ``Children`` context closes: SIGTERM, then SIGKILL after 5 s.
2. ``Sampler`` reads CPU (utime + stime) and RSS of named processes once a second
   from /proc, plus pausegate's active call gauge from /metrics, in a thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from loadtest.mmsg import process_rss_bytes
from loadtest.relay_bench import cpu_seconds

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(
    os.environ,
    PYTHONPATH=f"{ROOT / 'proxy'}:{ROOT / 'codecs'}:{ROOT}",
    PYTHONUNBUFFERED="1",
)


NICE = int(os.environ.get("LOADTEST_NICE", "-19"))


def pin(pid: int, cpu: int | None) -> None:
    if cpu is not None and cpu < (os.cpu_count() or 1):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, {cpu})


def renice(pid: int) -> None:
    """Priority ``NICE`` for ``pid`` and, since with autogroup scheduling nice only
    counts inside a session's group, for its session's autogroup."""
    if NICE == 0:
        return
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, NICE)
    path = "/proc/self/autogroup" if pid == 0 else f"/proc/{pid}/autogroup"
    with contextlib.suppress(OSError), open(path, "w") as f:
        f.write(str(NICE))


def _prepare(cpu: int | None) -> None:
    """In the child before exec: its own session (and autogroup), CPU affinity and
    priority, inherited by every thread it starts."""
    if NICE != 0:
        os.setsid()
    pin(0, cpu)
    renice(0)


class Children:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> Children:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)

    def start(
        self, args: list[str], cpu: int | None, *, log: Path | None = None, stdout: bool = True
    ) -> subprocess.Popen[bytes]:
        err: IO[bytes] | int = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env=ENV,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
            stderr=err,
            preexec_fn=lambda: _prepare(cpu),
        )
        if not isinstance(err, int):
            err.close()
        self.procs.append(proc)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def read_json_line(proc: subprocess.Popen[bytes], timeout: float) -> dict[str, Any]:
    """The next JSON line on the child's stdout, bounded in time."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    buf = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            break
        chunk = os.read(fd, 1)
        if not chunk:
            break
        if chunk == b"\n":
            line = buf.strip()
            buf = b""
            if line.startswith(b"{"):
                result: dict[str, Any] = json.loads(line)
                return result
            continue
        buf += chunk
    raise RuntimeError(f"no JSON line from pid {proc.pid} within {timeout:.0f} s")


def http_get(url: str, timeout: float = 1.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return int(resp.status), resp.read().decode()
    except OSError as exc:
        code = getattr(exc, "code", 0)
        return int(code or 0), ""


def metric_values(text: str) -> dict[str, float]:
    """Prometheus text -> {"name{labels}": value} (labels as written)."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        with contextlib.suppress(ValueError):
            out[name] = float(value)
    return out


class Sampler(threading.Thread):
    """Once a second: CPU seconds and RSS of each named pid, and pausegate's calls gauge."""

    def __init__(self, pids: dict[str, int], metrics_url: str | None, period: float = 1.0) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.metrics_url = metrics_url
        self.period = period
        self.samples: list[dict[str, float]] = []
        self._stop_event = threading.Event()

    def sample(self) -> dict[str, float]:
        row: dict[str, float] = {"t": time.time()}
        with contextlib.suppress(OSError):
            tick = os.sysconf("SC_CLK_TCK")
            for line in Path("/proc/stat").read_text().splitlines()[1:]:
                if not line.startswith("cpu"):
                    break
                f = line.split()
                v = [int(x) for x in f[1:9]]
                row[f"{f[0]}_busy"] = (sum(v) - v[3] - v[4]) / tick  # all but idle, iowait
                row[f"{f[0]}_steal"] = v[7] / tick
                row[f"{f[0]}_softirq"] = (v[5] + v[6]) / tick  # irq + softirq
        for name, pid in self.pids.items():
            with contextlib.suppress(OSError, ValueError, IndexError):
                row[f"{name}_cpu"] = cpu_seconds(pid)
                row[f"{name}_rss"] = float(process_rss_bytes(pid))
        if self.metrics_url is not None:
            status, text = http_get(self.metrics_url, 0.5)
            if status == 200:
                values = metric_values(text)
                row["calls_active"] = values.get("pausegate_calls_active", float("nan"))
        return row

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.samples.append(self.sample())
            self._stop_event.wait(self.period)

    def stop(self) -> list[dict[str, float]]:
        self._stop_event.set()
        self.join(5)
        return self.samples
