"""The password a guest posts to the metadata service (``openstack/<version>/password``)
and the Compute API's ``os-server-password`` reads and clears.

The guest (cloudbase-init, for one) encrypts a generated password with the public
key it was given and posts the base64 of it, once; the owner reads it through the
Compute API and decrypts it with the private key. It belongs to the instance, in
its own column, never in the server's metadata, and it is read from the database
on every request (the metadata service keeps no copy of it).
"""

from __future__ import annotations

import sqlalchemy as sa

from stratus.db.models import Instance
from stratus.db.session import transaction

# The most a guest may post, as Nova takes it (four chunks of 255 characters).
MAX_SIZE = 4 * 255


class AlreadySet(Exception):
    """The instance has a password already (409)."""


class BadPassword(ValueError):
    """The posted password is over MAX_SIZE bytes, or not text (400)."""


class InstanceGone(LookupError):
    """No such live instance."""


def _live(uuid: str) -> sa.ColumnElement[bool]:
    return sa.and_(Instance.uuid == uuid, Instance.deleted.is_(False))


def get(instance_uuid: str) -> str:
    """The stored password, "" when there is none."""
    with transaction() as session:
        stored = session.scalar(sa.select(Instance.password).where(_live(instance_uuid)))
    return stored or ""


def set_once(instance_uuid: str, password: bytes) -> None:
    """Store what the guest posted, unless a password is set already (AlreadySet)
    or it is over MAX_SIZE bytes or not text (BadPassword). One conditional UPDATE, so
    that of two posts at once only one wins."""
    if len(password) > MAX_SIZE:
        raise BadPassword(f"Request is too large: the password is at most {MAX_SIZE} bytes.")
    try:
        text = password.decode()
    except UnicodeDecodeError as exc:
        raise BadPassword("The password must be UTF-8 text (base64 of the ciphertext).") from exc
    unset = sa.or_(Instance.password.is_(None), Instance.password == "")
    with transaction() as session:
        done = session.execute(
            sa.update(Instance).where(_live(instance_uuid), unset).values(password=text)
        )
        if done.rowcount == 0:
            if session.scalar(sa.select(Instance.id).where(_live(instance_uuid))) is None:
                raise InstanceGone(instance_uuid)
            raise AlreadySet(instance_uuid)


def clear(instance_uuid: str) -> None:
    """Forget the password; the guest may post a new one."""
    with transaction() as session:
        session.execute(sa.update(Instance).where(_live(instance_uuid)).values(password=None))
