"""Onboard the development Home Assistant that scripts/develop starts, and check the integration.

Sub-commands (run with the project's venv Python; standard library and aiohttp only):

  requirements  print the pip requirements that the integrations in config/configuration.yaml
                (and their dependencies) need but the venv lacks, one per line
  probe         exit 0 when something already answers on the development URL
  onboard       wait until Home Assistant answers, finish onboarding (owner user, core config,
                analytics, integration step), write a long-lived token to config/.dev_token, add
                the site "Home" with a simulated charger, then (subentry flows) two OCPP chargers
                (sim-charger: OCPP 2.1 bidirectional; sim-charger-ac: OCPP 2.0.1 charge only) and
                a Wallbox Quasar 1 over Modbus TCP; keep the OCPP passwords in
                config/.sim_charger_passwords.json, touch config/.sim_charger_ready for
                scripts/develop to start the OCPP simulators, and print how to log in
  check         onboard, then wait for the simulated chargers to show up in the site's entities
                (the charge-only one charging), list the integration's entities with their states
                through the REST API and scan the logs; exit 1 when something is missing or broken

Every step is idempotent: a second run reuses the owner user, the token and the entries.
"""

from __future__ import annotations

import argparse
import ast
import asyncio
from dataclasses import dataclass
import importlib.metadata
import inspect
import json
import math
import os
from pathlib import Path
import re
import sys
import textwrap
import time
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "config"
TOKEN_FILE = CONFIG_DIR / ".dev_token"
LOG_FILE = CONFIG_DIR / "home-assistant.log"
# Written by scripts/develop: one log per simulator.
SIM_LOG_FILES = (
    CONFIG_DIR / "ocpp-simulator.log",
    CONFIG_DIR / "ocpp-simulator-ac.log",
    CONFIG_DIR / "modbus-simulator.log",
)

URL = os.environ.get("V2G_DEV_URL", "http://127.0.0.1:8123")
CLIENT_ID = f"{URL}/"
USERNAME = "dev"
PASSWORD = os.environ.get("V2G_DEV_PASSWORD", "v2g-dev-password")
DISPLAY_NAME = "Developer"
DOMAIN = "v2g"

SITE_NAME = "Home"
SIMULATED_CHARGER = {
    "name": "Simulated charger",
    "max_charge_power_w": 11000,
    "max_discharge_power_w": 11000,
    "capacity_kwh": 60,
}

# The OCPP chargers that simulator/ocpp_charger.py plays (started by scripts/develop): a
# bidirectional OCPP 2.1 charger and a charge-only OCPP 2.0.1 one, on the site's OCPP server.
OCPP_PORT = 9000
OCPP_CHARGERS = {
    "sim-charger": {"max_discharge_power_w": 11000, "declared_bidirectional": False},
    "sim-charger-ac": {"max_discharge_power_w": 0, "declared_bidirectional": False},
}
OCPP_FORM = {
    "max_charge_power_w": 11000,
    "capacity_kwh": 60,
    "phases": "3",
    "connector_id": 1,
    "skip_schema_validation": False,
}
# A Wallbox Quasar 1 played by simulator/modbus_charger.py (started by scripts/develop first).
MODBUS_PORT = int(os.environ.get("V2G_DEV_MODBUS_PORT", "5502"))
MODBUS_CHARGER = {
    "model": "wallbox_quasar_1",
    "host": "127.0.0.1",
    "port": MODBUS_PORT,
    "plug": 1,
    "idle_timeout_s": 120,
    "max_charge_power_w": 7400,
    "max_discharge_power_w": 7400,
    "capacity_kwh": 40,
}
# The REST API never shows subentry data: the passwords are kept here (git-ignored, mode 600)
# when a charger is added, or read again from its reconfigure form when this file is gone.
SIM_PASSWORD_FILE = CONFIG_DIR / ".sim_charger_passwords.json"
# Touched once the chargers exist and the password file is current: scripts/develop removes it
# on start and starts the OCPP simulators when it appears.
SIM_READY_FILE = CONFIG_DIR / ".sim_charger_ready"
# How long the check waits for the simulator to connect and report.
OCPP_CONNECT_TIMEOUT_S = 60


