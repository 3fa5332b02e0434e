"""Every connector (EVSE) of one charger identity: one connection, one station per connector.

A two-connector station is two chargers of a site, each with its own `OcppStation` (its own
setpoint, meter, transactions and EV). The charger opens one websocket for both; the group is
what the session reports to, and it hands every report to each station: a station keeps what
concerns its own connector and ignores the rest (messages for connector 0 are the whole
charger's). Transaction ids the central system assigns (OCPP 1.6) are drawn once per message, so
both stations agree on them. Both stations share the identity's password and the session's one
outstanding request at a time.
"""

from __future__ import annotations

from typing import Any

from .base import BootInfo, OcppSession
from .station import OcppStation


class StationGroup:
    """The stations of one identity by connector id; the session's sink."""

    def __init__(self, station: OcppStation) -> None:
        self.identity = station.identity
        self.stations: dict[int, OcppStation] = {station.options.connector_id: station}

    @property
    def primary(self) -> OcppStation:
        """The lowest connector's station: its options set up the connection."""
        return self.stations[min(self.stations)]

    def add(self, station: OcppStation) -> None:
        """Another connector of the same charger; its live connection, if any, is shared."""
        connector = station.options.connector_id
        if connector in self.stations:
            raise ValueError(f"connector {connector} of {self.identity} is already registered")
        session = self.primary.session
        self.stations[connector] = station
        if session is not None and not session.closed:
            station.attach(session, self.primary.remote or "unknown")

    # --- the connection ------------------------------------------------------------------

    def attach(self, session: OcppSession, remote: str) -> OcppSession | None:
        """The charger connected: every connector's station follows the new session."""
        previous = None
        for station in self.stations.values():
            previous = station.attach(session, remote) or previous
        return previous

    def detach(self, session: OcppSession) -> None:
        """The charger's websocket ended."""
        for station in self.stations.values():
            station.detach(session)

    # --- SessionSink: every report to every connector's station ----------------------------

    def on_boot(self, info: BootInfo) -> None:
        """BootNotification."""
        for station in self.stations.values():
            station.on_boot(info)

    def on_heartbeat(self) -> None:
        """Heartbeat."""
        for station in self.stations.values():
            station.on_heartbeat()

    def on_status(self, connector_id: int, status: str, error_code: str | None) -> None:
        """StatusNotification."""
        for station in self.stations.values():
            station.on_status(connector_id, status, error_code)

    def on_meter_values(
        self, connector_id: int | None, meter_values: list[Any], transaction_id: str | None = None
    ) -> None:
        """MeterValues."""
        for station in self.stations.values():
            station.on_meter_values(connector_id, meter_values, transaction_id)

    def on_transaction_started(self, connector_id: int | None, transaction_id: str | None) -> str:
        """A transaction began: one id for every station (1.6: drawn by the first)."""
        for station in self.stations.values():
            transaction_id = station.on_transaction_started(connector_id, transaction_id)
        assert transaction_id is not None
        return transaction_id

    def on_transaction_updated(
        self, connector_id: int | None, transaction_id: str, charging_state: str | None
    ) -> None:
        """TransactionEvent Updated."""
        for station in self.stations.values():
            station.on_transaction_updated(connector_id, transaction_id, charging_state)

    def on_transaction_ended(self, transaction_id: str | None) -> None:
        """A transaction ended."""
        for station in self.stations.values():
            station.on_transaction_ended(transaction_id)

    def on_transaction_meter_start(
        self, connector_id: int | None, meter_wh: float, transaction_id: str | None = None
    ) -> None:
        """1.6 meterStart / meterStop."""
        for station in self.stations.values():
            station.on_transaction_meter_start(connector_id, meter_wh, transaction_id)

    def on_ev_charging_needs(self, connector_id: int, charging_needs: dict[str, Any]) -> None:
        """NotifyEVChargingNeeds."""
        for station in self.stations.values():
            station.on_ev_charging_needs(connector_id, charging_needs)

    def on_message_handled(self, action: str) -> None:
        """A request was answered: follow-up requests may go out."""
        for station in self.stations.values():
            station.on_message_handled(action)
