"""stratus-manage as operators run it: a real process on a real SQLite database."""

from __future__ import annotations

import configparser
import datetime as dt
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from stratus import manage
from stratus.db import migration
from stratus.db.models import Aggregate, AggregateHost, AggregateMetadata, Service, utcnow
from tests.support.processes import entry_point_command

ROOT = Path(__file__).resolve().parents[2]
MANAGE = entry_point_command("stratus-manage")


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*MANAGE, *args], capture_output=True, text=True, timeout=120, check=False
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    """A configuration whose database is a SQLite file in ``tmp_path``."""
    path = tmp_path / "stratus.conf"
    path.write_text(f"[DEFAULT]\nstate_path = {tmp_path}\n")
    return path


@pytest.fixture
def synced(conf: Path) -> sa.Engine:
    """``db sync`` run on the configuration's database; an engine on that database."""
    run("--config-file", str(conf), "db", "sync")
    engine = sa.create_engine(f"sqlite:///{conf.parent / 'stratus.sqlite'}")
    yield engine
    engine.dispose()


# -- version and arguments --------------------------------------------------------


def test_version_option_and_command_print_the_package_version() -> None:
    for args in (["--version"], ["version"]):
        done = run(*args)
        assert done.stdout.strip() == version("stratus")


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["db"],
        ["db", "migrate"],
        ["service"],
        ["service", "list", "--no-such-option"],
        ["config", "show"],
        ["db", "online_data_migrations", "--max-count", "0"],
        ["db", "online_data_migrations", "--max-count", "many"],
        ["bootstrap", "--bootstrap-password", "x"],
    ],
)
def test_bad_arguments_print_the_usage_and_exit_2(args: list[str]) -> None:
    done = run(*args, check=False)
    assert done.returncode == 2, (args, done.stdout, done.stderr)
    assert done.stderr.startswith("usage: stratus-manage"), done.stderr
    assert "Traceback" not in done.stderr


