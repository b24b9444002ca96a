"""Schema-driven fuzzing: schemathesis against a private Stratus control plane.

Starts ``stratus-api`` (SQLite, no compute hosts), takes an admin token, and lets
schemathesis generate up to ``--max-examples`` cases per operation of
``/openapi.json`` (examples, coverage and fuzzing phases), with the one check that
matters here: no response is a 5xx (``not_a_server_error``). Prints the number of
cases and every 5xx; exits non-zero if there was one.

    python -m tests.fuzz.run --max-examples 25
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from tests.support.cloud import VENV_BIN, ControlPlane

ROOT = Path(__file__).resolve().parents[2]
#: Operations left out, with the reason: revoking the fuzzer's own token would turn
#: every later case into a 401.
EXCLUDED = ("DELETE /identity/v3/auth/tokens",)


def run(max_examples: int, seed: int, workdir: Path, extra: list[str]) -> int:
    plane = ControlPlane(workdir=str(workdir / "cloud"))
    plane.start()
    try:
        token = plane.token()
        report = workdir / "events.ndjson"
        command = [
            str(VENV_BIN / "st"),
            "run",
            f"{plane.url}/openapi.json",
            "--url",
            plane.url,
            "--header",
            f"X-Auth-Token: {token}",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            str(max_examples),
            "--phases",
            "examples,coverage,fuzzing",
            "--seed",
            str(seed),
            "--workers",
            "1",
            "--request-timeout",
            "30",
            "--generation-database",
            "none",
            "--continue-on-failure",
            "--no-color",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(report),
            *[arg for op in EXCLUDED for arg in ("--exclude-by", f"{_by(op)}")],
            *extra,
        ]
        env = dict(os.environ, SCHEMATHESIS_HOOKS="tests.fuzz.hooks", PYTHONPATH=str(ROOT))
        done = subprocess.run(command, text=True, capture_output=True, env=env, cwd=workdir)
        print(done.stdout[-20000:])
        if done.stderr:
            print(done.stderr[-5000:], file=sys.stderr)
        cases, errors = _summary(report)
        print(f"fuzz: {cases} cases, {len(errors)} responses with a 5xx status")
        for line in errors:
            print(f"  5xx: {line}")
        log = workdir / "cloud" / "log"
        print(f"fuzz: the API's log (tracebacks) is under {log}")
        return 1 if errors or done.returncode else 0
    finally:
        plane.stop()


def _by(operation: str) -> str:
    method, path = operation.split(" ", 1)
    return f"method == '{method}' && path == '{path}'"


def _summary(report: Path) -> tuple[int, list[str]]:
    """Cases sent and the 5xx answers, from schemathesis's ndjson events."""
    cases = 0
    errors: list[str] = []
    seen: Counter[str] = Counter()
    if not report.exists():
        return 0, ["no report written"]
    for line in report.read_text().splitlines():
        text = line.strip()
        if not text:
            continue
        event = json.loads(text)
        for interaction in _interactions(event):
            cases += 1
            status = interaction["response"].get("status_code")
            if isinstance(status, int) and status >= 500:
                request = interaction["request"]
                key = f"{status} {request.get('method')} {request.get('uri')}"
                seen[key] += 1
                if seen[key] == 1:
                    errors.append(f"{key} body={_body(request.get('body'))[:300]}")
    return cases, errors


def _body(body: object) -> str:
    if isinstance(body, dict) and "$base64" in body:
        return base64.b64decode(body["$base64"]).decode("utf-8", "replace")
    return str(body)


def _interactions(event: object) -> list[dict]:
    """Every recorded request/response pair nested anywhere in one event."""
    found: list[dict] = []
    stack = [event]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            request, response = item.get("request"), item.get("response")
            if isinstance(request, dict) and isinstance(response, dict):
                found.append(item)
                continue
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-examples", type=int, default=25)
    parser.add_argument("--seed", type=int, default=20261207)
    parser.add_argument("--workdir", type=Path)
    args, extra = parser.parse_known_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="stratus-fuzz-"))
    workdir.mkdir(parents=True, exist_ok=True)
    return run(args.max_examples, args.seed, workdir, extra)


if __name__ == "__main__":
    sys.exit(main())