def log(message: str) -> None:
    """Print one line, marked as ours among Home Assistant's log lines."""
    print(f"[develop] {message}", flush=True)


class OnboardError(RuntimeError):
    """Onboarding or the check could not finish."""


# --- requirements -------------------------------------------------------------------------------


def configured_domains(configuration: Path) -> list[str]:
    """Top-level integration keys of a configuration.yaml (no YAML parser needed)."""
    domains = []
    for line in configuration.read_text(encoding="utf-8").splitlines():
        if match := re.match(r"^([a-z0-9_]+):", line):
            domains.append(match.group(1))
    return domains


def service_validation_domains() -> list[str]:
    """Entity components Home Assistant imports to validate every services.yaml.

    The frontend's first websocket call (get_services) fails, and the UI stays on "Loading data",
    unless these import; they pull in hassil, mutagen and friends, which a full Home Assistant
    install always has but the test venv does not. Read from the helper's source, so that the list
    follows the Home Assistant version.
    """
    from homeassistant.helpers import service  # noqa: PLC0415 - only this sub-command needs it

    function = getattr(service, "_base_components", None)
    if function is None:
        return []
    tree = ast.parse(textwrap.dedent(inspect.getsource(inspect.unwrap(function))))
    return [
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module == "homeassistant.components"
        for alias in node.names
    ]


def missing_requirements(domains: list[str]) -> list[str]:
    """Requirements of the given built-in integrations and their dependencies not installed."""
    from homeassistant import components  # noqa: PLC0415 - only this sub-command needs it
    from packaging.requirements import Requirement  # noqa: PLC0415

    base = Path(next(iter(components.__path__)))
    todo, seen, missing = list(domains), set(), []
    while todo:
        domain = todo.pop()
        if domain in seen:
            continue
        seen.add(domain)
        manifest_path = base / domain / "manifest.json"
        if not manifest_path.exists():
            continue  # homeassistant: and custom integrations have no built-in manifest
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        todo.extend(manifest.get("dependencies", []))
        for requirement in manifest.get("requirements", []):
            parsed = Requirement(requirement)
            try:
                installed = importlib.metadata.version(parsed.name)
            except importlib.metadata.PackageNotFoundError:
                installed = None
            if installed is None or not parsed.specifier.contains(installed, prereleases=True):
                missing.append(requirement)
    return sorted(set(missing))


# --- HTTP helpers -------------------------------------------------------------------------------


@dataclass
class Client:
    """A small REST/websocket client for the development instance."""

    session: aiohttp.ClientSession
    token: str | None = None

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    async def request(
        self, method: str, path: str, payload: Any = None, *, expect: tuple[int, ...] = (200,)
    ) -> Any:
        """Send one JSON request; return the decoded answer or raise OnboardError."""
        async with self.session.request(
            method, f"{URL}{path}", json=payload, headers=self._headers()
        ) as response:
            text = await response.text()
            if response.status not in expect:
                raise OnboardError(f"{method} {path} -> HTTP {response.status}: {text[:300]}")
            return json.loads(text) if text else None

    async def token_from_code(self, code: str) -> dict[str, Any]:
        """Exchange an authorization code for an access and a refresh token."""
        form = {"grant_type": "authorization_code", "code": code, "client_id": CLIENT_ID}
        async with self.session.post(f"{URL}/auth/token", data=form) as response:
            if response.status != 200:
                raise OnboardError(f"/auth/token -> HTTP {response.status}")
            tokens: dict[str, Any] = await response.json()
        self.token = tokens["access_token"]
        return tokens

    async def login(self) -> dict[str, Any]:
        """Log in with the development user's password, as the login page does."""
        flow = await self.request(
            "POST",
            "/auth/login_flow",
            {"client_id": CLIENT_ID, "handler": ["homeassistant", None], "redirect_uri": URL},
        )
        result = await self.request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": CLIENT_ID, "username": USERNAME, "password": PASSWORD},
        )
        if result.get("type") != "create_entry":
            raise OnboardError(
                f"cannot log in as {USERNAME!r} with the development password "
                f"({result.get('errors')}); delete config/.storage to start afresh"
            )
        return await self.token_from_code(result["result"])

    async def token_valid(self, token: str) -> bool:
        """Whether a token is accepted by the API."""
        async with self.session.get(
            f"{URL}/api/", headers={"Authorization": f"Bearer {token}"}
        ) as response:
            return response.status == 200

    async def websocket(self, command: dict[str, Any]) -> Any:
        """Run one websocket command and return its result."""
        async with self.session.ws_connect(f"{URL}/api/websocket") as ws:
            await ws.receive_json()  # auth_required
            await ws.send_json({"type": "auth", "access_token": self.token})
            if (auth := await ws.receive_json())["type"] != "auth_ok":
                raise OnboardError(f"websocket authentication failed: {auth}")
            await ws.send_json({"id": 1, **command})
            answer = await ws.receive_json()
            if not answer.get("success"):
                raise OnboardError(f"websocket {command['type']} failed: {answer.get('error')}")
            return answer["result"]


