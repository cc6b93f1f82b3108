"""Benchmark: the parents' portal under load (finder, facility page, pre-registration).

    .venv/bin/python benchmarks/portal_load.py [--users 50] [--seconds 30] [--keep]

Works in a database of its own (``kitaportal_load`` by default), created and dropped on the
server of DATABASE_URL, or on the embedded server (started if needed) when DATABASE_URL is
unset. The demo and test databases are never touched.

1. setup: ``kitaportal migrate`` and ``load_demo`` (Bochum's 190 facilities) in that
   database, then one active parent account per virtual user in Bochum's schema.
2. gunicorn serves ``kitaportal.wsgi:application`` (settings ``kitaportal.settings.dev`` with
   ``DJANGO_DEBUG=0``, ``DB_CONN_MAX_AGE=60`` as in deploy/) on a free port of 127.0.0.1; its
   Celery broker, mail and media go to a temporary directory.
3. load generator (loopback only, Host ``bochum.localhost``), one of:

   - ``--generator wrk`` (the default when ``wrk`` is installed; Debian package ``wrk``, as
     ``make system-deps`` installs it): the users are split by the mix's weights. The finder
     and facility users are the connections of one ``wrk`` process each (C, one thread,
     a Lua script drawing each request from the pre-drawn paths below and waiting the think
     time between requests); the submit users are this file's Python users, each logged
     in once (not timed) and submitting again and again. wrk reports its own percentiles.
   - ``--generator python``: this file's own thread-per-user HTTP client
     (``http.client``). Every user logs in once (not timed), then, until the deadline,
     picks a scenario by weight and waits a think time. Python threads share one core, so
     this generator takes CPU the server would otherwise have.

   Scenarios:

   - finder: ``GET /`` with random filters drawn from the real filter options;
   - facility: ``GET /kitas/<slug>/`` of a random facility;
   - submit: ``GET /voranmeldung/`` (timed as ``form``) for the CSRF token and the form's
     idempotency key, then ``POST`` of a valid pre-registration for a new, unique child
     (timed as ``submit``; success is a 302). A share of the submissions is sent twice
     with the same idempotency key: half as a concurrent double click (second connection),
     half as a retry right after the first answer.

4. report: throughput, p50/p95/p99 per scenario, errors (status >= 400, exceptions, a
   submission not answered by a redirect), duplicates (applications created minus distinct
   idempotency keys that got a 302, plus children holding two active applications),
   PASS/FAIL per target. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from tenant_provisioning import NAME_RE, BenchDatabase, server_url  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
HOST = "bochum.localhost"
TENANT_SLUG = "bochum"
PASSWORD = "Kita-Last-2027!"
SCENARIOS = ("finder", "facility", "submit")
TARGETS = {"finder_p95_ms": 100.0, "submit_p95_ms": 250.0}
GENERATORS = {
    "wrk": "wrk (finder, facility: one process each, Lua think time) + Python submit users",
    "python": "portal_load.py's own thread-per-user http.client generator",
}
WRK_SCENARIOS = ("finder", "facility")
WRK_MARK = "WRK-RESULT "
REQUEST_TIMEOUT_S = 30.0
GUNICORN_CONF = REPO / "deploy" / "docker" / "gunicorn.conf.py"
# Errors of a reused keep-alive connection that the server closed before reading the request
# (gthread closes idle connections after its keep-alive): sent again once, as browsers do.
STALE_CONNECTION_ERRORS = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
LOGIN_TIMEOUT_S = 180.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50, help="concurrent virtual users")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the timed run")
    parser.add_argument(
        "--workers", type=int, default=2, help="gunicorn workers (default 2, as deploy/)"
    )
    parser.add_argument(
        "--threads", type=int, default=4, help="gthread threads per worker (default 4, as deploy/)"
    )
    parser.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="mean think time per user between actions, seconds (uniform 0.5x-1.5x; 0: none)",
    )
    parser.add_argument(
        "--mix",
        default="5:3:2",
        help="weights finder:facility:submit (default 5:3:2)",
    )
    parser.add_argument(
        "--repost",
        type=float,
        default=0.1,
        help="share of submissions sent twice with the same idempotency key",
    )
    parser.add_argument(
        "--generator",
        choices=sorted(GENERATORS),
        default="wrk" if shutil.which("wrk") else "python",
        help="load generator (default: wrk when installed, else python)",
    )
    parser.add_argument(
        "--server-times",
        action="store_true",
        help="also report the server's own time per view (from its request log), to tell "
        "time spent in Django from time spent waiting",
    )
    parser.add_argument("--seed", type=int, default=2027)
    parser.add_argument("--db-name", default="kitaportal_load", help="database to create")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    if args.users < 1 or args.seconds <= 0 or args.workers < 1 or args.threads < 1:
        parser.error("--users, --seconds, --workers and --threads must be positive")
    if not 0 <= args.repost <= 1 or args.think < 0:
        parser.error("--repost must be within 0..1 and --think not negative")
    try:
        args.weights = parse_mix(args.mix)
    except ValueError as exc:
        parser.error(str(exc))
    if args.generator == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed (Debian: apt-get install wrk; or --generator python)")
    if not NAME_RE.match(args.db_name) or args.db_name in {"kitaportal", "postgres"}:
        parser.error(f"refusing database name {args.db_name!r}")
    return args


def parse_mix(text: str) -> tuple[float, float, float]:
    parts = text.split(":")
    if len(parts) != 3:
        raise ValueError("--mix needs three weights, finder:facility:submit")
    weights = tuple(float(part) for part in parts)
    if any(weight < 0 for weight in weights) or not sum(weights):
        raise ValueError("--mix weights must not be negative and not all zero")
    return weights  # type: ignore[return-value]


# --- Pure helpers (tested in tests/benchmarks/test_portal_load.py) ---------------------------


def percentile(values: list[float], pct: float) -> float | None:
    """Linear-interpolated percentile (numpy's default) of unsorted values; None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarise(latencies: dict[str, list[float]], errors: dict[str, int], elapsed_s: float):
    """Per scenario: count, throughput and p50/p95/p99 in ms (latencies are in seconds)."""
    rows = {}
    for name, values in latencies.items():
        rows[name] = {
            "requests": len(values),
            "rps": round(len(values) / elapsed_s, 1) if elapsed_s > 0 else 0.0,
            "errors": errors.get(name, 0),
            **{
                f"p{pct}_ms": None if value is None else round(value * 1000, 1)
                for pct in (50, 95, 99)
                for value in [percentile(values, pct)]
            },
        }
    return rows


def verdicts(figures: dict) -> list[tuple[str, bool]]:
    """PASS/FAIL per target: finder and submission p95, no errors, no duplicates."""
    checks = []
    for key, limit in TARGETS.items():
        value = figures.get(key)
        checks.append((f"{key} < {limit:g}", value is not None and value < limit))
    checks.append(("errors == 0", figures.get("errors") == 0))
    checks.append(("duplicates == 0", figures.get("duplicates") == 0))
    return checks


def letters(number: int, width: int = 4) -> str:
    """A number as lower-case letters (names are compared letters only, digits dropped)."""
    out = []
    for _ in range(width):
        number, digit = divmod(number, 26)
        out.append(string.ascii_lowercase[digit])
    if number:
        raise ValueError("number too large for the width")
    return "".join(reversed(out))


def child_name(user: int, sequence: int, run: str) -> tuple[str, str]:
    """A child's first and last name, unique per (user, sequence) within one run."""
    return f"Kind{letters(sequence)}", f"Last{letters(user, 3)}{run}"


def next_august(today: date) -> date:
    return date(today.year + (1 if today.month >= 8 else 0), 8, 1)


@dataclass(frozen=True)
class PortalOptions:
    """What the generator draws from: read from the bench database after load_demo."""

    facility_slugs: list[str]
    district_slugs: list[str]
    district_names: list[str]
    district_ids: list[int]
    carrier_ids: list[int]
    tags: list[str]
    postcodes: list[str]
    words: list[str]
    wish_ids: list[int]  # facilities offering Ü3 places with 35 h
    max_wishes: int = 5


def finder_query(options: PortalOptions, rng: random.Random, today: date) -> str:
    """A finder URL with a random mix of the real filter options (one in five unfiltered)."""
    if rng.random() < 0.2:
        return "/"
    params: list[tuple[str, str]] = []
    if rng.random() < 0.3:
        params.append(("district", rng.choice(options.district_slugs)))
    if rng.random() < 0.15:
        start = next_august(today)
        birth = start - timedelta(days=rng.randint(300, 5 * 365))
        params += [("birth_date", birth.isoformat()), ("start_date", start.isoformat())]
    elif rng.random() < 0.3:
        params.append(("age_group", rng.choice(["U3", "UE3"])))
    if rng.random() < 0.3:
        params.append(("care_hours", rng.choice(["25", "35", "45"])))
    if rng.random() < 0.15:
        params.append(("opens_early", "on"))
    if rng.random() < 0.15:
        params.append(("closes_late", "on"))
    if options.tags and rng.random() < 0.2:
        params += [("tags", tag) for tag in rng.sample(options.tags, rng.randint(1, 2))]
    if options.carrier_ids and rng.random() < 0.15:
        params.append(("carrier", str(rng.choice(options.carrier_ids))))
    if options.words and rng.random() < 0.15:
        params.append(("q", rng.choice(options.words)))
    if rng.random() < 0.2:
        near = rng.choice(options.postcodes + options.district_names)
        params.append(("near", near))
    if rng.random() < 0.2:
        params.append(("seite", str(rng.randint(2, 3))))
    if not params:
        params.append(("district", rng.choice(options.district_slugs)))
    return "/?" + urlencode(params)


def application_payload(
    *,
    csrf_token: str,
    idempotency_key: str,
    first_name: str,
    last_name: str,
    email: str,
    options: PortalOptions,
    rng: random.Random,
    today: date,
) -> dict[str, str]:
    """A valid pre-registration (as tests/registrations/test_parent_pages.py form_data): one
    child, Ü3 at next August's start, 35 h, 1..max_wishes distinct Ü3/35 h facilities."""
    start = next_august(today)
    birth = start - timedelta(days=365 * 4 + rng.randint(0, 300))
    count = rng.randint(1, min(options.max_wishes, len(options.wish_ids)))
    wishes = rng.sample(options.wish_ids, count)
    data = {
        "csrfmiddlewaretoken": csrf_token,
        "idempotency_key": idempotency_key,
        "child_0_first_name": first_name,
        "child_0_last_name": last_name,
        "child_0_birth_date": birth.isoformat(),
        "start_date": start.isoformat(),
        "care_hours": "35",
        "street": "Lindenstraße 5",
        "postcode": "44787",
        "district": str(rng.choice(options.district_ids)),
        "guardian_first_name": "Maria",
        "guardian_last_name": last_name,
        "guardian_email": email,
    }
    for rank, facility_id in enumerate(wishes, start=1):
        data[f"wish_{rank}"] = str(facility_id)
    return data


def hidden_value(html: str, name: str) -> str | None:
    """The value of the <input name=…> in a page (Django renders name before value)."""
    for tag in re.finditer(r"<input\b[^>]*>", html):
        text = tag.group(0)
        if re.search(rf'\bname="{re.escape(name)}"', text):
            found = re.search(r'\bvalue="([^"]*)"', text)
            return found.group(1) if found else None
    return None


def split_users(users: int, weights: tuple[float, ...]) -> dict[str, int]:
    """Users per scenario in proportion to the mix (largest remainder; the sum is `users`)."""
    total = sum(weights)
    shares = [users * weight / total for weight in weights]
    counts = [int(share) for share in shares]
    by_remainder = sorted(range(len(shares)), key=lambda i: (counts[i] - shares[i], i))
    for index in by_remainder[: users - sum(counts)]:
        counts[index] += 1
    return dict(zip(SCENARIOS, counts, strict=True))


def wrk_script(paths: list[str], think_s: float, seed: int) -> str:
    """wrk's Lua script: GET a random one of `paths` (Host bochum.localhost), wait a think
    time of `think_s` x uniform(0.5, 1.5) before each request, and print the result as one
    line of JSON after `WRK_MARK` (latencies in microseconds)."""
    if not paths or not all(path.isascii() and path.startswith("/") for path in paths):
        raise ValueError("paths must be non-empty ASCII paths")
    table = ",\n".join(json.dumps(path) for path in paths)
    low, high = round(think_s * 500), round(think_s * 1500)
    return f"""-- generated by benchmarks/portal_load.py
local paths = {{
{table}
}}
local headers = {{["Host"] = "{HOST}", ["Accept-Language"] = "de"}}
math.randomseed({int(seed)})

request = function()
  return wrk.format("GET", paths[math.random(#paths)], headers)
end

delay = function()
  if {high} == 0 then return 0 end
  return math.random({low}, {high})
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{WRK_MARK}{{"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
    .. '"status": %d, "timeout": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d}}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def parse_wrk_result(output: str, duration_s: float = 0.0) -> dict:
    """The scenario row (as `summarise` gives) from a wrk run's output (throughput over wrk's
    own duration); a missing result line (wrk failed) raises ValueError with the output."""
    for line in output.splitlines():
        if line.startswith(WRK_MARK):
            data = json.loads(line[len(WRK_MARK) :])
            break
    else:
        raise ValueError(f"no wrk result in its output: {output[-500:]!r}")
    count = data["requests"]
    duration_s = data["duration_us"] / 1e6 or duration_s
    errors = sum(data[key] for key in ("connect", "read", "write", "status", "timeout"))
    return {
        "requests": count,
        "rps": round(count / duration_s, 1) if duration_s > 0 else 0.0,
        "errors": errors,
        **{
            f"p{pct}_ms": round(data[f"p{pct}_us"] / 1000, 1) if count else None
            for pct in (50, 95, 99)
        },
    }


def server_times(log_lines, since: float) -> dict[str, dict]:
    """p50/p95/p99/max of the request log's duration_ms per view, for lines logged from
    `since` (a Unix time) on; lines that are not request records are skipped."""
    from datetime import datetime

    durations: dict[str, list[float]] = {}
    for line in log_lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if not isinstance(record, dict) or record.get("logger") != "kitaportal.request":
            continue
        try:
            at = datetime.fromisoformat(record["time"]).timestamp()
        except (KeyError, ValueError):
            continue
        if at >= since and "duration_ms" in record:
            durations.setdefault(record.get("view") or "?", []).append(record["duration_ms"])
    return {
        view: {
            "requests": len(values),
            **{f"p{pct}_ms": round(percentile(values, pct), 1) for pct in (50, 95, 99)},
            "max_ms": round(max(values), 1),
        }
        for view, values in sorted(durations.items())
    }


def count_duplicates(created: int, acknowledged_keys: int, children_twice_active: int) -> int:
    """Applications that no acknowledged key accounts for, plus children with two active ones."""
    return max(0, created - acknowledged_keys) + children_twice_active


# --- The load generator -----------------------------------------------------------------


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    acknowledged_keys: set[str] = field(default_factory=set)
    submitted_keys: set[str] = field(default_factory=set)
    reposts: int = 0
    double_clicks: int = 0
    stale_retries: int = 0
    warm_up_submissions: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, name: str, seconds: float | None, problem: str | None = None) -> None:
        with self.lock:
            if seconds is not None:
                self.latencies.setdefault(name, []).append(seconds)
            if problem:
                self.errors[name] = self.errors.get(name, 0) + 1
                if len(self.error_samples) < 10:
                    self.error_samples.append(f"{name}: {problem}")


class Client:
    """One virtual user's HTTP client: loopback connection, Host header, cookie jar."""

    def __init__(self, port: int):
        self.port = port
        self.cookies: dict[str, str] = {}
        self.stale_retries = 0
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)

    def _headers(self, extra: dict | None = None) -> dict:
        headers = {"Host": HOST, "Accept-Language": "de"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        headers.update(extra or {})
        return headers

    def _keep_cookies(self, response: http.client.HTTPResponse) -> None:
        for header in response.msg.get_all("Set-Cookie") or []:
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]

    def request(
        self, method: str, path: str, form: dict | None = None, conn=None
    ) -> tuple[int, str, dict, float]:
        """(status, body, headers, seconds) — seconds from sending to the last byte."""
        conn = conn or self.conn
        body = urlencode(form).encode() if form is not None else None
        extra = {"Content-Type": "application/x-www-form-urlencoded"} if form is not None else {}
        reused = conn.sock is not None
        started = time.perf_counter()
        try:
            try:
                conn.request(method, path, body=body, headers=self._headers(extra))
                response = conn.getresponse()
            except STALE_CONNECTION_ERRORS:
                if not reused:
                    raise
                # the server had closed this idle connection: nothing was processed, so the
                # request goes out again on a new one (a POST keeps its idempotency key)
                conn.close()
                self.stale_retries += 1
                conn.request(method, path, body=body, headers=self._headers(extra))
                response = conn.getresponse()
            data = response.read()
        except Exception:
            conn.close()
            raise
        elapsed = time.perf_counter() - started
        self._keep_cookies(response)
        return (
            response.status,
            data.decode("utf-8", "replace"),
            dict(response.getheaders()),
            elapsed,
        )

    def close(self) -> None:
        self.conn.close()


