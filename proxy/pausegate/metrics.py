"""Prometheus metrics of SPEC §6, read from plain statistics at scrape time. Operations layer.

Rules:
1. Nothing on the packet path touches prometheus_client: cores keep plain
   counters; each is adapted into a ``StatsSnapshot`` by a provider callable
   that ``PausegateCollector`` calls at scrape time.
2. Every metric is declared once in ``METRICS`` with its type, label names and
   the bounded label values pre-initialised to zero. A snapshot naming an
   undeclared metric, wrong label arity or a label value outside a closed set
   is a local bug and raises.
3. Snapshots from several providers are summed (counters, gauges, histogram
   buckets with identical bounds).
4. Label values never carry a Call-ID, agent, address or SSRC.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from prometheus_client import (
    CollectorRegistry,
    gc_collector,
    platform_collector,
    process_collector,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from pausegate.calls.settings import COUNTED_METHODS
from pausegate.control.commands import Action, Scope

LabelValues = tuple[str, ...]
T_co = TypeVar("T_co", covariant=True)


class Kind(enum.StrEnum):
    COUNTER = "counter"
    GAUGE = "gauge"
    HISTOGRAM = "histogram"


class PacketOutcome(enum.StrEnum):
    FORWARDED = "forwarded"
    SILENCED = "silenced"
    DROPPED = "dropped"
    DTMF_WITHHELD = "dtmf_withheld"
    INVALID = "invalid"
    WRONG_SOURCE = "wrong_source"


class CommandResult(enum.StrEnum):
    OK = "ok"  # accepted (whether or not it changed state)
    PENDING = "pending"  # kept for a call not known yet (gate's own count)
    DUPLICATE = "duplicate"  # an id seen before (gate's own count)
    REJECTED = "rejected"  # well-formed but refused by the gate
    INVALID = "invalid"  # bad topic or payload


class BadInput(enum.StrEnum):
    SIP = "sip"
    SDP = "sdp"
    SIPREC = "siprec"
    RTP = "rtp"
    RTCP = "rtcp"
    MQTT_PAYLOAD = "mqtt_payload"
    MQTT_TOPIC = "mqtt_topic"
    HTTP = "http"
    CONFIG = "config"


UNKNOWN = "unknown"  # scope/action of a command whose topic or payload did not parse
SIP_METHODS = (*sorted(COUNTED_METHODS), "other")  # the B2BUA counts these by name
SIP_STATUSES = ("request", "other", *(str(code) for code in range(100, 700)))

# Bucket upper bounds (seconds). Cores may use the same tuples for their plain histograms.
PAUSE_APPLY_DELAY_BUCKETS_S = (0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
FORWARD_DELAY_BUCKETS_S = (
    0.001, 0.01, 0.05, 0.1, 0.15, 0.19, 0.199, 0.2, 0.201, 0.205, 0.21, 0.25, 0.3, 0.5, 1.0,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class MetricSpec:
    name: str  # counters end in _total
    kind: Kind
    doc: str
    labels: tuple[str, ...] = ()
    closed: tuple[tuple[str, ...], ...] = ()  # allowed values per label; empty = open
    initial: tuple[LabelValues, ...] = ()  # label tuples exported as 0 before any data
    buckets: tuple[float, ...] = ()  # histograms: bounds when no provider has data


def _product(*sets: Iterable[str]) -> tuple[LabelValues, ...]:
    return tuple(itertools.product(*[tuple(s) for s in sets]))


_SCOPES = (*(s.value for s in Scope), UNKNOWN)
_ACTIONS = (*(a.value for a in Action), UNKNOWN)
_RESULTS = tuple(r.value for r in CommandResult)

METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("pausegate_calls_active", Kind.GAUGE, "Calls currently established."),
    MetricSpec("pausegate_calls_total", Kind.COUNTER, "Calls accepted since start."),
    MetricSpec("pausegate_calls_paused", Kind.GAUGE, "Calls currently paused."),
    MetricSpec(
        "pausegate_rtp_packets_total",
        Kind.COUNTER,
        "RTP packets by what the gate did with them.",
        ("outcome",),
        closed=(tuple(o.value for o in PacketOutcome),),
        initial=_product(o.value for o in PacketOutcome),
    ),
    MetricSpec(
        "pausegate_control_commands_total",
        Kind.COUNTER,
        "Control commands (MQTT and HTTP) by scope, action and result.",
        ("scope", "action", "result"),
        closed=(_SCOPES, _ACTIONS, _RESULTS),
        initial=_product(
            (s.value for s in Scope), (a.value for a in Action), (r.value for r in CommandResult)
        ),
    ),
    MetricSpec(
        "pausegate_pause_apply_delay_seconds",
        Kind.HISTOGRAM,
        "From a pause's effective time to the first withheld packet leaving.",
        buckets=PAUSE_APPLY_DELAY_BUCKETS_S,
    ),
    MetricSpec(
        "pausegate_leaked_audio_seconds_total",
        Kind.COUNTER,
        "Audio sent before a backdated pause could be applied.",
    ),
    MetricSpec(
        "pausegate_forward_delay_seconds",
        Kind.HISTOGRAM,
        "RTP packet arrival to send.",
        buckets=FORWARD_DELAY_BUCKETS_S,
    ),
    MetricSpec("pausegate_mqtt_connected", Kind.GAUGE, "1 while the MQTT session is up."),
    MetricSpec(
        "pausegate_sip_messages_total",
        Kind.COUNTER,
        "SIP messages by method and status ('request' for requests).",
        ("method", "status"),
        closed=(SIP_METHODS, SIP_STATUSES),
        initial=_product(SIP_METHODS, ("request",)),
    ),
    MetricSpec(
        "pausegate_mqtt_events_dropped_total",
        Kind.COUNTER,
        "Events dropped because the outgoing MQTT buffer was full.",
    ),
    MetricSpec(
        "pausegate_bad_input_total",
        Kind.COUNTER,
        "Malformed input from peers and publishers, counted and dropped.",
        ("kind",),
        closed=(tuple(k.value for k in BadInput),),
        initial=_product(k.value for k in BadInput),
    ),
)


def sip_method_label(method: str) -> str:
    """A bounded method label: known methods as is, anything else 'other'."""
    return method if method in SIP_METHODS else "other"


def sip_status_label(status: int | None) -> str:
    """'request' for requests, the 3-digit code for responses (100-699)."""
    if status is None:
        return "request"
    return str(status) if 100 <= status <= 699 else "other"


@dataclass(frozen=True, slots=True)
class HistogramSnapshot:
    """bounds: ascending upper bounds (no +Inf); counts: per bucket, NOT cumulative,
    len(bounds) + 1 entries, the last one for values above the last bound."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    sum: float

    def __post_init__(self) -> None:
        if len(self.counts) != len(self.bounds) + 1:
            raise ValueError("histogram needs len(bounds) + 1 bucket counts")