def alive(pid: int) -> bool:
    """Whether a process still exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def wait_for_http(
    session: aiohttp.ClientSession, timeout_s: float, watch_pid: int | None
) -> list[dict[str, Any]]:
    """Wait until Home Assistant serves HTTP; return the onboarding steps ([] when onboarded)."""
    deadline = time.monotonic() + timeout_s
    parent = os.getppid()
    while True:
        try:
            async with session.get(f"{URL}/api/onboarding") as response:
                if response.status == 404:  # the onboarding views go away once onboarded
                    return []
                if response.status == 200:
                    steps: list[dict[str, Any]] = await response.json()
                    return steps
        except (aiohttp.ClientError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            raise OnboardError(f"Home Assistant did not answer on {URL} within {timeout_s:.0f} s")
        if os.getppid() != parent:  # scripts/develop went away: stop waiting
            raise OnboardError("scripts/develop stopped")
        if watch_pid is not None and not alive(watch_pid):
            raise OnboardError(
                "Home Assistant exited during start-up; see config/home-assistant.log"
            )
        await asyncio.sleep(1)


# --- onboarding ---------------------------------------------------------------------------------


async def onboard(client: Client, timeout_s: float, watch_pid: int | None = None) -> None:
    """Finish whatever onboarding is left, make a token and add both charger entries."""
    started = time.monotonic()
    steps = await wait_for_http(client.session, timeout_s, watch_pid)
    log(f"Home Assistant answers on {URL} after {time.monotonic() - started:.0f} s of waiting")
    todo = [step["step"] for step in steps if not step["done"]]

    if "user" in todo:
        log(f"onboarding: creating the owner user {USERNAME!r}")
        answer = await client.request(
            "POST",
            "/api/onboarding/users",
            {
                "client_id": CLIENT_ID,
                "name": DISPLAY_NAME,
                "username": USERNAME,
                "password": PASSWORD,
                "language": "en",
            },
        )
        await client.token_from_code(answer["auth_code"])
    elif todo or not (TOKEN_FILE.exists() and await client.token_valid(read_token())):
        await client.login()
    else:
        client.token = read_token()

    for step, payload in (
        ("core_config", None),
        ("analytics", None),
        ("integration", {"client_id": CLIENT_ID, "redirect_uri": f"{URL}/?auth_callback=1"}),
    ):
        if step in todo:
            log(f"onboarding: finishing step {step!r}")
            await client.request("POST", f"/api/onboarding/{step}", payload)
            if step == "core_config":
                log(
                    "onboarding offers met, google_translate, radio_browser and shopping_list; "
                    "Home Assistant runs with --skip-pip, so the errors 'Error occurred loading "
                    "flow for integration ...' / 'Error setting up entry ...' that follow once "
                    "are expected, and the entries that fail are removed again"
                )

    if not (TOKEN_FILE.exists() and await client.token_valid(read_token())):
        token = await client.websocket(
            {
                "type": "auth/long_lived_access_token",
                "client_name": "scripts/develop",
                "lifespan": 3650,
            }
        )
        TOKEN_FILE.write_text(f"{token}\n", encoding="utf-8")
        TOKEN_FILE.chmod(0o600)
        log("wrote a long-lived access token to config/.dev_token")
    client.token = read_token()

    await wait_running(client, timeout_s)
    site = await ensure_site(client)
    await ensure_chargers(client, site)
    if "core_config" in todo:
        await remove_failed_onboarding_entries(client)


# What onboarding's core_config step sets up (homeassistant/components/onboarding/views.py).
ONBOARDING_DOMAINS = ("google_translate", "met", "radio_browser", "shopping_list")


async def remove_failed_onboarding_entries(client: Client) -> None:
    """Delete the entries onboarding made that cannot work here (offline, --skip-pip)."""
    await asyncio.sleep(2)  # onboarding starts those flows in the background
    for entry in await client.request("GET", "/api/config/config_entries/entry"):
        if entry["domain"] in ONBOARDING_DOMAINS and entry["state"] != "loaded":
            await client.request("DELETE", f"/api/config/config_entries/entry/{entry['entry_id']}")
            log(f"removed {entry['title']!r} ({entry['state']}), which onboarding added")


async def wait_running(client: Client, timeout_s: float) -> None:
    """Wait until start-up is over: HTTP answers before all config entries are set up."""
    deadline = time.monotonic() + timeout_s
    while (state := (await client.request("GET", "/api/config"))["state"]) != "RUNNING":
        if time.monotonic() > deadline:
            raise OnboardError(f"Home Assistant still {state} after {timeout_s:.0f} s")
        await asyncio.sleep(1)


def read_token() -> str:
    """The long-lived token written by an earlier run."""
    return TOKEN_FILE.read_text(encoding="utf-8").strip()


async def ensure_site(client: Client) -> dict[str, Any]:
    """The development site, with the simulated charger as its first charger."""
    entries = await client.request("GET", f"/api/config/config_entries/entry?domain={DOMAIN}")
    if site := next((e for e in entries if e["title"] == SITE_NAME), None):
        log(f"site {SITE_NAME!r} already configured ({site['state']})")
        return dict(site)
    flow = await client.request("POST", "/api/config/config_entries/flow", {"handler": DOMAIN})
    path = f"/api/config/config_entries/flow/{flow['flow_id']}"
    menu = await client.request("POST", path, {"name": SITE_NAME})
    if menu.get("type") != "menu":
        raise OnboardError(f"the site step did not lead to the charger menu: {menu}")
    await client.request("POST", path, {"next_step_id": "simulated"})
    result = await client.request("POST", path, SIMULATED_CHARGER)
    if result.get("type") != "create_entry":
        raise OnboardError(f"the site was not created: {result}")
    log(f"added the site {SITE_NAME!r} with {SIMULATED_CHARGER['name']!r}")
    site = dict(result["result"])
    # A 63 A connection: room for the four development chargers to charge at once.
    options = "/api/config/config_entries/options/flow"
    flow = await client.request("POST", options, {"handler": site["entry_id"]})
    form = await client.request(
        "POST", f"{options}/{flow['flow_id']}", {"next_step_id": "vehicle_site"}
    )
    values = {
        str(field["name"]): field.get("description", {}).get("suggested_value")
        for field in form["data_schema"]
    }
    values["grid_import_limit_w"] = 43_500
    await client.request("POST", f"{options}/{flow['flow_id']}", values)
    return site


async def subentries(client: Client, entry_id: str) -> list[dict[str, Any]]:
    """The site's chargers."""
    result: list[dict[str, Any]] = await client.websocket(
        {"type": "config_entries/subentries/list", "entry_id": entry_id}
    )
    return result


