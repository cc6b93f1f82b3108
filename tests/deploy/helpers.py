"""Reading the deployment files the way Docker, Compose and the entry point read them."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DOCKER = DEPLOY / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
ENTRYPOINT = DOCKER / "entrypoint.sh"
HEALTHCHECK = DOCKER / "healthcheck.py"
# Where the Dockerfile puts the scripts of deploy/docker/ in the image.
IMAGE_BIN = "/opt/kitaportal/bin"


def dockerfile_instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, with continuation lines joined and comments gone."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        pending += line
        keyword, _, rest = pending.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    return instructions


def final_stage(instructions: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [index for index, (keyword, _) in enumerate(instructions) if keyword == "FROM"]
    return instructions[starts[-1] :]


def entrypoint_roles() -> dict[str, list[str]]:
    """Role -> the command line the entry point execs for it (from its `case` branches)."""
    roles: dict[str, list[str]] = {}
    text = ENTRYPOINT.read_text()
    for match in re.finditer(r"^\s{4}([a-z|]+)\)\n(.*?);;", text, re.MULTILINE | re.DOTALL):
        body = match.group(2).replace("\\\n", " ")
        exec_line = next(line for line in body.splitlines() if line.strip().startswith("exec "))
        words = shlex.split(exec_line.strip())[1:]
        for role in match.group(1).split("|"):
            roles[role] = words
    return roles


def load_healthcheck():
    spec = importlib.util.spec_from_file_location("kitaportal_healthcheck", HEALTHCHECK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def module_exists(dotted: str) -> bool:
    try:
        return importlib.util.find_spec(dotted) is not None
    except ModuleNotFoundError:
        return False