Series = Mapping[LabelValues, float]


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    """Plain values by metric name. An unlabelled metric may be given as a bare number."""

    counters: Mapping[str, float | Series] = field(default_factory=dict)
    gauges: Mapping[str, float | Series] = field(default_factory=dict)
    histograms: Mapping[str, HistogramSnapshot] = field(default_factory=dict)


StatsProvider = Callable[[], StatsSnapshot]


class StatisticsSource(Protocol[T_co]):
    """What every core offers: plain counters, read at scrape time."""

    def statistics(self) -> T_co: ...


class ControlStats:
    """Control-plane counters kept by the MQTT and HTTP adapters (not on the hot path)."""

    def __init__(self) -> None:
        self._commands: dict[LabelValues, float] = {}
        self._bad: dict[LabelValues, float] = {}
        self._events_dropped = 0
        self._mqtt_connected = False

    def count_command(self, scope: str, action: str, result: CommandResult) -> None:
        key = (scope, action, result.value)
        self._commands[key] = self._commands.get(key, 0) + 1

    def count_bad_input(self, kind: BadInput) -> None:
        self._bad[(kind.value,)] = self._bad.get((kind.value,), 0) + 1

    def count_events_dropped(self, n: int = 1) -> None:
        self._events_dropped += n

    def set_mqtt_connected(self, connected: bool) -> None:
        self._mqtt_connected = connected

    @property
    def mqtt_connected(self) -> bool:
        return self._mqtt_connected

    def snapshot(self) -> StatsSnapshot:
        return StatsSnapshot(
            counters={
                "pausegate_control_commands_total": dict(self._commands),
                "pausegate_bad_input_total": dict(self._bad),
                "pausegate_mqtt_events_dropped_total": self._events_dropped,
            },
            gauges={"pausegate_mqtt_connected": 1.0 if self._mqtt_connected else 0.0},
        )


