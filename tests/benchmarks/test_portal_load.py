"""benchmarks/portal_load.py's pure parts, so the benchmark cannot silently rot. No network, no
gunicorn, no database."""

import importlib.util
import random
import sys
from datetime import date
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

PATH = Path(__file__).resolve().parents[2] / "benchmarks" / "portal_load.py"
spec = importlib.util.spec_from_file_location("portal_load", PATH)
portal_load = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = portal_load  # dataclasses look their module up there
spec.loader.exec_module(portal_load)

TODAY = date(2026, 11, 23)
OPTIONS = portal_load.PortalOptions(
    facility_slugs=["kita-a", "kita-b"],
    district_slugs=["mitte", "wattenscheid"],
    district_names=["Mitte", "Wattenscheid"],
    district_ids=[1, 2],
    carrier_ids=[10, 11],
    tags=["waldkita", "mint"],
    postcodes=["44787"],
    words=["Regenbogen"],
    wish_ids=[101, 102, 103, 104, 105, 106],
    max_wishes=5,
)


def test_percentiles_interpolate_like_numpy():
    values = [float(v) for v in range(1, 101)]
    random.Random(1).shuffle(values)
    assert portal_load.percentile(values, 50) == pytest.approx(50.5)
    assert portal_load.percentile(values, 95) == pytest.approx(95.05)
    assert portal_load.percentile(values, 99) == pytest.approx(99.01)
    assert portal_load.percentile([7.0], 99) == 7.0
    assert portal_load.percentile([], 95) is None


def test_the_summary_gives_throughput_and_percentiles_in_milliseconds():
    rows = portal_load.summarise(
        {"finder": [0.010, 0.020, 0.030, 0.040], "submit": []}, {"finder": 1}, elapsed_s=2.0
    )
    assert rows["finder"]["requests"] == 4 and rows["finder"]["rps"] == 2.0
    assert rows["finder"]["errors"] == 1
    assert rows["finder"]["p50_ms"] == 25.0
    assert rows["finder"]["p99_ms"] == pytest.approx(39.7)
    assert rows["submit"] == {
        "requests": 0,
        "rps": 0.0,
        "errors": 0,
        "p50_ms": None,
        "p95_ms": None,
        "p99_ms": None,
    }


def test_targets_pass_only_when_fast_enough_without_errors_or_duplicates():
    good = {"finder_p95_ms": 99.0, "submit_p95_ms": 249.0, "errors": 0, "duplicates": 0}
    assert all(ok for _, ok in portal_load.verdicts(good))
    for key, value in [
        ("finder_p95_ms", 100.0),
        ("submit_p95_ms", None),
        ("errors", 1),
        ("duplicates", 2),
    ]:
        failed = [label for label, ok in portal_load.verdicts({**good, key: value}) if not ok]
        assert len(failed) == 1 and failed[0].startswith(key)


def test_duplicates_are_unacknowledged_applications_plus_children_active_twice():
    assert portal_load.count_duplicates(10, 10, 0) == 0
    assert portal_load.count_duplicates(12, 10, 1) == 3
    assert portal_load.count_duplicates(9, 10, 0) == 0


def test_child_names_stay_unique_after_the_duplicate_check_drops_digits():
    names = {portal_load.child_name(user, seq, "abc") for user in range(30) for seq in range(30)}
    assert len(names) == 900
    for first, last in names:
        assert first.isalpha() and last.isalpha()
    with pytest.raises(ValueError):
        portal_load.letters(26**2, width=2)


def test_the_payload_is_a_valid_pre_registration_for_a_new_child():
    data = portal_load.application_payload(
        csrf_token="tok",
        idempotency_key="6f1c0d4e-0000-4000-8000-000000000000",
        first_name="Kindaaab",
        last_name="Lastaaaxyz",
        email="last0001@load.example",
        options=OPTIONS,
        rng=random.Random(3),
        today=TODAY,
    )
    assert data["csrfmiddlewaretoken"] == "tok"
    assert data["idempotency_key"].startswith("6f1c0d4e")
    assert data["start_date"] == "2027-08-01" and data["care_hours"] == "35"
    birth = date.fromisoformat(data["child_0_birth_date"])
    assert 4 <= (date(2027, 8, 1) - birth).days // 365 < 5  # Ü3 at the start
    wishes = [data[f"wish_{rank}"] for rank in range(1, 6) if f"wish_{rank}" in data]
    assert 1 <= len(wishes) == len(set(wishes)) <= OPTIONS.max_wishes
    assert {int(w) for w in wishes} <= set(OPTIONS.wish_ids)
    assert data["guardian_email"] == "last0001@load.example"
    assert data["district"] in {"1", "2"} and len(data["postcode"]) == 5


