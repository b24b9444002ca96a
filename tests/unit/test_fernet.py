"""Fernet tokens and key rotation."""

import time
from pathlib import Path

import pytest

from stratus.api.identity.fernet import KeyRepository, TokenError, TokenFormatter
from stratus.api.identity.passwords import check_password, hash_password


def test_setup_is_idempotent_and_private(tmp_path: Path) -> None:
    repo = KeyRepository(tmp_path / "keys")
    assert repo.setup() is True
    assert repo.setup() is False
    assert sorted(p.name for p in (tmp_path / "keys").iterdir()) == ["0", "1"]
    assert all(p.stat().st_mode & 0o777 == 0o600 for p in (tmp_path / "keys").iterdir())


def test_round_trip_and_rotation_keeps_old_tokens_valid(tmp_path: Path) -> None:
    repo = KeyRepository(tmp_path / "keys", max_active_keys=3)
    repo.setup()
    formatter = TokenFormatter(repo, 60)
    old, payload = formatter.issue("user", "project", ["password"])
    assert formatter.validate(old) == payload
    repo.rotate()
    assert sorted(int(p.name) for p in (tmp_path / "keys").iterdir()) == [0, 1, 2]
    assert TokenFormatter(repo, 60).validate(old).user_id == "user"
    repo.rotate()
    repo.rotate()
    assert sorted(int(p.name) for p in (tmp_path / "keys").iterdir()) == [0, 3, 4]
    with pytest.raises(TokenError):
        TokenFormatter(repo, 60).validate(old)


def test_tampered_and_expired_tokens_fail(tmp_path: Path) -> None:
    repo = KeyRepository(tmp_path / "keys")
    repo.setup()
    token, _ = TokenFormatter(repo, 60).issue("u", None, ["password"])
    with pytest.raises(TokenError, match="not valid"):
        TokenFormatter(repo, 60).validate(token[:-4] + "AAAA")
    short, _ = TokenFormatter(repo, 1).issue("u", None, ["password"])
    time.sleep(2.05)
    with pytest.raises(TokenError, match="expired"):
        TokenFormatter(repo, 1).validate(short)


def test_passwords_are_hashed_slowly() -> None:
    hashed = hash_password("s3cret", 4)
    assert hashed.startswith("$2b$04$") and "s3cret" not in hashed
    assert check_password("s3cret", hashed)
    assert not check_password("wrong", hashed)
    assert not check_password("x" * 73, hashed)