class PausegateCollector(Collector):
    """Turns provider snapshots into the metric families of ``METRICS`` at scrape time."""

    def __init__(
        self, providers: Iterable[StatsProvider] = (), extra: Iterable[MetricSpec] = ()
    ) -> None:
        self._providers = list(providers)
        self._specs = {spec.name: spec for spec in (*METRICS, *extra)}

    def add_provider(self, provider: StatsProvider) -> None:
        self._providers.append(provider)

    def _check(self, spec: MetricSpec, labels: LabelValues) -> None:
        if len(labels) != len(spec.labels):
            raise ValueError(f"{spec.name}: expected labels {spec.labels}")
        for value, allowed in zip(labels, spec.closed, strict=False):
            if allowed and value not in allowed:
                raise ValueError(f"{spec.name}: label value outside its bounded set")

    def _spec(self, name: str, kind: Kind) -> MetricSpec:
        spec = self._specs.get(name)
        if spec is None or spec.kind is not kind:
            raise ValueError(f"{name}: not a declared {kind.value}")
        return spec

    def _gather(
        self,
    ) -> tuple[dict[str, dict[LabelValues, float]], dict[str, HistogramSnapshot]]:
        values: dict[str, dict[LabelValues, float]] = {
            spec.name: dict.fromkeys(spec.initial, 0.0)
            for spec in self._specs.values()
            if spec.kind is not Kind.HISTOGRAM
        }
        hists: dict[str, HistogramSnapshot] = {}
        for provider in self._providers:
            snap = provider()
            for kind, table in ((Kind.COUNTER, snap.counters), (Kind.GAUGE, snap.gauges)):
                for name, series in table.items():
                    spec = self._spec(name, kind)
                    items = series.items() if isinstance(series, Mapping) else [((), series)]
                    for labels, value in items:
                        self._check(spec, labels)
                        values[name][labels] = values[name].get(labels, 0.0) + float(value)
            for name, hist in snap.histograms.items():
                self._spec(name, Kind.HISTOGRAM)
                hists[name] = _merge(hists.get(name), hist, name)
        return values, hists

    def collect(self) -> Iterator[Metric]:
        values, hists = self._gather()
        for spec in self._specs.values():
            match spec.kind:
                case Kind.COUNTER | Kind.GAUGE:
                    cls = CounterMetricFamily if spec.kind is Kind.COUNTER else GaugeMetricFamily
                    family = cls(spec.name, spec.doc, labels=spec.labels)
                    for labels, value in sorted(values[spec.name].items()):
                        family.add_metric(list(labels), value)
                    if not spec.labels and not values[spec.name]:
                        family.add_metric([], 0.0)
                    yield family
                case Kind.HISTOGRAM:
                    hist = hists.get(spec.name) or HistogramSnapshot(
                        spec.buckets, (0,) * (len(spec.buckets) + 1), 0.0
                    )
                    histogram = HistogramMetricFamily(spec.name, spec.doc, labels=[])
                    histogram.add_metric([], _cumulative(hist), hist.sum)
                    yield histogram


def _merge(a: HistogramSnapshot | None, b: HistogramSnapshot, name: str) -> HistogramSnapshot:
    if a is None:
        return b
    if a.bounds != b.bounds:
        raise ValueError(f"{name}: providers disagree on histogram bounds")
    counts = tuple(x + y for x, y in zip(a.counts, b.counts, strict=True))
    return HistogramSnapshot(a.bounds, counts, a.sum + b.sum)


def _cumulative(hist: HistogramSnapshot) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    total = 0
    for bound, count in zip((*hist.bounds, float("inf")), hist.counts, strict=True):
        total += count
        out.append(("+Inf" if bound == float("inf") else repr(float(bound)), float(total)))
    return out


def build_registry(
    collector: PausegateCollector, *, process_metrics: bool = True
) -> CollectorRegistry:
    """A fresh registry holding ``collector`` (plus process/platform metrics if asked)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    if process_metrics:
        process_collector.ProcessCollector(registry=registry)
        platform_collector.PlatformCollector(registry=registry)
        gc_collector.GCCollector(registry=registry)
    return registry
