"""What ``stratus-manage`` does, as functions (also used by tests and roles)."""

from __future__ import annotations

import datetime as dt
import logging
import warnings
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points
from typing import Any

from oslo_config import cfg

from stratus.api.identity.fernet import KeyRepository
from stratus.api.identity.passwords import check_password, hash_password
from stratus.conf import CONF
from stratus.db import identity as db_identity
from stratus.db import migration
from stratus.db import online_migrations as db_online_migrations
from stratus.db import services as db_services
from stratus.db.models import Domain, Project, Role, RoleAssignment, User
from stratus.db.session import get_engine, transaction

LOG = logging.getLogger(__name__)

ROLES = ("admin", "member", "reader")
# Path of each service's API below the public root.
CATALOG = (
    ("identity", "keystone", "/identity/v3"),
    ("compute", "nova", "/compute/v2.1"),
    ("image", "glance", "/image"),
    ("network", "stratus-network", "/networking"),
)


def db_sync() -> str:
    before = migration.current(get_engine())
    migration.sync(get_engine())
    after = migration.current(get_engine())
    return f"database at {after}" + ("" if before == after else f" (was {before})")


def db_version() -> str:
    return str(migration.current(get_engine()))


def _updated_at(value: dt.datetime | None) -> str:
    return value.isoformat(sep=" ", timespec="seconds") if value else "-"


def service_list(host: str | None = None) -> str:
    """The services table, as ``nova-manage service list`` prints it; ``State`` is
    up or down by the rule the API's os-services uses (``db.services.is_up``)."""
    with transaction() as session:
        zones = db_services.host_zones(session)
        rows = [
            [
                service.binary,
                service.host,
                db_services.zone_of(service, zones),
                "disabled" if service.disabled else "enabled",
                "up" if db_services.is_up(service) else "down",
                _updated_at(service.updated_at or service.created_at),
            ]
            for service in db_services.list_services(session, host=host)
        ]
    return format_table(["Binary", "Host", "Zone", "Status", "State", "Updated_At"], rows)


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A table with borders, as PrettyTable (and so nova-manage) draws it."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(str(h)), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    rule = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def line(values: Sequence[str], align: Callable[[str, int], str]) -> str:
        return "| " + " | ".join(align(v, w) for v, w in zip(values, widths, strict=True)) + " |"

    out = [rule, line([str(h) for h in headers], str.center), rule]
    out += [line(r, str.ljust) for r in cells]
    if cells:
        out.append(rule)
    return "\n".join(out)


# Batch size of online data migrations without --max-count, as in Nova.
ONLINE_MIGRATION_BATCH = 50


def _run_online_migrations(
    migrations: Sequence[db_online_migrations.OnlineMigration],
    max_count: int,
    write: Callable[[str], None],
) -> tuple[dict[str, tuple[int, int]], bool]:
    """One batch: each migration in turn until ``max_count`` rows are done."""
    done_here = 0
    failed = False
    results: dict[str, tuple[int, int]] = {}
    for function in migrations:
        name = function.__name__
        try:
            found, done = function(max_count - done_here)
        except Exception:
            write(f"Error attempting to run {name}")
            LOG.exception("online data migration %s failed", name)
            failed, found, done = True, 0, 0
        if found:
            write(f"{found} rows matched query {name}, {done} migrated")
        results[name] = (found, done)
        done_here += done
        if done_here >= max_count:
            break
    return results, failed


def online_data_migrations(
    max_count: int | None = None,
    migrations: Sequence[db_online_migrations.OnlineMigration] | None = None,
    write: Callable[[str], None] = print,
) -> int:
    """Run the online data migrations, as ``nova-manage db online_data_migrations``.

    Without ``max_count``, batches of ``ONLINE_MIGRATION_BATCH`` rows run until a
    batch migrates nothing; with it, one batch of at most ``max_count`` rows.
    Prints each batch's counts and a summary table: per migration, the rows that
    needed migrating when it first ran (``Total Needed``) and the rows it
    migrated (``Completed``). Returns the exit status:
    0 when nothing is left to do, 1 when ``max_count`` stopped it with rows
    migrated (run it again), 2 when migrations failed (and, with ``max_count``,
    no other one made progress).
    """
    migrations = db_online_migrations.MIGRATIONS if migrations is None else migrations
    if not migrations:
        write("No online data migrations are registered: nothing to do.")
        return 0
    unlimited = max_count is None
    batch = ONLINE_MIGRATION_BATCH if max_count is None else max_count
    if unlimited:
        write(f"Running batches of {batch} until complete")
    totals: dict[str, tuple[int, int]] = {}
    while True:
        results, failed = _run_online_migrations(migrations, batch, write)
        migrated = 0
        for name, (found, done) in results.items():
            needed, completed = totals.get(name, (found, 0))
            totals[name] = (needed, completed + done)
            migrated += done
        if not unlimited or not migrated:
            break
    write(
        format_table(
            ["Migration", "Total Needed", "Completed"],
            [[name, *totals[name]] for name in sorted(totals)],
        )
    )
    if failed and (unlimited or not migrated):
        write("Some migrations failed unexpectedly. Check the log for details.")
        return 2
    return 1 if migrated else 0


