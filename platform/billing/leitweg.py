"""Leitweg-ID (routing id for e-invoices to German public bodies), per KoSIT's format spec:
coarse address (2–12 digits), optional fine address (up to 30 letters/digits), check digits
computed with ISO/IEC 7064 MOD 97-10 over both parts."""

from __future__ import annotations

import re

LEITWEG_RE = re.compile(r"(\d{2,12})(?:-([A-Za-z0-9]{1,30}))?-(\d{2})")


def _check_digits(body: str) -> int:
    digits = "".join(str(int(char, 36)) for char in body.upper())
    return 98 - int(digits + "00") % 97


def is_valid_leitweg_id(value: str) -> bool:
    match = LEITWEG_RE.fullmatch((value or "").strip())
    if not match:
        return False
    body = match.group(1) + (match.group(2) or "")
    return _check_digits(body) == int(match.group(3))


def make_leitweg_id(coarse: str, fine: str = "") -> str:
    """A Leitweg-ID with correct check digits (for demo data and tests)."""
    return f"{coarse}{'-' + fine if fine else ''}-{_check_digits(coarse + fine):02d}"
