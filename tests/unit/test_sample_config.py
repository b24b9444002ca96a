"""The committed sample config must match what oslo-config-generator makes now."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_sample_config_is_current(tmp_path: Path) -> None:
    fresh = tmp_path / "stratus.conf.sample"
    subprocess.run(
        [
            str(Path(sys.executable).parent / "oslo-config-generator"),
            "--config-file",
            str(ROOT / "etc/stratus/config-generator.conf"),
            "--output-file",
            str(fresh),
        ],
        check=True,
        cwd=ROOT,
        capture_output=True,
    )
    committed = (ROOT / "etc/stratus/stratus.conf.sample").read_text()
    assert fresh.read_text() == committed, "stale sample config: run 'make sample-config'"