async def add_charger(
    client: Client, entry_id: str, kind: str, form: dict[str, Any]
) -> dict[str, Any]:
    """Add a charger through the site's subentry flow; return the last step's result."""
    base = "/api/config/config_entries/subentries/flow"
    flow = await client.request("POST", base, {"handler": [entry_id, "charger"]})
    await client.request("POST", f"{base}/{flow['flow_id']}", {"next_step_id": kind})
    result: dict[str, Any] = await client.request("POST", f"{base}/{flow['flow_id']}", form)
    if result.get("type") == "form" and result.get("step_id") == "connect":
        placeholders = result.get("description_placeholders") or {}
        done = await client.request("POST", f"{base}/{flow['flow_id']}", {})
        if done.get("type") != "create_entry":
            raise OnboardError(f"the {kind} charger was not added: {done}")
        return {**done, "description_placeholders": placeholders}
    if result.get("type") != "create_entry":
        raise OnboardError(f"the {kind} charger was not added: {result}")
    return result


async def ensure_chargers(client: Client, site: dict[str, Any]) -> None:
    """The OCPP and Modbus chargers of the site; keep the OCPP passwords for the simulators."""
    entry_id = site["entry_id"]
    existing = {sub["unique_id"] for sub in await subentries(client, entry_id)}
    passwords = read_sim_passwords()
    for identity, extra in OCPP_CHARGERS.items():
        if f"ocpp_{identity}" in existing:
            if identity not in passwords:
                passwords[identity] = await password_from_reconfigure(client, entry_id, identity)
                log(f"read the password of {identity!r} from its reconfigure form")
            continue
        result = await add_charger(
            client, entry_id, "ocpp", {**OCPP_FORM, **extra, "identity": identity}
        )
        placeholders = result["description_placeholders"]
        passwords[identity] = str(placeholders["password"])
        log(f"added OCPP charger {identity!r}; it connects to {placeholders.get('url')}")
    write_sim_passwords(passwords)
    if not any(uid.startswith("modbus_") for uid in existing):
        try:
            await add_charger(client, entry_id, "modbus", MODBUS_CHARGER)
            log(f"added the Modbus charger on 127.0.0.1:{MODBUS_PORT}")
        except OnboardError as err:
            log(f"WARNING: the Modbus charger was not added ({err})")
    SIM_READY_FILE.touch()


