"""A small OpenADR 3 VTN for development and tests (aiohttp, listens on 127.0.0.1 by default).

It serves the OpenADR 3.0.1 specification's REST shapes a VEN uses:

- `POST /auth/token`: OAuth2 client credentials (form `grant_type=client_credentials`,
  `client_id`, `client_secret`) → `{"access_token", "token_type": "Bearer", "expires_in"}`;
  unknown credentials → 400 `{"error": "invalid_client"}`;
- `GET /programs`, `GET /events` (`programID`, `targetType`, `targetValues`, `skip`, `limit`):
  objects without `targets` are shown to every VEN, objects with targets only when the query's
  target matches one of them (as a VTN keeps targeted objects private);
- `POST /reports` (201 with the stored report) and `GET /reports`.

Every request but the token needs `Authorization: Bearer <token>` (403 otherwise). Programs and
events get the VTN's fields (`id`, `createdDateTime`, `modificationDateTime`, `objectType`).

For tests: `add_program`, `add_event`, `remove_event`, `reports`, `token_requests`, and
`failure` ("down": 503 for everything; "garbage": 200 with a body that is not JSON). From the
command line it serves a demo program with tomorrow's hourly prices (and an import limit
tonight) and prints the reports it receives:

    python -m simulator.openadr_vtn --port 8081 --client-id ven --client-secret secret --demo
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterable, Mapping, Sequence
import contextlib
from datetime import UTC, datetime, timedelta
import itertools
import json
import logging
import secrets
from typing import Any

from aiohttp import web

_LOGGER = logging.getLogger(__name__)

TOKEN_LIFETIME_S = 3600


def _now_text() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _matches(targets: Any, target_type: str | None, target_values: Sequence[str]) -> bool:
    """Untargeted objects match every query; targeted ones a query naming one of their targets."""
    if not targets:
        return True
    if target_type is None:
        return False
    return any(
        isinstance(t, Mapping)
        and t.get("type") == target_type
        and any(v in (t.get("values") or []) for v in target_values)
        for t in targets
    )


class OpenAdrVtn:
    """The VTN: programs, events and reports in memory; start, stop and start again."""

    def __init__(self, clients: Mapping[str, str] | None = None) -> None:
        self.clients = dict(clients or {})
        """client id → secret; empty: no token needed (a public tariff VTN)."""
        self.programs: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.reports: list[dict[str, Any]] = []
        self.token_requests = 0
        self.failure: str | None = None
        """None, "down" (503 everywhere) or "garbage" (200, not JSON)."""
        self._tokens: set[str] = set()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.host = "127.0.0.1"
        self.port = 0

    @property
    def url(self) -> str:
        """The base URL a VEN is configured with."""
        return f"http://{self.host}:{self.port}"

    # --- content ---------------------------------------------------------------------------

    def _stamp(self, obj: Mapping[str, Any], object_type: str) -> dict[str, Any]:
        now = _now_text()
        return {
            "id": str(obj.get("id") or f"{object_type.lower()}-{next(self._ids)}"),
            "createdDateTime": now,
            "modificationDateTime": now,
            "objectType": object_type,
            **{k: v for k, v in obj.items() if k != "id"},
        }

    def add_program(self, program_name: str, **fields: Any) -> dict[str, Any]:
        """A program (fields as in the specification: payloadDescriptors, targets...)."""
        program = self._stamp({"programName": program_name, **fields}, "PROGRAM")
        self.programs.append(program)
        return program

    def add_event(
        self,
        program: Mapping[str, Any],
        intervals: Iterable[Mapping[str, Any]],
        **fields: Any,
    ) -> dict[str, Any]:
        """An event of `program` (fields: intervalPeriod, payloadDescriptors, targets...)."""
        event = self._stamp(
            {"programID": program["id"], "intervals": list(intervals), **fields}, "EVENT"
        )
        self.events.append(event)
        return event

    def load(self, content: Mapping[str, Any]) -> None:
        """Programs and events as a VTN stores them: `{"programs": [...], "events": [...]}`."""
        self.programs += [self._stamp(p, "PROGRAM") for p in content.get("programs", [])]
        self.events += [self._stamp(e, "EVENT") for e in content.get("events", [])]

    def remove_event(self, event: Mapping[str, Any]) -> None:
        """Delete an event (a cancellation)."""
        self.events = [e for e in self.events if e["id"] != event["id"]]

    # --- serving ---------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen (port 0: any free port; a restart keeps the port it had)."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/auth/token", self._token)
        app.router.add_get("/programs", self._list_programs)
        app.router.add_get("/events", self._list_events)
        app.router.add_get("/reports", self._list_reports)
        app.router.add_post("/reports", self._create_report)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port or self.port)
        await site.start()
        self.host = host
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening (the VTN is down: connections are refused)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.failure == "down":
            return web.json_response({"title": "Service Unavailable", "status": 503}, status=503)
        if self.failure == "garbage":
            return web.Response(text="<html>oops", content_type="application/json")
        if request.path != "/auth/token" and self.clients:
            token = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if token not in self._tokens:
                return web.json_response({"title": "Forbidden", "status": 403}, status=403)
        response: web.StreamResponse = await handler(request)
        return response

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = await request.post()
        client_id, secret = str(form.get("client_id", "")), str(form.get("client_secret", ""))
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if not client_id or self.clients.get(client_id) != secret:
            return web.json_response({"error": "invalid_client"}, status=400)
        token = secrets.token_urlsafe(16)
        self._tokens.add(token)
        return web.json_response(
            {"access_token": token, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME_S}
        )

    def revoke_tokens(self) -> None:
        """Forget every token issued (a VEN must get a new one)."""
        self._tokens.clear()

    @staticmethod
    def _page(request: web.Request, items: list[dict[str, Any]]) -> web.Response:
        try:
            skip = int(request.query.get("skip", 0))
            limit = min(50, int(request.query.get("limit", 50)))
        except ValueError:
            return web.json_response({"title": "Bad Request", "status": 400}, status=400)
        return web.json_response(items[skip : skip + limit])

    @staticmethod
    def _targeted(request: web.Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        target_type = request.query.get("targetType")
        values = request.query.getall("targetValues", [])
        return [i for i in items if _matches(i.get("targets"), target_type, values)]

    async def _list_programs(self, request: web.Request) -> web.Response:
        return self._page(request, self._targeted(request, self.programs))

    async def _list_events(self, request: web.Request) -> web.Response:
        events = self._targeted(request, self.events)
        if program_id := request.query.get("programID"):
            events = [e for e in events if e["programID"] == program_id]
        return self._page(request, events)

    async def _list_reports(self, request: web.Request) -> web.Response:
        return self._page(request, self.reports)

    async def _create_report(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"title": "Bad Request", "status": 400}, status=400)
        missing = [
            key
            for key in ("programID", "eventID", "clientName", "resources")
            if not isinstance(body, dict) or key not in body
        ]
        if missing:
            return web.json_response(
                {"title": "Bad Request", "status": 400, "detail": f"missing {missing}"},
                status=400,
            )
        report = self._stamp(body, "REPORT")
        self.reports.append(report)
        _LOGGER.info("Report received: %s", json.dumps(report))
        return web.json_response(report, status=201)


def add_demo(vtn: OpenAdrVtn, ven_name: str | None = None) -> None:
    """A price program with the next 24 hourly prices (peak 17-20 h UTC) and a 6 kW limit."""
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    targets = [{"type": "VEN_NAME", "values": [ven_name]}] if ven_name else None
    program = vtn.add_program(
        "demo-dynamic-prices",
        payloadDescriptors=[
            {
                "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                "payloadType": "PRICE",
                "units": "KWH",
                "currency": "EUR",
            }
        ],
    )
    prices = [0.45 if 17 <= (start + timedelta(hours=h)).hour < 20 else 0.20 for h in range(24)]
    vtn.add_event(
        program,
        [{"id": 0, "payloads": [{"type": "PRICE", "values": prices}]}],
        eventName="day-ahead prices",
        intervalPeriod={"start": start.isoformat().replace("+00:00", "Z"), "duration": "PT24H"},
        targets=targets,
    )
    vtn.add_event(
        program,
        [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [6.0]}]}],
        eventName="congestion",
        intervalPeriod={
            "start": (start + timedelta(hours=2)).isoformat().replace("+00:00", "Z"),
            "duration": "PT2H",
        },
        payloadDescriptors=[
            {
                "objectType": "EVENT_PAYLOAD_DESCRIPTOR",
                "payloadType": "IMPORT_CAPACITY_LIMIT",
                "units": "KW",
            }
        ],
        targets=targets,
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--client-id", help="the VEN's client id (none: no token needed)")
    parser.add_argument("--client-secret", default="")
    parser.add_argument("--ven-name", help="target the demo events at this VEN name")
    parser.add_argument("--demo", action="store_true", help="serve the demo program and events")
    parser.add_argument(
        "--load", help="a JSON file {programs: [...], events: [...]} served as they are"
    )
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> None:
    """Serve until cancelled."""
    vtn = OpenAdrVtn({args.client_id: args.client_secret} if args.client_id else None)
    if args.demo:
        add_demo(vtn, args.ven_name)
    if args.load:
        with open(args.load, encoding="utf-8") as file:  # noqa: ASYNC230 - once at start
            content = json.load(file)
        vtn.load(content)
    await vtn.start(args.host, args.port)
    print(f"OpenADR 3 VTN at {vtn.url}: {len(vtn.programs)} programs, {len(vtn.events)} events")
    try:
        await asyncio.Event().wait()
    finally:
        await vtn.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """Run until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    main()