# The option namespaces of etc/stratus/config-generator.conf: the options the
# services read, whichever library registers them.
CONFIG_NAMESPACES = ("stratus", "oslo.messaging", "oslo.policy")


def register_all_opts(conf: cfg.ConfigOpts = CONF) -> None:
    """Register every option of ``CONFIG_NAMESPACES`` (libraries register theirs
    only when used), through the entry points that oslo-config-generator reads."""
    # oslo.messaging's drivers load oslo.service's eventlet backend on import,
    # which logs that and warns that eventlet is deprecated: neither is news here.
    quiet = logging.getLogger("oslo_service")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for namespace in CONFIG_NAMESPACES:
                (entry_point,) = entry_points(group="oslo.config.opts", name=namespace)
                for group, opts in entry_point.load()():
                    conf.register_opts(opts, group=group)
    finally:
        quiet.setLevel(level)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def config_list() -> str:
    """Every option as ``group.option = value``, secrets as oslo.config logs them
    (``****``), sorted; the options of [DEFAULT] as ``DEFAULT.option``."""
    register_all_opts()
    logger = logging.Logger("stratus.manage.config")
    handler = _Lines()
    logger.addHandler(handler)
    CONF.log_opt_values(logger, logging.INFO)
    # A header up to a line of "=", then one line per option, then a line of "*".
    start = next(i for i, text in enumerate(handler.lines) if set(text) == {"="})
    options = []
    for text in handler.lines[start + 1 : -1]:
        name, value = (part.strip() for part in text.split(" = ", 1))
        group, _, option = name.rpartition(".")
        options.append((group or "DEFAULT", option, value))
    options.sort(key=lambda o: (o[0] != "DEFAULT", o[0], o[1]))
    return "\n".join(f"{group}.{option} = {value}".rstrip() for group, option, value in options)


def _keys() -> KeyRepository:
    return KeyRepository(CONF.identity.key_repository, CONF.identity.max_active_keys)


def fernet_setup() -> str:
    created = _keys().setup()
    return f"{'created' if created else 'kept'} Fernet keys in {CONF.identity.key_repository}"


def fernet_rotate() -> str:
    _keys().rotate()
    return f"rotated Fernet keys in {CONF.identity.key_repository}"


def bootstrap(
    *,
    password: str,
    username: str,
    project_name: str,
    admin_role: str,
    region: str,
    urls: dict[str, str],
) -> str:
    """Idempotently create the default domain, the admin project and user, the
    standard roles, the admin's role assignment and the catalog."""
    changed: list[str] = []
    with transaction() as session:
        domain_id = CONF.identity.default_domain
        if session.get(Domain, domain_id) is None:
            session.add(Domain(id=domain_id, name="Default", description="The default domain"))
            changed.append("domain")
        session.flush()
        project = db_identity.find_project(session, project_name, domain_id)
        if project is None:
            project = Project(
                name=project_name,
                domain_id=domain_id,
                description="Bootstrap project for the cloud administrators",
            )
            session.add(project)
            changed.append("project")
        user = db_identity.find_user(session, username, domain_id)
        if user is None:
            user = User(name=username, domain_id=domain_id)
            session.add(user)
            changed.append("user")
        if not check_password(password, user.password_hash):
            user.password_hash = hash_password(password, CONF.identity.password_hash_rounds)
            changed.append("password")
        user.default_project_id = None
        session.flush()
        user.default_project_id = project.id
        for name in dict.fromkeys((*ROLES, admin_role)):
            if db_identity.find_role(session, name) is None:
                session.add(Role(name=name))
                changed.append(f"role {name}")
        session.flush()
        role = db_identity.find_role(session, admin_role)
        if session.get(RoleAssignment, (user.id, project.id, role.id)) is None:
            session.add(RoleAssignment(user_id=user.id, project_id=project.id, role_id=role.id))
            changed.append("assignment")
        for service_type, name, path in CATALOG:
            for interface, root in urls.items():
                endpoint, endpoint_changed = db_identity.ensure_endpoint(
                    session, service_type, name, root.rstrip("/") + path, region, interface
                )
                if endpoint_changed:
                    changed.append(f"{interface} {service_type} endpoint {endpoint.url}")
    return "bootstrap: " + (
        "created or updated " + ", ".join(changed) if changed else "nothing to change"
    )