def _config_error(conf: Path, *prefix: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*prefix, *MANAGE, "--config-file", str(conf), "db", "version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert str(conf) in done.stderr, done.stderr
    return done


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    done = _config_error(tmp_path / "nowhere.conf")
    assert "Failed to find some config files" in done.stderr


def test_a_malformed_config_file_is_named(tmp_path: Path) -> None:
    conf = tmp_path / "broken.conf"
    conf.write_text("[DEFAULT\nstate_path = /tmp\n")
    done = _config_error(conf)
    assert "Failed to parse" in done.stderr


def test_a_directory_given_as_config_file_is_named(tmp_path: Path) -> None:
    done = _config_error(tmp_path)
    assert "Is a directory" in done.stderr


def test_an_unreadable_config_file_is_named(conf: Path) -> None:
    conf.chmod(0o600)
    if os.geteuid() == 0:
        # root reads every file: run as nobody instead.
        setpriv = shutil.which("setpriv")
        assert setpriv, "setpriv (util-linux) is missing"
        nobody = (setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--")
        if subprocess.run([*nobody, *MANAGE, "--version"], capture_output=True).returncode:
            pytest.skip("nobody cannot run this venv's Python (it lives in a private directory)")
        done = _config_error(conf, *nobody)
    else:
        conf.chmod(0)
        done = _config_error(conf)
    assert "Failed to open some config files" in done.stderr


# -- db ------------------------------------------------------------------------------


def test_db_sync_then_version(conf: Path) -> None:
    first = run("--config-file", str(conf), "db", "sync").stdout
    assert first.strip() == f"database at {migration.head()} (was None)"
    again = run("--config-file", str(conf), "db", "sync").stdout
    assert again.strip() == f"database at {migration.head()}"
    assert run("--config-file", str(conf), "db", "version").stdout.strip() == migration.head()


def test_a_database_without_schema_is_an_error_not_a_traceback(conf: Path) -> None:
    done = run("--config-file", str(conf), "service", "list", check=False)
    assert done.returncode == 1
    assert "stratus-manage: database error: no such table" in done.stderr
    assert "Traceback" not in done.stderr


def test_online_data_migrations_with_none_registered(synced: sa.Engine, conf: Path) -> None:
    assert manage.db_online_migrations.MIGRATIONS == []
    for extra in ([], ["--max-count", "10"]):
        done = run("--config-file", str(conf), "db", "online_data_migrations", *extra)
        assert done.stdout.strip() == "No online data migrations are registered: nothing to do."


# -- service list ----------------------------------------------------------------------


def _table(text: str) -> list[dict[str, str]]:
    """The rows of a table drawn by format_table, as dicts by header."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines]
    return [dict(zip(cells[0], row, strict=True)) for row in cells[1:]]


def test_service_list_reads_the_database(synced: sa.Engine, conf: Path) -> None:
    now = utcnow()
    long_ago = now - dt.timedelta(minutes=10)
    with Session(synced) as session, session.begin():
        session.add_all(
            [
                Service(host="ctl", binary="stratus-scheduler", last_seen_up=now),
                Service(host="cmp1", binary="stratus-compute", last_seen_up=now),
                Service(
                    host="cmp2",
                    binary="stratus-compute",
                    last_seen_up=long_ago,
                    disabled=True,
                    disabled_reason="maintenance",
                ),
                Service(host="ctl", binary="stratus-conductor", last_seen_up=now, forced_down=True),
            ]
        )
        aggregate = Aggregate(name="rack1")
        session.add(aggregate)
        session.flush()
        session.add(AggregateHost(aggregate_id=aggregate.id, host="cmp1"))
        session.add(
            AggregateMetadata(aggregate_id=aggregate.id, key="availability_zone", value="az1")
        )

    out = run("--config-file", str(conf), "service", "list").stdout
    rows = {(r["Binary"], r["Host"]): r for r in _table(out)}
    assert list(_table(out)[0]) == ["Binary", "Host", "Zone", "Status", "State", "Updated_At"]
    assert len(rows) == 4
    assert rows["stratus-scheduler", "ctl"] | {"Updated_At": ""} == {
        "Binary": "stratus-scheduler",
        "Host": "ctl",
        "Zone": "internal",
        "Status": "enabled",
        "State": "up",
        "Updated_At": "",
    }
    assert (rows["stratus-compute", "cmp1"]["Zone"], rows["stratus-compute", "cmp1"]["State"]) == (
        "az1",
        "up",
    )
    cmp2 = rows["stratus-compute", "cmp2"]
    assert (cmp2["Zone"], cmp2["Status"], cmp2["State"]) == ("nova", "disabled", "down")
    assert rows["stratus-conductor", "ctl"]["State"] == "down"  # forced down
    stamp = dt.datetime.fromisoformat(rows["stratus-scheduler", "ctl"]["Updated_At"])
    assert abs(stamp - now) < dt.timedelta(minutes=1)

    only = _table(run("--config-file", str(conf), "service", "list", "--host", "cmp2").stdout)
    assert [(r["Binary"], r["Host"]) for r in only] == [("stratus-compute", "cmp2")]


def test_service_state_follows_service_down_time(synced: sa.Engine, conf: Path) -> None:
    """The API's rule (db.services.is_up): down once service_down_time has passed."""
    with Session(synced) as session, session.begin():
        session.add(
            Service(
                host="cmp1",
                binary="stratus-compute",
                last_seen_up=utcnow() - dt.timedelta(seconds=120),
            )
        )
    states = []
    for down_time in (60, 600):
        conf.write_text(f"[DEFAULT]\nstate_path = {conf.parent}\nservice_down_time = {down_time}\n")
        (row,) = _table(run("--config-file", str(conf), "service", "list").stdout)
        states.append(row["State"])
    assert states == ["down", "up"]


# -- config list -----------------------------------------------------------------------


def test_config_list_shows_every_option_and_masks_secrets(tmp_path: Path) -> None:
    conf = tmp_path / "stratus.conf"
    conf.write_text(
        "[DEFAULT]\n"
        f"state_path = {tmp_path}\n"
        "transport_url = rabbit://stratus:rabbit-pw-1@mq:5672/stratus\n"
        "report_interval = 7\n"
        "[database]\n"
        "connection = mysql+pymysql://stratus:db-pw-2@db/stratus\n"
        "[oslo_policy]\n"
        "policy_file = /etc/stratus/my-policy.yaml\n"
    )
    done = run("--config-file", str(conf), "config", "list")
    assert "rabbit-pw-1" not in done.stdout + done.stderr
    assert "db-pw-2" not in done.stdout + done.stderr
    assert "Eventlet" not in done.stderr
    lines = done.stdout.splitlines()
    options = dict(line.split(" = ", 1) if " = " in line else (line[:-2], "") for line in lines)
    assert all(re.match(r"^[A-Za-z_]+\.[A-Za-z0-9_]+ =( |$)", line) for line in lines), lines
    assert options["DEFAULT.transport_url"] == "****"
    assert options["database.connection"] == "****"
    assert options["DEFAULT.report_interval"] == "7"
    assert options["DEFAULT.state_path"] == str(tmp_path)
    assert options["oslo_policy.policy_file"] == "/etc/stratus/my-policy.yaml"
    assert options["rpc.call_timeout"] == "60"
    # Every option of the sample configuration, from every namespace, is listed.
    sample = configparser.ConfigParser(interpolation=None)
    sample.read_string(
        re.sub(
            r"^#(\w+ = )", r"\1", (ROOT / "etc/stratus/stratus.conf.sample").read_text(), flags=re.M
        )
    )
    expected = {
        f"{section}.{key}"
        for section in ["DEFAULT", *sample.sections()]
        for key in sample[section]
        if section == "DEFAULT" or key not in sample.defaults()
    }
    assert sorted(expected - set(options)) == []
    groups = [line.split(".", 1)[0] for line in lines]
    assert groups[0] == "DEFAULT" and groups[1:] == sorted(
        groups[1:], key=lambda g: (g != "DEFAULT", g)
    )


def test_config_namespaces_are_the_sample_configs() -> None:
    generator = (ROOT / "etc/stratus/config-generator.conf").read_text()
    assert tuple(re.findall(r"^namespace = (\S+)$", generator, re.M)) == manage.CONFIG_NAMESPACES


# -- the online data migration runner, on a real database --------------------------------


@pytest.fixture
def things(tmp_path: Path) -> sa.Engine:
    """A table of 120 rows whose ``upper`` column an online migration fills."""
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'things.sqlite'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT, upper TEXT)"))
        conn.execute(
            sa.text("INSERT INTO things (name) VALUES (:name)"),
            [{"name": f"thing-{i}"} for i in range(120)],
        )
    yield engine
    engine.dispose()


def fill_upper_for(engine: sa.Engine, where: str = "1") -> Callable[[int], tuple[int, int]]:
    def fill_upper(count: int) -> tuple[int, int]:
        with engine.begin() as conn:
            found = conn.execute(
                sa.text(f"SELECT count(*) FROM things WHERE upper IS NULL AND {where}")
            ).scalar_one()
            done = conn.execute(
                sa.text(
                    "UPDATE things SET upper = upper(name) WHERE id IN (SELECT id FROM things "
                    f"WHERE upper IS NULL AND {where} ORDER BY id LIMIT :n)"
                ),
                {"n": count},
            ).rowcount
        return found, done

    return fill_upper


def _remaining(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM things WHERE upper IS NULL")).scalar_one()


def test_online_migrations_run_in_batches_until_complete(things: sa.Engine) -> None:
    out: list[str] = []
    assert manage.online_data_migrations(None, [fill_upper_for(things)], out.append) == 0
    assert out[0] == "Running batches of 50 until complete"
    assert out[1:4] == [
        "120 rows matched query fill_upper, 50 migrated",
        "70 rows matched query fill_upper, 50 migrated",
        "20 rows matched query fill_upper, 20 migrated",
    ]
    assert _table(out[4]) == [
        {"Migration": "fill_upper", "Total Needed": "120", "Completed": "120"}
    ]
    assert len(out) == 5
    assert _remaining(things) == 0
    with things.connect() as conn:
        assert conn.execute(sa.text("SELECT upper FROM things WHERE id = 1")).scalar_one() == (
            "THING-0"
        )


def test_online_migrations_max_count_spans_migrations_and_says_when_to_rerun(
    things: sa.Engine,
) -> None:
    first = fill_upper_for(things, "id <= 20")
    second = fill_upper_for(things, "id > 20")
    second.__name__ = "fill_upper_rest"
    out: list[str] = []
    # 30 rows: all 20 of the first, 10 of the second; more to do, so status 1.
    assert manage.online_data_migrations(30, [first, second], out.append) == 1
    assert out[:2] == [
        "20 rows matched query fill_upper, 20 migrated",
        "100 rows matched query fill_upper_rest, 10 migrated",
    ]
    assert _remaining(things) == 90
    statuses = []
    while not statuses or statuses[-1] == 1:
        statuses.append(manage.online_data_migrations(40, [first, second], lambda _: None))
    assert statuses == [1, 1, 1, 0]
    assert _remaining(things) == 0


def test_a_failing_online_migration_is_reported(things: sa.Engine) -> None:
    def broken(count: int) -> tuple[int, int]:
        raise RuntimeError("cannot")

    out: list[str] = []
    assert manage.online_data_migrations(None, [broken, fill_upper_for(things)], out.append) == 2
    assert "Error attempting to run broken" in out
    assert out[-1] == "Some migrations failed unexpectedly. Check the log for details."
    assert _remaining(things) == 0  # the others still ran
    # With --max-count, progress elsewhere means "run again" (1), none means failure (2).
    with things.begin() as conn:
        conn.execute(sa.text("UPDATE things SET upper = NULL WHERE id <= 5"))
    assert manage.online_data_migrations(50, [broken, fill_upper_for(things)], out.append) == 1
    assert manage.online_data_migrations(50, [broken, fill_upper_for(things)], out.append) == 2
