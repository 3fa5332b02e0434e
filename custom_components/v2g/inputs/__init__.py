"""What the world tells us (prices, solar, house load), turned into arrays on the slot grid.

`config.py` reads and checks the site's input options (`InputsConfig`); `collector.py` reads every
source onto the plan's slots (`InputCollector`, `Inputs`); the other modules are the readers,
parsers and fallbacks they use.
"""

from .collector import InputCollector, Inputs
from .config import (
    ExportPriceSource,
    InputsConfig,
    InvalidInputsConfigError,
    LoadSource,
    PriceSource,
    SolarSource,
)
from .issues import clear_repair_issues, sync_repair_issues
from .load import read_power_w
from .model import PROBLEM_TEXTS, InputProblem, ProblemKey
from .prices import PriceFormat, detect_price_format

__all__ = [
    "PROBLEM_TEXTS",
    "ExportPriceSource",
    "InputCollector",
    "InputProblem",
    "Inputs",
    "InputsConfig",
    "InvalidInputsConfigError",
    "LoadSource",
    "PriceFormat",
    "PriceSource",
    "ProblemKey",
    "SolarSource",
    "clear_repair_issues",
    "detect_price_format",
    "read_power_w",
    "sync_repair_issues",
]
