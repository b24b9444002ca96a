"""What ``stratus-manage`` does, as functions (also used by tests and roles)."""

from __future__ import annotations

from stratus.api.identity.fernet import KeyRepository
from stratus.api.identity.passwords import check_password, hash_password
from stratus.conf import CONF
from stratus.db import identity as db_identity
from stratus.db import migration
from stratus.db.models import Domain, Project, Role, RoleAssignment, User
from stratus.db.session import get_engine, transaction

ROLES = ("admin", "member", "reader")
# Path of each service's API below the public root.
CATALOG = (
    ("identity", "keystone", "/identity/v3"),
    ("compute", "nova", "/compute/v2.1"),
    ("image", "glance", "/image"),
)


def db_sync() -> str:
    before = migration.current(get_engine())
    migration.sync(get_engine())
    after = migration.current(get_engine())
    return f"database at {after}" + ("" if before == after else f" (was {before})")


def db_version() -> str:
    return str(migration.current(get_engine()))


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