def test_finder_queries_use_only_the_real_filter_options():
    allowed = {
        "district": set(OPTIONS.district_slugs),
        "age_group": {"U3", "UE3"},
        "care_hours": {"25", "35", "45"},
        "opens_early": {"on"},
        "closes_late": {"on"},
        "tags": set(OPTIONS.tags),
        "carrier": {"10", "11"},
        "q": set(OPTIONS.words),
        "near": set(OPTIONS.postcodes + OPTIONS.district_names),
        "seite": {"2", "3"},
    }
    rng = random.Random(5)
    urls = [portal_load.finder_query(OPTIONS, rng, TODAY) for _ in range(300)]
    assert "/" in urls
    for url in urls:
        parts = urlsplit(url)
        assert parts.path == "/"
        for name, value in parse_qsl(parts.query):
            if name in ("birth_date", "start_date"):
                date.fromisoformat(value)
            else:
                assert value in allowed[name]


def test_hidden_values_are_read_from_the_rendered_form():
    html = (
        '<form><input type="hidden" name="csrfmiddlewaretoken" value="abc123">'
        '<input type="hidden" name="idempotency_key" value="k-1" id="id_idempotency_key">'
        '<input type="text" name="street"></form>'
    )
    assert portal_load.hidden_value(html, "csrfmiddlewaretoken") == "abc123"
    assert portal_load.hidden_value(html, "idempotency_key") == "k-1"
    assert portal_load.hidden_value(html, "street") is None
    assert portal_load.hidden_value(html, "missing") is None


def test_the_mix_is_three_weights():
    assert portal_load.parse_mix("5:3:2") == (5.0, 3.0, 2.0)
    for bad in ("5:3", "0:0:0", "1:-1:1"):
        with pytest.raises(ValueError):
            portal_load.parse_mix(bad)


def test_users_are_split_by_the_mix_and_add_up():
    assert portal_load.split_users(50, (5, 3, 2)) == {"finder": 25, "facility": 15, "submit": 10}
    assert portal_load.split_users(7, (5, 3, 2)) == {"finder": 4, "facility": 2, "submit": 1}
    assert sum(portal_load.split_users(13, (1, 1, 1)).values()) == 13
    assert portal_load.split_users(10, (1, 0, 0)) == {"finder": 10, "facility": 0, "submit": 0}


def test_a_wrk_result_line_becomes_a_scenario_row():
    output = (
        "Running 10s test\n"
        'WRK-RESULT {"requests": 200, "duration_us": 10000000, "connect": 0, "read": 1, '
        '"write": 0, "status": 2, "timeout": 0, "p50_us": 12345, "p95_us": 80000, '
        '"p99_us": 150500}\n'
    )
    row = portal_load.parse_wrk_result(output)
    assert row == {
        "requests": 200,
        "rps": 20.0,
        "errors": 3,
        "p50_ms": 12.3,
        "p95_ms": 80.0,
        "p99_ms": 150.5,
    }
    with pytest.raises(ValueError, match="no wrk result"):
        portal_load.parse_wrk_result("unable to connect to 127.0.0.1:1\n")


def test_the_wrk_script_refuses_paths_lua_cannot_hold():
    with pytest.raises(ValueError):
        portal_load.wrk_script([], 1.0, 1)
    with pytest.raises(ValueError):
        portal_load.wrk_script(["/?q=Bäume"], 1.0, 1)


def test_wrk_runs_the_script_with_the_host_header_think_time_and_counts_errors(tmp_path):
    """The real wrk binary against a tiny local server: every request carries the portal's
    Host header, paths come from the list, a 500 counts as an error, and the think time
    spaces the requests (2 connections x 2 s / 0.05-0.15 s think: at most ~80 requests).
    `make test` installs wrk (`make system-deps`), as it does Chromium; without it this test
    fails rather than skips."""
    import http.server
    import subprocess
    import threading

    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 - the stdlib's name
            seen.append((self.headers.get("Host"), self.path))
            status = 500 if self.path == "/broken" else 200
            body = b"ok"
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        script = tmp_path / "paths.lua"
        script.write_text(portal_load.wrk_script(["/a", "/b?x=1", "/broken"], 0.1, 7))
        done = subprocess.run(
            ["wrk", "-t1", "-c2", "-d2s", "-s", str(script),
             f"http://127.0.0.1:{server.server_address[1]}/"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
    finally:
        server.shutdown()
    row = portal_load.parse_wrk_result(done.stdout)
    assert 5 <= row["requests"] <= 90
    assert {host for host, _ in seen} == {portal_load.HOST}
    assert {path for _, path in seen} <= {"/a", "/b?x=1", "/broken"}
    broken = sum(path == "/broken" for _, path in seen)
    assert broken and row["errors"] == broken
    assert row["p95_ms"] is not None