async def password_from_reconfigure(client: Client, entry_id: str, identity: str) -> str:
    """Open a charger's reconfigure form, read the password it shows, and close it again."""
    base = "/api/config/config_entries/subentries/flow"
    for sub in await subentries(client, entry_id):
        if sub["unique_id"] != f"ocpp_{identity}":
            continue
        flow = await client.request(
            "POST",
            base,
            {"handler": [entry_id, "charger"], "subentry_id": sub["subentry_id"]},
        )
        await client.request("DELETE", f"{base}/{flow['flow_id']}")
        if password := (flow.get("description_placeholders") or {}).get("password"):
            return str(password)
    raise OnboardError(f"no reconfigure form shows the password of {identity!r}")


def read_sim_passwords() -> dict[str, str]:
    """The OCPP simulators' passwords, by identity."""
    if not SIM_PASSWORD_FILE.exists():
        return {}
    data: dict[str, str] = json.loads(SIM_PASSWORD_FILE.read_text(encoding="utf-8"))
    return data


def write_sim_passwords(passwords: dict[str, str]) -> None:
    """Keep the simulators' passwords where only this user can read them."""
    SIM_PASSWORD_FILE.touch(mode=0o600)
    SIM_PASSWORD_FILE.chmod(0o600)
    SIM_PASSWORD_FILE.write_text(json.dumps(passwords, indent=1) + "\n", encoding="utf-8")


def rel(path: Path) -> str:
    """A path inside the repository, as the developer types it."""
    return str(path.relative_to(ROOT))


def print_login() -> None:
    """Tell the developer how to get in."""
    line = "=" * 72
    passwords = read_sim_passwords()
    chargers = "".join(
        f"    {identity}: ws://127.0.0.1:{OCPP_PORT}/{identity}  "
        f"password {passwords.get(identity, '(unknown)')}\n"
        for identity in OCPP_CHARGERS
    )
    print(
        f"\n{line}\n"
        f"  Home Assistant for V2G development: {URL}\n"
        f"  log in as user: {USERNAME}\n"
        f"        password: {PASSWORD}\n"
        f"  long-lived token for the REST/websocket API: config/.dev_token\n"
        f'  e.g. curl -H "Authorization: Bearer $(cat config/.dev_token)" {URL}/api/states\n'
        f"\n"
        f"  site {SITE_NAME!r}: a simulated charger, a Wallbox Quasar 1 over Modbus TCP\n"
        f"  (simulator/modbus_charger.py on port {MODBUS_PORT}) and two OCPP chargers\n"
        f"  (simulator/ocpp_charger.py, logs config/ocpp-simulator*.log; passwords in\n"
        f"  {rel(SIM_PASSWORD_FILE)}):\n"
        f"{chargers}"
        f"{line}\n",
        flush=True,
    )


