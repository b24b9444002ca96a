"""The all-in-one deployment with MariaDB instead of SQLite.

The aio inventory plus a small extra inventory that puts the host in the mariadb
group: the mariadb role installs and configures the server, creates the database
and a least-privilege user, and the control services use it. Runs after
test_aio.py (which leaves the host without Stratus) and destroys at the end.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.deploy.helpers import AIO, changed, failed, openstack, playbook, run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.mariadb,
    pytest.mark.skipif(
        os.environ.get("STRATUS_DEPLOY_TESTS") != "1",
        reason="deploys on this host: run through `make test-deploy` (STRATUS_DEPLOY_TESTS=1)",
    ),
    pytest.mark.skipif(os.geteuid() != 0, reason="deploying needs root"),
]

ARGS = ("-e", "mariadb_bind_address=127.0.0.1")


def mysql(query: str) -> str:
    return subprocess.run(
        ["mysql", "--batch", "--skip-column-names", "-e", query],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.fixture(scope="module")
def with_mariadb(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ...]:
    extra = tmp_path_factory.mktemp("inventory") / "mariadb.yml"
    extra.write_text(
        "all:\n  children:\n    stratus_hosts:\n      children:\n"
        "        mariadb:\n          hosts:\n            aio:\n"
    )
    inventories = (extra,)
    run(["scripts/aio", "destroy"])
    result = playbook("site.yml", *ARGS, inventories=inventories)
    assert failed(result.output) == 0
    yield inventories
    playbook("destroy.yml", "-e", "stratus_destroy_confirm=yes", inventories=inventories)
    (AIO / "credentials" / "mariadb-password").unlink(missing_ok=True)


def test_control_services_use_mariadb(with_mariadb) -> None:
    text = Path("/etc/stratus/stratus.conf").read_text()
    assert "connection = mysql+pymysql://stratus:" in text
    assert "@127.0.0.1/stratus?charset=utf8mb4" in text
    assert "stratus" in mysql("SHOW DATABASES").split()
    tables = mysql("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema='stratus'")
    assert int(tables) > 5
    assert openstack("server", "show", "demo-1", "-f", "json")["status"] == "ACTIVE"


def test_database_user_has_rights_on_its_database_only(with_mariadb) -> None:
    grants = mysql("SHOW GRANTS FOR 'stratus'@'%'")
    assert "ON `stratus`.* TO `stratus`@`%`" in grants
    assert "ALL PRIVILEGES ON *.*" not in grants and "GRANT OPTION" not in grants
    assert "SUPER" not in grants and "FILE" not in grants
    assert (
        "bind-address = 127.0.0.1" in Path("/etc/mysql/mariadb.conf.d/99-stratus.cnf").read_text()
    )


def test_second_run_changes_nothing(with_mariadb) -> None:
    result = playbook("site.yml", *ARGS, inventories=with_mariadb)
    assert changed(result.output) == 0


def test_destroy_drops_the_database(with_mariadb) -> None:
    playbook("destroy.yml", "-e", "stratus_destroy_confirm=yes", inventories=with_mariadb)
    assert "stratus" not in mysql("SHOW DATABASES").split()
    assert "stratus" not in mysql("SELECT user FROM mysql.user").split()
    assert not Path("/etc/stratus").exists()