def problem_of(status: int) -> str | None:
    return None if 200 <= status < 400 else f"HTTP {status}"


def log_in(client: Client, email: str) -> float:
    status, html, _, first = client.request("GET", "/konto/anmelden/")
    token = hidden_value(html, "csrfmiddlewaretoken")
    if status != 200 or not token:
        raise RuntimeError(f"login page: HTTP {status}")
    status, _, headers, second = client.request(
        "POST",
        "/konto/anmelden/",
        {"csrfmiddlewaretoken": token, "username": email, "password": PASSWORD},
    )
    if status != 302 or "sessionid" not in client.cookies:
        raise RuntimeError(f"login: HTTP {status}")
    return first + second


class VirtualUser(threading.Thread):
    def __init__(self, index, port, options, args, results, gates, deadline_box, run, mix):
        super().__init__(name=f"user-{index}", daemon=True)
        self.mix = mix  # (scenario names, weights)
        self.start_gate, self.login_slots = gates
        self.index = index
        self.email = f"last{index:04d}@load.example"
        self.client = Client(port)
        self.port = port
        self.options = options
        self.args = args
        self.results = results
        self.deadline_box = deadline_box
        self.run_token = run
        self.rng = random.Random(args.seed * 1000 + index)
        self.sequence = 0
        self.logged_in = False
        self.today = date.today()

    def run(self) -> None:
        # Password hashing is slow by design: at most one login per gunicorn worker at once,
        # with a generous timeout, all before the clock starts.
        self.client.conn.timeout = LOGIN_TIMEOUT_S
        try:
            with self.login_slots:
                self.results.record("login", log_in(self.client, self.email))
            self.logged_in = True
        except Exception as exc:  # noqa: BLE001 - reported as an error
            self.results.record("login", None, f"{type(exc).__name__}: {exc}")
        self.client.conn.timeout = REQUEST_TIMEOUT_S
        if self.logged_in and "submit" in self.mix[0]:
            self.warm_up_submission()
        self.start_gate.wait()
        deadline = self.deadline_box[0]
        names, weights = self.mix
        while time.perf_counter() < deadline:
            scenario = self.rng.choices(names, weights)[0]
            if scenario == "submit" and not self.logged_in:
                scenario = "finder"
            try:
                getattr(self, scenario)()
            except Exception as exc:  # noqa: BLE001 - reported as an error
                self.results.record(scenario, None, f"{type(exc).__name__}: {exc}")
            if self.args.think:
                pause = self.args.think * self.rng.uniform(0.5, 1.5)
                time.sleep(max(0.0, min(pause, deadline - time.perf_counter())))
        self.client.close()
        with self.results.lock:
            self.results.stale_retries += self.client.stale_retries

    def warm_up_submission(self) -> None:
        """One untimed submission before the clock: a worker's first one loads the code of
        the submission, its emails and the broker connection (measured: ~1.6 s for the
        first submissions of a fresh worker). Its key counts for the duplicate check."""
        real, self.results = self.results, Results()
        try:
            self.submit()
        except Exception as exc:  # noqa: BLE001 - reported as an error
            real.record("submit", None, f"warm-up: {type(exc).__name__}: {exc}")
        finally:
            scratch, self.results = self.results, real
            with real.lock:
                real.submitted_keys |= scratch.submitted_keys
                real.acknowledged_keys |= scratch.acknowledged_keys
                real.warm_up_submissions += 1
            for problem in scratch.error_samples:
                real.record("submit", None, f"warm-up: {problem}")

    def finder(self) -> None:
        status, _, _, seconds = self.client.request(
            "GET", finder_query(self.options, self.rng, self.today)
        )
        self.results.record("finder", seconds, problem_of(status))

    def facility(self) -> None:
        slug = self.rng.choice(self.options.facility_slugs)
        status, _, _, seconds = self.client.request("GET", f"/kitas/{slug}/")
        self.results.record("facility", seconds, problem_of(status))

    def submit(self) -> None:
        status, html, _, seconds = self.client.request("GET", "/voranmeldung/")
        csrf = hidden_value(html, "csrfmiddlewaretoken")
        key = hidden_value(html, "idempotency_key")
        if status != 200 or not csrf or not key:
            self.results.record("form", seconds, problem_of(status) or "no token or key")
            return
        self.results.record("form", seconds)
        self.sequence += 1
        first, last = child_name(self.index, self.sequence, self.run_token)
        payload = application_payload(
            csrf_token=csrf,
            idempotency_key=key,
            first_name=first,
            last_name=last,
            email=self.email,
            options=self.options,
            rng=self.rng,
            today=self.today,
        )
        with self.results.lock:
            self.results.submitted_keys.add(key)
        repost = self.rng.random() < self.args.repost
        if repost and self.rng.random() < 0.5:
            self._double_click(payload, key)
            return
        self._post(payload, key)
        if repost:
            with self.results.lock:
                self.results.reposts += 1
            self._post(payload, key)

    def _post(self, payload: dict, key: str, conn=None) -> None:
        status, html, headers, seconds = self.client.request(
            "POST", "/voranmeldung/", payload, conn=conn
        )
        if status == 302:
            with self.results.lock:
                self.results.acknowledged_keys.add(key)
            self.results.record("submit", seconds)
            return
        errors = re.findall(r'class="[^"]*error[^"]*"[^>]*>\s*([^<]{1,160})', html)
        detail = "; ".join(" ".join(e.split()) for e in errors[:2]) or "no redirect"
        self.results.record("submit", seconds, f"HTTP {status}: {detail}")

    def _double_click(self, payload: dict, key: str) -> None:
        """Two POSTs of the same form at the same time on two connections."""
        with self.results.lock:
            self.results.double_clicks += 1
        second = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT_S)

        def other() -> None:
            try:
                self._post(payload, key, conn=second)
            except Exception as exc:  # noqa: BLE001
                self.results.record("submit", None, f"{type(exc).__name__}: {exc}")

        thread = threading.Thread(target=other, daemon=True)
        thread.start()
        try:
            self._post(payload, key)
        finally:
            thread.join(REQUEST_TIMEOUT_S + 5)
            second.close()


