"""Embedded defaults for a fresh machine: a private PostgreSQL and a file broker.

`make demo` and `make test` call ``python -m kitaportal.embedded start`` when
``DATABASE_URL`` is not set. The server lives in ``.data/pg`` under the checkout,
listens on 127.0.0.1 only, and needs no system service. PostgreSQL refuses to run
as root, so when we are root the server runs as the unprivileged ``nobody`` user.

No Django import here: this runs before the virtualenv's Django is configured.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("KITAPORTAL_DATA_DIR", REPO / ".data"))
PGDATA = DATA / "pg"
DEFAULT_PORT = 54329
PORT_FILE = DATA / "pg-port"
DB_NAME = "kitaportal"
DB_USER = "postgres"
BROKER_DIR = DATA / "broker"


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port() -> int:
    """The server's port: $EMBEDDED_PG_PORT, else the one chosen at initdb time (another
    checkout's embedded server may already hold 54329), else the default."""
    if os.environ.get("EMBEDDED_PG_PORT"):
        return int(os.environ["EMBEDDED_PG_PORT"])
    if PORT_FILE.exists():
        return int(PORT_FILE.read_text().strip())
    return DEFAULT_PORT


def _choose_port() -> int:
    if os.environ.get("EMBEDDED_PG_PORT"):
        return int(os.environ["EMBEDDED_PG_PORT"])
    for candidate in range(DEFAULT_PORT, DEFAULT_PORT + 200):
        if _port_is_free(candidate):
            return candidate
    raise SystemExit("No free port for the embedded PostgreSQL (54329-54528).")


def database_url() -> str:
    return f"postgresql://{DB_USER}@127.0.0.1:{port()}/{DB_NAME}"


def find_pg_bin() -> Path:
    """Locate PostgreSQL server binaries: $PG_BIN, Debian's, then the pgserver wheel's."""
    candidates: list[str] = []
    if os.environ.get("PG_BIN"):
        candidates.append(os.environ["PG_BIN"])
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    candidates.extend(reversed(debian))
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    try:
        import pgserver  # optional dev dependency that ships PostgreSQL 16

        candidates.append(str(Path(pgserver.__file__).parent / "pginstall" / "bin"))
    except ImportError:
        pass
    for candidate in candidates[-1:]:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    raise SystemExit(
        "Kein PostgreSQL gefunden / no PostgreSQL found. Install the dev extra "
        "(pgserver) or Debian's postgresql package, or set DATABASE_URL."
    )


def _run_as() -> tuple[int, int] | None:
    """The (uid, gid) to run PostgreSQL as, or None to stay the current user."""
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam(os.environ.get("EMBEDDED_PG_USER", "nobody"))
    return entry.pw_uid, entry.pw_gid


def _demote(ids: tuple[int, int] | None):
    if ids is None:
        return None

    def _set() -> None:
        os.setgid(ids[1])
        os.setgroups([])
        os.setuid(ids[0])

    return _set


def _pg(cmd: list[str], ids, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
    return subprocess.run(cmd, preexec_fn=_demote(ids), env=env, cwd="/", **kwargs)


def is_running() -> bool:
    pidfile = PGDATA / "postmaster.pid"
    if not pidfile.exists():
        return False
    try:
        pid = int(pidfile.read_text().splitlines()[0])
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError, IndexError):
        return False
    except PermissionError:
        return True
    return True


def start() -> str:
    """Start (initialising if needed) the embedded server; return its URL. Idempotent."""
    DATA.mkdir(parents=True, exist_ok=True)
    for sub in ("in", "out", "processed"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    pg_bin = find_pg_bin()
    ids = _run_as()
    if not (PGDATA / "PG_VERSION").exists():
        if PGDATA.exists():
            shutil.rmtree(PGDATA)
        PORT_FILE.write_text(str(_choose_port()))
        PGDATA.mkdir(parents=True)
        if ids:
            os.chown(PGDATA, *ids)
        PGDATA.chmod(0o700)
        result = _pg(
            [
                str(pg_bin / "initdb"),
                "-D",
                str(PGDATA),
                "-U",
                DB_USER,
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            ids,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise SystemExit(f"initdb failed:\n{result.stdout}\n{result.stderr}")
        with open(PGDATA / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# kitaportal embedded defaults\n"
                f"listen_addresses = '127.0.0.1'\nport = {port()}\n"
                f"unix_socket_directories = '{PGDATA}'\n"
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
                "max_connections = 200\nshared_buffers = 256MB\n"
                "max_locks_per_transaction = 1024\n"
            )
    if not is_running():
        if not _port_is_free(port()) and not os.environ.get("EMBEDDED_PG_PORT"):
            # another server took our port since initdb: move to a free one
            PORT_FILE.write_text(str(_choose_port()))
        log = PGDATA / "server.log"
        result = _pg(
            [
                str(pg_bin / "pg_ctl"),
                "-D",
                str(PGDATA),
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {port()}",
                "start",
            ],
            ids,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise SystemExit(f"PostgreSQL did not start:\n{result.stderr}\n{tail}")
    _ensure_database(pg_bin, ids)
    return database_url()


def _ensure_database(pg_bin: Path, ids) -> None:
    psql = [str(pg_bin / "psql"), "-h", "127.0.0.1", "-p", str(port()), "-U", DB_USER, "-tA"]
    for _ in range(50):
        found = _pg([*psql, "-d", "postgres", "-c", "select 1"], ids, capture_output=True)
        if found.returncode == 0:
            break
        time.sleep(0.1)
    exists = _pg(
        [*psql, "-d", "postgres", "-c", f"select 1 from pg_database where datname='{DB_NAME}'"],
        ids,
        capture_output=True,
        text=True,
    )
    if exists.stdout.strip() != "1":
        _pg([*psql, "-d", "postgres", "-c", f"create database {DB_NAME}"], ids, check=True)


def stop() -> None:
    if is_running():
        _pg(
            [str(find_pg_bin() / "pg_ctl"), "-D", str(PGDATA), "-m", "fast", "stop"],
            _run_as(),
            capture_output=True,
        )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    command = argv[0] if argv else "start"
    if command == "start":
        print(start())
    elif command == "stop":
        stop()
    elif command == "status":
        print("running" if is_running() else "stopped")
    elif command == "url":
        print(database_url())
    else:
        print("usage: python -m kitaportal.embedded [start|stop|status|url]", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
