"""HTTP port: metrics, health, readiness and the control API (SPEC §6). Adapter, aiohttp.

Rules:
1. One port: ``GET /metrics`` (Prometheus text of the injected registry),
   ``GET /healthz`` (200 "ok" while the loop runs), ``GET /readyz`` (200 "ready",
   or 503 with the reason from the readiness callable).
2. Control API, behind ``Authorization: Bearer <http.token>`` when a token is
   configured (constant-time compare; 401 otherwise):
   ``POST /v1/calls/{call_key}/pause|resume`` and, beyond SPEC,
   ``POST /v1/agents/{agent_id}/pause|resume``, with an optional JSON body of the
   MQTT command fields (``at``, ``id``, ``reason``, ``source``, ``behaviour``);
   the reply body is the MQTT 5 reply ``{"ok", "paused", "effective_at", "error"}``
   with 200 (ok), 400 (malformed) or 409 (refused by the gate).
   ``GET /v1/calls`` → ``{"calls": [...]}``; ``GET /v1/calls/{call_key}`` → the call or 404.
3. The adapter decides nothing: validation is ``parse_command``; the decision and the
   events are the ``ControlApi`` implementer's (the root publishes the events).
4. Bad requests, unauthorised ones included, are counted
   (``bad_input_total{kind="http"}``) and answered; the body and any credential are
   never logged.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from pausegate.control.audit import AuditLog, command_record
from pausegate.control.commands import Action, Command, Scope, parse_command
from pausegate.control.events import reply_object
from pausegate.errors import CommandError, ConfigError
from pausegate.gate.events import CommandOutcome
from pausegate.metrics import UNKNOWN, BadInput, CommandResult, ControlStats

log = logging.getLogger(__name__)

Address = tuple[str, int]
Readiness = Callable[[], tuple[bool, str]]
MAX_BODY_BYTES = 8192


class ControlApi(Protocol):
    """What the root offers the HTTP control API (it stamps now/wall_ms and publishes events)."""

    def apply(self, scope: Scope, key: str, cmd: Command) -> CommandOutcome: ...

    def list_calls(self) -> list[dict[str, object]]: ...

    def get_call(self, key: str) -> dict[str, object] | None: ...


class _PeerErrorFilter(logging.Filter):
    """aiohttp logs an unparseable request with its offending bytes (header lines, body
    excerpts, a token); keep the fact, count it, drop the content (rule 4)."""

    def __init__(self, stats: ControlStats) -> None:
        super().__init__()
        self._stats = stats

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError):
            self._stats.count_bad_input(BadInput.HTTP)
            record.msg = "malformed HTTP request answered %d (%s)"
            record.args = (exc.code, type(exc).__name__)
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
            return True
        # The peer logger passes DEBUG so that aiohttp's debug-level report of a bad
        # request line reaches this filter; anything else keeps the module's level.
        return log.isEnabledFor(record.levelno)


def _json(obj: object, status: int = 200) -> web.Response:
    return web.json_response(obj, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False))


class HttpServer:
    """aiohttp server on one port; ``port`` is the bound port after ``start()`` (0 = any free)."""

    def __init__(
        self,
        listen: Address,
        registry: CollectorRegistry,
        readiness: Readiness,
        control: ControlApi | None = None,
        *,
        token: str | None = None,
        stats: ControlStats | None = None,
        audit: AuditLog | None = None,
    ) -> None:
        self._listen = listen
        self._registry = registry
        self._readiness = readiness
        self._control = control
        self._token = token.encode() if token else None
        self._stats = stats if stats is not None else ControlStats()
        self._audit = audit
        self._runner: web.AppRunner | None = None
        self.port = listen[1]

    def _app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        app.router.add_get("/v1/calls", self._list_calls)
        app.router.add_post(r"/v1/calls/{key:.+}/{action:pause|resume}", self._call_command)
        app.router.add_post(r"/v1/agents/{key:.+}/{action:pause|resume}", self._agent_command)
        app.router.add_get(r"/v1/calls/{key:.+}", self._get_call)
        return app

    async def start(self) -> None:
        # One unregistered logger per server (its filter counts into this server's stats),
        # propagating to this module's logger and so to the configured handlers.
        peer_log = logging.Logger(f"{__name__}.peer")
        peer_log.parent = log
        peer_log.setLevel(logging.DEBUG)
        peer_log.addFilter(_PeerErrorFilter(self._stats))
        runner = web.AppRunner(self._app(), access_log=None, handle_signals=False, logger=peer_log)
        await runner.setup()
        site = web.TCPSite(runner, self._listen[0], self._listen[1], reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            # Start-up stops with a message naming the key, not a traceback (SPEC §7).
            host, port = self._listen
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise ConfigError(f"http.listen: cannot listen on {host}:{port} ({reason})") from None
        self._runner = runner
        for address in runner.addresses:
            self.port = int(address[1])
            break
        log.info("http listening", extra={"port": self.port})

    async def stop(self) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    # --- operations --------------------------------------------------------------

    async def _metrics(self, request: web.Request) -> web.Response:
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        ready, reason = self._readiness()
        if ready:
            return web.Response(text="ready\n")
        return web.Response(status=503, text=f"not ready: {reason}\n")

    # --- control API -------------------------------------------------------------

    def _authorised(self, request: web.Request) -> bool:
        if self._token is None:
            return True
        header = request.headers.get("Authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(presented.strip().encode(), self._token)

    def _guard(self, request: web.Request) -> web.Response | None:
        if not self._authorised(request):
            # Counted like any bad input; the presented credential is never logged.
            self._stats.count_bad_input(BadInput.HTTP)
            log.info("http control request without the bearer token", extra={"path": request.path})
            return web.json_response(
                {"error": "missing or wrong bearer token"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="pausegate"'},
            )
        if self._control is None:
            return _json({"error": "control API not available"}, 503)
        return None

    async def _list_calls(self, request: web.Request) -> web.Response:
        denied = self._guard(request)
        if denied is not None:
            return denied
        assert self._control is not None
        return _json({"calls": self._control.list_calls()})

    async def _get_call(self, request: web.Request) -> web.Response:
        denied = self._guard(request)
        if denied is not None:
            return denied
        assert self._control is not None
        call = self._control.get_call(request.match_info["key"])
        if call is None:
            return _json({"error": "no such call"}, 404)
        return _json(call)

    async def _call_command(self, request: web.Request) -> web.Response:
        return await self._command(request, Scope.CALL)

    async def _agent_command(self, request: web.Request) -> web.Response:
        return await self._command(request, Scope.AGENT)

    async def _read_command(self, request: web.Request, action: Action) -> Command:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise CommandError(f"request body is larger than {MAX_BODY_BYTES} bytes") from None
        fields: object = {}
        if raw.strip():
            try:
                fields = json.loads(raw)
            except (ValueError, RecursionError):
                raise CommandError("request body is not valid JSON") from None
        if not isinstance(fields, dict):
            raise CommandError("request body is not a JSON object")
        if fields.get("action", action.value) != action.value:
            raise CommandError("command field 'action' contradicts the URL")
        return parse_command(json.dumps({**fields, "action": action.value}))

    async def _command(self, request: web.Request, scope: Scope) -> web.Response:
        denied = self._guard(request)
        if denied is not None:
            return denied
        assert self._control is not None
        key = request.match_info["key"]
        action = Action(request.match_info["action"])
        received_at_ms = time.time() * 1000
        cmd: Command | None = None
        try:
            cmd = await self._read_command(request, action)
        except CommandError as exc:
            self._stats.count_bad_input(BadInput.HTTP)
            self._stats.count_command(scope.value, UNKNOWN, CommandResult.INVALID)
            outcome = CommandOutcome(False, None, None, str(exc))
            log.info("http command rejected", extra={"scope": scope.value, "error": str(exc)})
            self._audit_command(request, scope, key, None, outcome, received_at_ms)
            return _json(reply_object(outcome), 400)
        outcome = self._control.apply(scope, key, cmd)
        result = CommandResult.OK if outcome.ok else CommandResult.REJECTED
        self._stats.count_command(scope.value, action.value, result)
        self._audit_command(request, scope, key, cmd, outcome, received_at_ms)
        return _json(reply_object(outcome), 200 if outcome.ok else 409)

    def _audit_command(
        self,
        request: web.Request,
        scope: Scope,
        key: str,
        cmd: Command | None,
        outcome: CommandOutcome,
        received_at_ms: float,
    ) -> None:
        if self._audit is None:
            return
        who: Mapping[str, str] = {
            "auth": "http.token" if self._token is not None else "none",
            "peer": request.remote or "",
        }
        self._audit.append(
            command_record(
                channel="http",
                scope=scope,
                key=key,
                cmd=cmd,
                outcome=outcome,
                received_at_ms=received_at_ms,
                who=who,
            )
        )
