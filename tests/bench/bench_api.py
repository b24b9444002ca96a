"""API throughput: tokens issued per second, and GET /compute/v2.1/flavors/detail with
1,000 flavors, at a concurrency of 16. The load comes from wrk, a separate process.

Run with ``make bench-api``. Prints figures; it is not a pass/fail test.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from stratus.api.identity.passwords import hash_password  # noqa: E402
from stratus.db.models import Flavor, User  # noqa: E402
from tests.support.cloud import ADMIN_PASSWORD, ControlPlane  # noqa: E402
from tests.support.db import session_for  # noqa: E402

CONCURRENCY = 16
DURATION = "10s"
FLAVORS = 1000


def wrk(url: str, script: str | None = None, headers: dict[str, str] | None = None) -> dict:
    args = ["wrk", "-t2", f"-c{CONCURRENCY}", f"-d{DURATION}", "--latency"]
    for key, value in (headers or {}).items():
        args += ["-H", f"{key}: {value}"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        if script:
            lua.write(script)
            lua.flush()
            args += ["-s", lua.name]
        output = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50": re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1),
        "p99": re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1),
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
    }


def token_script(user: str, password: str) -> str:
    body = json.dumps(
        {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": user, "domain": {"name": "Default"}, "password": password}
                    },
                },
                "scope": {"project": {"name": "admin", "domain": {"name": "Default"}}},
            }
        }
    )
    return (
        f'wrk.method = "POST"\nwrk.body = {json.dumps(body)}\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
    )


def main() -> None:
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    cloud = ControlPlane(extra_conf={"identity": {"password_hash_rounds": 12}})
    cloud.start()
    try:
        with session_for(cloud.db_url) as session:
            admin = session.query(User).filter_by(name="admin").one()
            fast = User(
                name="bench-cost4", domain_id=admin.domain_id, password_hash=hash_password("pw", 4)
            )
            session.add(fast)
            session.flush()
            from stratus.db.models import RoleAssignment

            for assignment in session.query(RoleAssignment).filter_by(user_id=admin.id):
                session.add(
                    RoleAssignment(
                        user_id=fast.id,
                        project_id=assignment.project_id,
                        role_id=assignment.role_id,
                    )
                )
            session.add_all(
                Flavor(
                    flavorid=f"bench-{i:04d}",
                    name=f"bench-{i:04d}",
                    memory_mb=512 + i,
                    vcpus=1 + i % 8,
                    root_gb=i % 100,
                )
                for i in range(FLAVORS)
            )
        token = cloud.token()
        tokens_url = f"{cloud.url}/identity/v3/auth/tokens"
        rows = [
            (
                "POST /v3/auth/tokens (bcrypt cost 12, the default)",
                wrk(tokens_url, token_script("admin", ADMIN_PASSWORD)),
            ),
            (
                "POST /v3/auth/tokens (bcrypt cost 4)",
                wrk(tokens_url, token_script("bench-cost4", "pw")),
            ),
            (
                f"GET /compute/v2.1/flavors/detail ({FLAVORS} flavors)",
                wrk(f"{cloud.url}/compute/v2.1/flavors/detail", headers={"X-Auth-Token": token}),
            ),
            (
                "GET /compute/v2.1/flavors/detail?limit=50",
                wrk(
                    f"{cloud.url}/compute/v2.1/flavors/detail?limit=50",
                    headers={"X-Auth-Token": token},
                ),
            ),
        ]
    finally:
        cloud.stop()
    print(f"\nstratus-api, 1 worker, SQLite, wrk -t2 -c{CONCURRENCY} -d{DURATION}")
    print(f"{'request':55} {'req/s':>9} {'p50':>9} {'p99':>9} {'non-2xx':>8}")
    for name, result in rows:
        print(
            f"{name:55} {result['rps']:9.1f} {result['p50']:>9} {result['p99']:>9} "
            f"{result['errors']:8d}"
        )


if __name__ == "__main__":
    main()