# --- check --------------------------------------------------------------------------------------


async def check(client: Client, settle_s: float) -> bool:
    """List the integration's entities with their states; True when everything looks right."""
    ok = True
    entries = await client.request("GET", f"/api/config/config_entries/entry?domain={DOMAIN}")
    for entry in entries:
        print(f"config entry {entry['title']!r}: {entry['state']}")
        if entry["state"] != "loaded":
            ok = False
    if not entries:
        print(f"no {DOMAIN} config entry")
        return False

    try:  # the frontend's first call: it hangs on "Loading data" when this fails
        await client.websocket({"type": "get_services"})
    except OnboardError as err:
        print(f"FAIL: {err} (the UI cannot load; see config/home-assistant.log)")
        ok = False

    ok = await check_simulators(client, entries) and ok

    registry = await client.websocket({"type": "config/entity_registry/list"})
    ours = [item for item in registry if item["platform"] == DOMAIN]
    devices = await client.websocket({"type": "config/device_registry/list"})
    device_names = {
        device["id"]: device["name_by_user"] or device["name"]
        for device in devices
        if any(identifier[0] == DOMAIN for identifier in device["identifiers"])
    }

    # The first coordinator refresh may still be running right after the entry was added.
    deadline = time.monotonic() + settle_s
    while True:
        states = {state["entity_id"]: state for state in await client.request("GET", "/api/states")}
        missing = [
            item["entity_id"]
            for item in ours
            if item["disabled_by"] is None and item["entity_id"] not in states
        ]
        if not missing or time.monotonic() > deadline:
            break
        await asyncio.sleep(2)

    print(f"\n{len(device_names)} devices, {len(ours)} entities of {DOMAIN}:")
    for device_id, device_name in sorted(device_names.items(), key=lambda item: item[1]):
        print(f"\n  device {device_name!r}")
        for item in sorted(
            (item for item in ours if item["device_id"] == device_id),
            key=lambda item: item["entity_id"],
        ):
            print("    " + describe(item, states.get(item["entity_id"])))
    orphans = [item for item in ours if item["device_id"] not in device_names]
    for item in orphans:
        print("  (no device) " + describe(item, states.get(item["entity_id"])))

    if not device_names or not ours:
        print(f"\nFAIL: no {DOMAIN} devices or entities")
        ok = False
    if missing:
        print(f"\nFAIL: enabled entities without a state: {', '.join(missing)}")
        ok = False
    ok = check_states(ours, states) and ok
    ok = await check_translations(client, ours, states) and ok
    ok = scan_simulator_log() and ok
    return scan_log() and ok


def is_number(value: str) -> bool:
    """Whether a state is a finite number."""
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


def online(value: str) -> bool:
    """A charger status that says it is connected."""
    return value not in ("offline", "unavailable", "unknown", "")


def positive(value: str) -> bool:
    """A number above 1 kW: energy flowing into the EV."""
    return is_number(value) and float(value) > 1000


# What the simulated chargers must show once they connected and report: entity id, what is
# wanted, and the test of the state.
EXPECTED: tuple[tuple[str, str, Any], ...] = (
    ("sensor.sim_charger_status", "not offline", online),
    ("binary_sensor.sim_charger_ev_plugged_in", "on", lambda state: state == "on"),
    ("sensor.sim_charger_ev_state_of_charge", "a number", is_number),
    ("sensor.sim_charger_ac_power", "charging (> 1 kW)", positive),
    (
        "sensor.quasar_1_127_0_0_1_status",
        "not offline",
        lambda s: s not in ("offline", "unavailable"),
    ),
    ("sensor.quasar_1_127_0_0_1_ev_state_of_charge", "a number", is_number),
)


