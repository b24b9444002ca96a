"""``make fuzz`` with a small bound, so that ``make test`` keeps every operation of
``/openapi.json`` free of 5xx answers: schemathesis against a real ``stratus-api``
process (tests/fuzz/run.py), a few cases per operation, about two minutes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_EXAMPLES = 10


def test_no_server_errors_under_fuzzing(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.fuzz.run",
            "--max-examples",
            str(MAX_EXAMPLES),
            "--workdir",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    summary = [line for line in done.stdout.splitlines() if line.startswith("fuzz:")]
    assert done.returncode == 0, f"{done.stdout[-8000:]}\n{done.stderr[-4000:]}"
    cases = int(summary[0].split()[1])
    assert cases > 1000, summary
    assert "0 responses with a 5xx status" in summary[0]