def generate_load(
    port: int, options: PortalOptions, args, run: str, count=None, mix=None, on_start=None
) -> tuple[Results, float]:
    """`count` Python users (default --users) with `mix` (default: every scenario by the
    --mix weights); `on_start()` is called the moment the clock starts."""
    count = args.users if count is None else count
    mix = mix or (SCENARIOS, args.weights)
    results = Results()
    gate = threading.Barrier(count + 1)
    login_slots = threading.Semaphore(args.workers * args.threads)
    deadline_box = [0.0]
    users = [
        VirtualUser(i, port, options, args, results, (gate, login_slots), deadline_box, run, mix)
        for i in range(count)
    ]
    for user in users:
        user.start()
    gate_started = time.perf_counter()
    # Every user logs in first; the clock starts when all have.
    while gate.n_waiting < count and time.perf_counter() - gate_started < 900:
        time.sleep(0.05)
    started = time.perf_counter()
    deadline_box[0] = started + args.seconds
    if on_start is not None:
        on_start()
    gate.wait()
    for user in users:
        user.join(args.seconds + REQUEST_TIMEOUT_S * 3)
    say("logins", f"{count} users logged in (untimed) in {started - gate_started:.1f} s")
    return results, time.perf_counter() - started


def generate_load_wrk(port: int, options: PortalOptions, args, run: str, workdir: Path):
    """Finder and facility users as wrk connections, submit users in Python, all at once.
    Returns (results of the Python users, elapsed, rows of the wrk scenarios)."""
    split = split_users(args.users, args.weights)
    say("users", ", ".join(f"{name} {split[name]}" for name in SCENARIOS))
    rng = random.Random(args.seed)
    today = date.today()
    paths = {
        "finder": [finder_query(options, rng, today) for _ in range(5000)],
        "facility": [f"/kitas/{slug}/" for slug in options.facility_slugs],
    }
    processes: dict[str, subprocess.Popen] = {}

    def launch() -> None:
        for offset, name in enumerate(WRK_SCENARIOS):
            if not split[name]:
                continue
            script = workdir / f"{name}.lua"
            script.write_text(wrk_script(paths[name], args.think, args.seed + offset))
            # wrk takes whole seconds
            command = ["wrk", "-t1", f"-c{split[name]}", f"-d{max(1, round(args.seconds))}s"]
            command += ["--timeout", f"{REQUEST_TIMEOUT_S:g}s", "-s", str(script)]
            processes[name] = subprocess.Popen(
                [*command, f"http://127.0.0.1:{port}/"],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )

    results, elapsed = generate_load(
        port,
        options,
        args,
        run,
        count=split["submit"],
        mix=(("submit",), (1.0,)),
        on_start=launch,
    )
    rows = {}
    for name, process in processes.items():
        output, _ = process.communicate(timeout=args.seconds + REQUEST_TIMEOUT_S * 3)
        rows[name] = parse_wrk_result(output, elapsed)
    return results, elapsed, rows


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a process and its children (Linux /proc), 0 if gone."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            pids += [int(child) for child in handle.read().split()]
    except OSError:
        return 0.0
    for one in pids:
        try:
            with open(f"/proc/{one}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        except (OSError, IndexError, ValueError):
            continue
    return total


# --- Setup and teardown (Django in this process; gunicorn in a child) ---------------------


def say(label: str, text: str) -> None:
    print(f"{label}: {text}", flush=True)


def setup_database(users: int) -> tuple[PortalOptions, int]:
    """migrate + load_demo, the parent accounts; returns the options and the application count."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.core.management import call_command
    from django_tenants.utils import tenant_context

    from registrations.models import (
        AgeGroupOffer,
        Application,
        Carrier,
        District,
        Facility,
        FacilityTag,
        PortalSettings,
    )
    from tenants.accounts.models import Role
    from tenants.models import Tenant

    started = time.perf_counter()
    call_command("migrate_all", verbosity=0, stdout=io.StringIO())
    say("setup", f"kitaportal migrate: {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    call_command("load_demo", stdout=io.StringIO())
    say("setup", f"load_demo: {time.perf_counter() - started:.1f} s")
    tenant = Tenant.objects.get(slug=TENANT_SLUG)
    with tenant_context(tenant):
        started = time.perf_counter()
        User = get_user_model()
        hashed = make_password(PASSWORD)  # hashed once: the same password for every user
        User.objects.bulk_create(
            [
                User(
                    username=f"last{i:04d}@load.example",
                    email=f"last{i:04d}@load.example",
                    password=hashed,
                    first_name="Maria",
                    last_name=f"Last{letters(i, 3)}",
                    role=Role.PARENT,
                    is_active=True,
                )
                for i in range(users)
            ]
        )
        say("setup", f"{users} parent accounts: {time.perf_counter() - started:.1f} s")
        wish_ids = list(
            Facility.objects.filter(
                care_hours__contains=[35],
                age_groups__age_group="UE3",
                age_groups__places__gt=0,
            )
            .order_by("pk")
            .values_list("pk", flat=True)
            .distinct()
        )
        names = Facility.objects.values_list("name", flat=True)
        words = sorted({w for n in names for w in re.findall(r"[A-Za-zÄÖÜäöüß]{5,}", n)})
        options = PortalOptions(
            facility_slugs=list(Facility.objects.values_list("slug", flat=True)),
            district_slugs=list(District.objects.values_list("slug", flat=True)),
            district_names=list(District.objects.values_list("name", flat=True)),
            district_ids=list(District.objects.values_list("pk", flat=True)),
            carrier_ids=list(Carrier.objects.values_list("pk", flat=True)),
            tags=[value for value, _ in FacilityTag.choices],
            postcodes=sorted(set(Facility.objects.values_list("postcode", flat=True)))[:40],
            words=words[:60],
            wish_ids=wish_ids,
            max_wishes=PortalSettings.current().max_wishes,
        )
        applications = Application.objects.count()
        assert AgeGroupOffer.objects.exists()
    say(
        "setup",
        f"Bochum: {len(options.facility_slugs)} facilities, {len(wish_ids)} with Ü3/35 h, "
        f"{len(options.district_ids)} districts, {len(options.carrier_ids)} carriers, "
        f"{applications} applications before the run",
    )
    return options, applications


def count_after(applications_before: int) -> tuple[int, int, list[str]]:
    """(applications created, children with two active applications, their keys)."""
    from django.db import connection
    from django.db.models import Count
    from django_tenants.utils import tenant_context

    from registrations.models import Application, ApplicationChild
    from tenants.models import Tenant

    connection.close()  # gunicorn may have held the server for long: start afresh
    with tenant_context(Tenant.objects.get(slug=TENANT_SLUG)):
        created = Application.objects.count() - applications_before
        twice = list(
            ApplicationChild.objects.filter(
                is_active=True, application__status=Application.Status.ACTIVE
            )
            .values("duplicate_key")
            .annotate(n=Count("pk"))
            .filter(n__gt=1)
            .values_list("duplicate_key", flat=True)
        )
    return created, len(twice), twice[:5]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_gunicorn(args, database_url: str, workdir: Path) -> tuple[subprocess.Popen, int]:
    """gunicorn as the image runs it: deploy/docker/gunicorn.conf.py (gthread, keep-alive 5 s),
    with --workers/--threads in place of WEB_CONCURRENCY/GUNICORN_THREADS."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "kitaportal.settings.dev",
        "DJANGO_DEBUG": "0",
        "DB_CONN_MAX_AGE": os.environ.get("DB_CONN_MAX_AGE", "60"),
        "KITAPORTAL_DATA_DIR": str(workdir),
        "CELERY_BROKER_URL": "filesystem://",
        # with --server-times the request log (view, status, duration; no personal data)
        "LOG_LEVEL": "INFO" if args.server_times else "WARNING",
        "WEB_CONCURRENCY": str(args.workers),
        "GUNICORN_THREADS": str(args.threads),
    }
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "kitaportal.wsgi:application",
        "--config",
        str(GUNICORN_CONF),
        "--bind",
        f"127.0.0.1:{port}",
        "--backlog",
        "2048",
    ]
    log = open(workdir / "gunicorn.log", "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        command, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited: see {workdir / 'gunicorn.log'}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/healthz", headers={"Host": HOST})
            if conn.getresponse().status == 200:
                conn.close()
                return process, port
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer /healthz within 60 s")