async def check_simulators(client: Client, entries: list[dict[str, Any]]) -> bool:
    """Wait until the simulated OCPP and Modbus chargers are connected and reporting."""
    site = next((entry for entry in entries if entry["title"] == SITE_NAME), None)
    if site is None:
        print(f"\nFAIL: no {DOMAIN} site titled {SITE_NAME!r}")
        return False
    started = time.monotonic()
    deadline = started + OCPP_CONNECT_TIMEOUT_S
    while True:
        states = {state["entity_id"]: state for state in await client.request("GET", "/api/states")}
        results = [
            (entity_id, wanted, state := states.get(entity_id, {}).get("state"), test(state or ""))
            for entity_id, wanted, test in EXPECTED
        ]
        if all(result[-1] for result in results) or time.monotonic() > deadline:
            break
        await asyncio.sleep(2)
    elapsed = time.monotonic() - started
    good = all(result[-1] for result in results)
    verdict = f"after {elapsed:.0f} s" if good else f"not within {OCPP_CONNECT_TIMEOUT_S} s"
    print(f"\nsite {SITE_NAME!r} ({site['state']}): simulated chargers reporting {verdict}")
    for entity_id, wanted, state, passed in results:
        print(f"  {'ok  ' if passed else 'FAIL'} {entity_id:<48} {state!s:<12} want {wanted}")
    if not good:
        logs = ", ".join(rel(path) for path in SIM_LOG_FILES)
        print(f"FAIL: the simulated chargers did not all show up; see {logs}")
    return good and site["state"] == "loaded"


def scan_simulator_log() -> bool:
    """Print the simulators' warnings and errors; False on errors or tracebacks."""
    ok = True
    for path in SIM_LOG_FILES:
        if not path.exists():
            print(f"\n{rel(path)}: missing (the simulator did not start)")
            ok = False
            continue
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        problems = [
            line for line in lines if re.search(r" (WARNING|ERROR|CRITICAL) |^Traceback", line)
        ]
        print(f"\n{rel(path)}: {len(lines)} lines, {len(problems)} warnings/errors")
        for line in problems[:20]:
            print(f"  {line[:220]}")
        ok = ok and not any(" WARNING " not in line for line in problems)
    return ok


UNAVAILABLE_BY_DESIGN = (
    # Nothing to cancel while no one-off departure is set.
    re.compile(r"^button\..*_ev_cancel_one_off_departure$"),
    # The capacity tariff's sensors, on a site without one.
    re.compile(
        r"^sensor\..*_(billed_peak_this_month|projected_billed_peak|capacity_cost_avoided)$"
    ),
    # A charge-only charger cannot discharge: its V2G controls are shown unavailable.
    re.compile(
        r"^(switch\.sim_charger_ac_allow_vehicle_to_grid|number\.sim_charger_ac_maximum_discharging_power)$"
    ),
)
"""Entities that are unavailable on purpose in the development site (listed, not failed)."""


def check_states(ours: list[dict[str, Any]], states: dict[str, dict[str, Any]]) -> bool:
    """Unavailable entities fail the check, unless by design; unknown ones are only listed."""
    by_state: dict[str, list[str]] = {"unavailable": [], "unknown": [], "by design": []}
    for item in ours:
        entity_id = item["entity_id"]
        state = states.get(entity_id, {}).get("state")
        if state == "unavailable" and any(p.match(entity_id) for p in UNAVAILABLE_BY_DESIGN):
            state = "by design"
        if state in by_state:
            by_state[state].append(entity_id)
    if by_state["unknown"]:
        print(f"\nnote: unknown right now: {', '.join(by_state['unknown'])}")
    if by_state["by design"]:
        print(f"\nnote: unavailable by design: {', '.join(by_state['by design'])}")
    if by_state["unavailable"]:
        print(f"\nFAIL: unavailable entities: {', '.join(by_state['unavailable'])}")
    return not by_state["unavailable"]


