"""Fernet tokens and their key repository (``stratus-manage fernet setup/rotate``).

Keys are files named by integers, as in Keystone: ``0`` is the staged key, the
highest number is the primary that encrypts, and every key decrypts.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class TokenError(Exception):
    """A token that is malformed, expired, or made with an unknown key."""


@dataclass(frozen=True)
class TokenPayload:
    user_id: str
    project_id: str | None
    methods: tuple[str, ...]
    issued_at: dt.datetime
    expires_at: dt.datetime
    audit_id: str


class KeyRepository:
    def __init__(self, path: str | os.PathLike[str], max_active_keys: int = 3) -> None:
        self.path = Path(path)
        self.max_active_keys = max_active_keys

    def _indexes(self) -> list[int]:
        if not self.path.is_dir():
            return []
        return sorted(int(p.name) for p in self.path.iterdir() if p.name.isdigit())

    def _write(self, index: int) -> None:
        target = self.path / str(index)
        tmp = self.path / f".{index}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key())
        os.replace(tmp, target)

    def setup(self) -> bool:
        """Create the repository with a staged and a primary key; False if it exists."""
        if self._indexes():
            return False
        self.path.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._write(0)
        self._write(1)
        return True

    def rotate(self) -> None:
        """Promote the staged key to primary, stage a new one, drop the oldest."""
        indexes = self._indexes()
        if not indexes:
            raise TokenError(f"no Fernet keys in {self.path}: run 'stratus-manage fernet setup'")
        os.replace(self.path / "0", self.path / str(indexes[-1] + 1))
        self._write(0)
        secondaries = [i for i in self._indexes() if i != 0][:-1]
        while len(secondaries) + 2 > self.max_active_keys:
            (self.path / str(secondaries.pop(0))).unlink()

    def load(self) -> MultiFernet:
        indexes = self._indexes()
        if not indexes:
            raise TokenError(f"no Fernet keys in {self.path}: run 'stratus-manage fernet setup'")
        # Primary (highest index) first: MultiFernet encrypts with the first key.
        ordered = sorted(indexes, key=lambda i: (i == 0, -i))
        return MultiFernet([Fernet((self.path / str(i)).read_bytes().strip()) for i in ordered])


class TokenFormatter:
    def __init__(self, repository: KeyRepository, expiration_s: int) -> None:
        self.repository = repository
        self.expiration = dt.timedelta(seconds=expiration_s)
        self._fernet: MultiFernet | None = None
        self._key_state: tuple[float, ...] | None = None

    def _crypto(self) -> MultiFernet:
        # Reload only when the key files changed (rotation on another node).
        state = tuple(p.stat().st_mtime for p in sorted(self.repository.path.glob("[0-9]*")))
        if self._fernet is None or state != self._key_state:
            self._fernet, self._key_state = self.repository.load(), state
        return self._fernet

    def issue(
        self,
        user_id: str,
        project_id: str | None,
        methods: list[str],
        expires_at: dt.datetime | None = None,
    ) -> tuple[str, TokenPayload]:
        """A token for the user and project; ``expires_at`` (a rescoped token keeps
        the expiry of the token it came from) defaults to now plus the lifetime."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        payload = TokenPayload(
            user_id,
            project_id,
            tuple(methods),
            now,
            expires_at or now + self.expiration,
            secrets.token_urlsafe(16)[:22],
        )
        body = json.dumps(
            [
                payload.user_id,
                payload.project_id,
                list(payload.methods),
                int(now.timestamp()),
                int(payload.expires_at.timestamp()),
                payload.audit_id,
            ],
            separators=(",", ":"),
        ).encode()
        return self._crypto().encrypt(body).decode().rstrip("="), payload

    def validate(self, token: str) -> TokenPayload:
        padded = token + "=" * (-len(token) % 4)
        try:
            raw = self._crypto().decrypt(padded.encode())
            user_id, project_id, methods, issued, expires, audit_id = json.loads(raw)
        except (InvalidToken, ValueError, TypeError) as exc:
            raise TokenError("The token is not valid.") from exc
        to_dt = dt.datetime.fromtimestamp
        payload = TokenPayload(
            user_id,
            project_id,
            tuple(methods),
            to_dt(issued, dt.UTC).replace(tzinfo=None),
            to_dt(expires, dt.UTC).replace(tzinfo=None),
            audit_id,
        )
        if payload.expires_at <= dt.datetime.now(dt.UTC).replace(tzinfo=None):
            raise TokenError("The token has expired.")
        return payload
