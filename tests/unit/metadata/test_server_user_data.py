"""User data and the config drive in server creates: the request model's limits, and
what the compute API hands the conductor (real SQLite, a recording RPC client: no
compute host runs in a unit test)."""

from __future__ import annotations

import base64

import pytest
from pydantic import ValidationError

from stratus.api.compute import common, schemas
from stratus.api.errors import BadRequest
from stratus.compute import api as compute
from stratus.conductor.manager import instance_dict
from stratus.conf import CONF
from stratus.db import instances as db_instances
from stratus.db.session import transaction
from tests.unit.compute.test_compute_api import Context, api, bootable  # noqa: F401

BASE = {"name": "s", "flavorRef": "1", "imageRef": "i"}


def test_user_data_at_the_limit_is_accepted() -> None:
    text = base64.b64encode(b"x" * 49149).decode()  # 65532 characters of base64
    assert len(text) <= schemas.USER_DATA_MAX_LENGTH
    assert schemas.ServerCreate.model_validate({**BASE, "user_data": text}).user_data == text


@pytest.mark.parametrize(
    "user_data",
    [
        base64.b64encode(b"x" * 49152).decode(),  # 65536 characters
        "not base64 at all!",
        "YWJ",  # bad padding
    ],
)
def test_bad_user_data_is_a_400_naming_the_field(user_data: str) -> None:
    with pytest.raises(ValidationError):
        schemas.ServerCreate.model_validate({**BASE, "user_data": user_data})
    with pytest.raises(BadRequest, match=r"server\.user_data"):
        common.validate(schemas.ServerCreate, {**BASE, "user_data": user_data}, "server")


def test_create_hands_over_config_drive_and_metadata(api: compute.API, bootable: None) -> None:  # noqa: F811
    created, _ = api.create(
        Context(),
        name="vm",
        flavor_ref="f1",
        image_ref="img",
        metadata={"role": "web"},
        user_data=base64.b64encode(b"#!/bin/sh\n").decode(),
        config_drive=True,
    )
    [(_, (_, spec), _)] = api.conductor_rpcapi.calls
    assert spec["config_drive"] is True and spec["metadata"] == {"role": "web"}
    with transaction() as session:
        payload = instance_dict(db_instances.row(session, created[0].uuid))
    assert payload["config_drive"] is True
    assert payload["metadata"] == {"role": "web"}
    assert payload["user_data"] == base64.b64encode(b"#!/bin/sh\n").decode()
    assert (payload["launch_index"], payload["key_name"]) == (0, None)


def test_force_config_drive(api: compute.API, bootable: None) -> None:  # noqa: F811
    api.create(Context(), name="plain", flavor_ref="f1", image_ref="img")
    CONF.set_override("force_config_drive", True, "compute")
    try:
        api.create(Context(), name="forced", flavor_ref="f1", image_ref="img")
    finally:
        CONF.clear_override("force_config_drive", "compute")
    assert [c[1][1]["config_drive"] for c in api.conductor_rpcapi.calls] == [False, True]
