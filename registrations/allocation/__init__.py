"""Fair allocation rounds: a Django-free matching engine for Kita places.

    from registrations.allocation import load_instance, solve, dump_result

    market = load_instance("market.json")      # validates; raises MarketError with a path
    allocation = solve(market)                 # deferred acceptance, reserves, groups
    dump_result(allocation, "result.json")     # atomic write; returns the summary

See README.md in this folder for the formats, the processing order of reserved places, the
joint-placement procedure and what it guarantees, and the tie-break chain.
"""

from .audit import audit
from .engine import Allocation, fill_slots, solve
from .explain import RESULT_FORMAT, dump_result, result_dict, summarize, write_result
from .market import MARKET_FORMAT, Market, MarketError, load_instance, lottery_number, validator

__all__ = [
    "MARKET_FORMAT",
    "RESULT_FORMAT",
    "Allocation",
    "Market",
    "MarketError",
    "audit",
    "dump_result",
    "fill_slots",
    "load_instance",
    "lottery_number",
    "result_dict",
    "solve",
    "summarize",
    "validator",
    "write_result",
]