async def check_translations(
    client: Client, ours: list[dict[str, Any]], states: dict[str, dict[str, Any]]
) -> bool:
    """Names and states the UI shows must be translated; icons are reported when missing."""
    translations = (
        await client.websocket(
            {
                "type": "frontend/get_translations",
                "language": "en",
                "category": "entity",
                "integration": [DOMAIN],
            }
        )
    )["resources"]
    icons = (
        await client.websocket(
            {"type": "frontend/get_icons", "category": "entity", "integration": [DOMAIN]}
        )
    )["resources"].get(DOMAIN, {})
    untranslated, no_icon = [], []
    for item in ours:
        platform, key = item["entity_id"].split(".")[0], item["translation_key"]
        if key is None:
            if item["has_entity_name"] and item["original_name"] is None:
                continue  # the device's main feature: it carries the device name on purpose
            untranslated.append(f"{item['entity_id']} (no translation_key)")
            continue
        prefix = f"component.{DOMAIN}.entity.{platform}.{key}"
        if f"{prefix}.name" not in translations:
            untranslated.append(f"{item['entity_id']} name ({prefix}.name)")
        attributes = states.get(item["entity_id"], {}).get("attributes", {})
        if platform in ("sensor", "select") and (options := attributes.get("options")):
            untranslated.extend(
                f"{item['entity_id']} state {option!r} ({prefix}.state.{option})"
                for option in options
                if f"{prefix}.state.{option}" not in translations
            )
        if key not in icons.get(platform, {}) and "device_class" not in attributes:
            no_icon.append(item["entity_id"])
    if no_icon:
        print(f"\nnote: no icon translation and no device class: {', '.join(no_icon)}")
    if untranslated:
        print("\nFAIL: untranslated:\n  " + "\n  ".join(untranslated))
    return not untranslated


def describe(item: dict[str, Any], state: dict[str, Any] | None) -> str:
    """One line per entity: id, state with unit, friendly name."""
    if item["disabled_by"]:
        return f"{item['entity_id']:<55} (disabled by {item['disabled_by']})"
    if state is None:
        return f"{item['entity_id']:<55} (no state)"
    attributes = state["attributes"]
    unit = attributes.get("unit_of_measurement")
    value = f"{state['state']} {unit}" if unit else state["state"]
    return f"{item['entity_id']:<55} {value:<28} {attributes.get('friendly_name', '')}"


def scan_log() -> bool:
    """Print the log's warnings and errors; False when any comes from this integration."""
    if not LOG_FILE.exists():
        return True
    lines = LOG_FILE.read_text(encoding="utf-8", errors="replace").splitlines()
    pattern = re.compile(r"^\S+ \S+ (WARNING|ERROR|CRITICAL) ")
    problems = [line for line in lines if pattern.match(line)]
    ours = [line for line in problems if DOMAIN in line and "has not been tested" not in line]
    print(f"\nconfig/home-assistant.log: {len(problems)} warnings/errors")
    for line in problems[:40]:
        print(f"  {line[:220]}")
    if ours:
        print(f"\nFAIL: {len(ours)} warnings/errors mention {DOMAIN}")
    return not ours


# --- main ---------------------------------------------------------------------------------------


async def run(command: str, timeout_s: float, watch_pid: int | None) -> int:
    """Run an HTTP sub-command."""
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        client = Client(session)
        if command == "probe":
            try:
                async with session.get(f"{URL}/manifest.json", timeout=aiohttp.ClientTimeout(3)):
                    return 0
            except (aiohttp.ClientError, TimeoutError):
                return 1
        try:
            await onboard(client, timeout_s, watch_pid)
            print_login()
            if command == "check":
                return 0 if await check(client, settle_s=60) else 1
        except OnboardError as err:
            log(f"ERROR: {err}")
            return 1
    return 0


def main() -> int:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["requirements", "probe", "onboard", "check"])
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds to wait for Home Assistant to answer"
    )
    parser.add_argument(
        "--watch-pid", type=int, help="stop waiting when this process (Home Assistant) exits"
    )
    args = parser.parse_args()
    if args.command == "requirements":
        domains = configured_domains(CONFIG_DIR / "configuration.yaml")
        for requirement in missing_requirements(domains + service_validation_domains()):
            print(requirement)
        return 0
    try:
        return asyncio.run(run(args.command, args.timeout, args.watch_pid))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