def stop_gunicorn(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()  # our own child, by its pid
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def warm_up(port: int, options: PortalOptions, workers: int) -> int:
    """Untimed: every facility page and the unfiltered finder pages, each on new connections
    several times, so that every worker has rendered them once (its caches, imports,
    templates, database connection), as a portal that has been running for a while. Returns
    the number of requests."""
    pages = max(1, -(-len(options.facility_slugs) // 25))
    paths = [f"/?seite={page}" for page in range(1, pages + 1)]
    paths += [f"/kitas/{slug}/" for slug in options.facility_slugs]
    count = 0
    for _ in range(2 * workers):  # a new connection lands on any worker
        for path in paths:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_S)
            conn.request("GET", path, headers={"Host": HOST, "Connection": "close"})
            conn.getresponse().read()
            conn.close()
            count += 1
    return count


def report(args, results: Results, elapsed: float, figures: dict, wrk_rows=None) -> None:
    rows = summarise(
        {name: results.latencies.get(name, []) for name in (*SCENARIOS, "form", "login")},
        results.errors,
        elapsed,
    )
    rows.update(wrk_rows or {})
    print()
    say("generator", GENERATORS[args.generator])
    say(
        "run",
        f"{args.users} users, {elapsed:.1f} s, think {args.think:g} s, mix {args.mix} "
        f"(finder:facility:submit), gunicorn {args.workers} workers x {args.threads} threads",
    )
    print(
        f"{'scenario':<10} {'requests':>8} {'rps':>7} {'errors':>6} "
        f"{'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
    )
    for name, row in rows.items():
        cells = [row[f"p{p}_ms"] for p in (50, 95, 99)]
        text = " ".join(f"{'-' if c is None else c:>8}" for c in cells)
        print(f"{name:<10} {row['requests']:>8} {row['rps']:>7} {row['errors']:>6} {text}")
    timed = sum(rows[name]["requests"] for name in (*SCENARIOS, "form"))
    failures = sum(results.errors.values()) + sum(
        row["errors"] for row in (wrk_rows or {}).values()
    )
    say("throughput", f"{timed / elapsed:.1f} requests/s in the timed window (form GETs included)")
    if results.stale_retries:
        say(
            "connections",
            f"{results.stale_retries} requests sent again on a new connection after the server "
            "had closed an idle keep-alive one (as browsers do; not counted as errors)",
        )
    for sample in results.error_samples:
        say("error", sample)
    figures.update(
        finder_p95_ms=rows["finder"]["p95_ms"],
        facility_p95_ms=rows["facility"]["p95_ms"],
        submit_p95_ms=rows["submit"]["p95_ms"],
        rps=round(timed / elapsed, 1),
        errors=failures,
        finder_p50_ms=rows["finder"]["p50_ms"],
        finder_p99_ms=rows["finder"]["p99_ms"],
        facility_p50_ms=rows["facility"]["p50_ms"],
        facility_p99_ms=rows["facility"]["p99_ms"],
        submit_p50_ms=rows["submit"]["p50_ms"],
        submit_p99_ms=rows["submit"]["p99_ms"],
        form_p95_ms=rows["form"]["p95_ms"],
        requests={name: rows[name]["requests"] for name in rows},
        submitted_keys=len(results.submitted_keys),
        acknowledged_keys=len(results.acknowledged_keys),
        reposts=results.reposts,
        double_clicks=results.double_clicks,
        stale_connection_retries=results.stale_retries,
        warm_up_submissions=results.warm_up_submissions,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    database = BenchDatabase(server_url(), args.db_name)
    database.create()
    say("database", f"{args.db_name} created on {database.url}")
    say("machine", f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the start")
    workdir = Path(tempfile.mkdtemp(prefix="portal_load_"))
    os.environ["DATABASE_URL"] = database.url
    os.environ["DJANGO_SETTINGS_MODULE"] = "kitaportal.settings.dev"
    os.environ["KITAPORTAL_DATA_DIR"] = str(workdir)  # broker, mail, media: not the demo's
    os.environ["CELERY_BROKER_URL"] = "filesystem://"
    figures: dict = {"generator": args.generator, "users": args.users}
    status = 0
    gunicorn = None
    try:
        import django

        django.setup()
        options, before = setup_database(args.users)
        from django.db import connections

        connections.close_all()
        gunicorn, port = start_gunicorn(args, database.url, workdir)
        say("gunicorn", f"127.0.0.1:{port}, {args.workers} workers x {args.threads} threads")
        started = time.perf_counter()
        warmed = warm_up(port, options, args.workers)
        say("warm-up", f"{warmed} untimed requests in {time.perf_counter() - started:.1f} s")
        run = letters(random.Random(args.seed).randrange(26**3), 3)
        clock_started = time.time()  # logins included: they come first
        server_cpu = process_cpu_s(gunicorn.pid)
        self_cpu = sum(os.times()[:2])
        children_cpu = sum(os.times()[2:4])
        wrk_rows = None
        if args.generator == "wrk":
            results, elapsed, wrk_rows = generate_load_wrk(port, options, args, run, workdir)
        else:
            results, elapsed = generate_load(port, options, args, run)
        server_cpu = process_cpu_s(gunicorn.pid) - server_cpu
        generator_cpu = sum(os.times()[:2]) - self_cpu + sum(os.times()[2:4]) - children_cpu
        say("machine", f"load average {os.getloadavg()[0]:.2f} at the end")
        say(
            "cpu",
            f"gunicorn {server_cpu:.1f} s, generator {generator_cpu:.1f} s (logins included) "
            f"in {elapsed:.1f} s on {os.cpu_count()} cores",
        )
        figures.update(server_cpu_s=round(server_cpu, 1), generator_cpu_s=round(generator_cpu, 1))
        report(args, results, elapsed, figures, wrk_rows)
        if args.server_times:
            with open(workdir / "gunicorn.log", encoding="utf-8", errors="replace") as log:
                times = server_times(log, clock_started)
            say("server", "time in Django per view (request log), from the clock's start:")
            for view, row in times.items():
                say(
                    "server",
                    f"{view:<24} {row['requests']:>6}  p50 {row['p50_ms']:>7}  "
                    f"p95 {row['p95_ms']:>7}  p99 {row['p99_ms']:>7}  max {row['max_ms']:>7} ms",
                )
            figures["server_times"] = times
        stop_gunicorn(gunicorn)
        created, twice, samples = count_after(before)
        duplicates = count_duplicates(created, len(results.acknowledged_keys), twice)
        say(
            "duplicates",
            f"{len(results.submitted_keys)} keys submitted, {len(results.acknowledged_keys)} "
            f"answered by a redirect, {created} applications created, {twice} children with "
            f"two active applications ({results.warm_up_submissions} untimed warm-up "
            f"submissions included; {results.double_clicks} double clicks, "
            f"{results.reposts} retries) -> {duplicates}",
        )
        figures.update(
            duplicates=duplicates, applications_created=created, children_twice_active=twice
        )
        for label, ok in verdicts(figures):
            say("target", f"{label}: {'PASS' if ok else 'FAIL'}")
        figures["load_average"] = round(os.getloadavg()[0], 2)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr, flush=True)
        status = 130
    finally:
        if gunicorn is not None:
            stop_gunicorn(gunicorn)
        if args.keep:
            say("database", f"{args.db_name} kept ({database.url})")
        else:
            database.drop()
            say("database", f"{args.db_name} dropped")
        shutil.rmtree(workdir, ignore_errors=True)
    if status:
        return status
    summary = {
        key: figures[key]
        for key in (
            "finder_p95_ms",
            "facility_p95_ms",
            "submit_p95_ms",
            "rps",
            "errors",
            "duplicates",
        )
    }
    summary.update({key: value for key, value in figures.items() if key not in summary})
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
