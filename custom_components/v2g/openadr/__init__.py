"""OpenADR 3 for a site: a VEN that reads prices and capacity limits and reports usage.

Nothing in this package imports Home Assistant (`openadr_ven.py` is the glue): it could be
published as a library. `timing.py` reads ISO 8601 times and the `intervalPeriod` rules,
`model.py` programs and events into `Signal`s, `client.py` is the REST client, `ven.py` keeps the
last good events, measures usage and sends reports.

Why a thin aiohttp client and not ElaadNL's `openadr3-client`: its current release (2.4.2)
requires pydantic >= 2.13.5 and requests >= 2.34.2, while Home Assistant 2026.2.3 pins pydantic
2.12.2 and requests 2.32.5 in its package constraints, so it cannot be installed next to it. Its
HTTP layer is also synchronous (requests with requests-oauthlib), which would need an executor
thread per call, and it cannot use Home Assistant's shared aiohttp session. A VEN that follows
prices and limits needs four calls (token, programs, events, reports); those are written here
from the OpenADR 3.0.1 specification's REST shapes.
"""

from .client import VtnAuthError, VtnClient, VtnCredentials, VtnError
from .model import Event, Signal, SignalKind
from .ven import Ven, VenConfig, VenSnapshot

__all__ = [
    "Event",
    "Signal",
    "SignalKind",
    "Ven",
    "VenConfig",
    "VenSnapshot",
    "VtnAuthError",
    "VtnClient",
    "VtnCredentials",
    "VtnError",
]
