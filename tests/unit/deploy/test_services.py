"""Which services a run restarts, and the names the machines' services register under."""

from __future__ import annotations

from typing import Any

import pytest

from stratus.deploy.services import changed, service_hosts, services_to_restart

CONF = "/etc/stratus/stratus.conf"
SERVICES = {
    "stratus-api": {"config_files": [CONF]},
    "stratus-scheduler": {"config_files": [CONF]},
    "stratus-metadata": {"config_files": ["/etc/stratus/metadata.conf"]},
    "stratus-compute": {},
}


def loop(**changed_by_name: bool) -> dict[str, Any]:
    """A registered loop over ``service`` items, as Ansible records it."""
    return {
        "changed": any(changed_by_name.values()),
        "results": [
            {"changed": flag, "service": {"key": name, "value": SERVICES[name]}}
            for name, flag in changed_by_name.items()
        ],
    }


def installed(*names: str) -> dict[str, Any]:
    """The stat loop: every service of SERVICES, those in ``names`` present."""
    return {
        "changed": False,
        "results": [
            {
                "changed": False,
                "stat": {"exists": name in names},
                "service": {"key": name, "value": value},
            }
            for name, value in SERVICES.items()
        ],
    }


ALL = installed("stratus-api", "stratus-scheduler", "stratus-metadata", "stratus-compute")


def test_nothing_changed_restarts_nothing() -> None:
    assert services_to_restart(ALL, config_file=CONF) == []
    assert services_to_restart(ALL, code={"changed": False}, config={"changed": False}) == []


def test_new_code_restarts_every_installed_service_but_those_just_started() -> None:
    started = loop(**{"stratus-api": True, "stratus-scheduler": False})
    restart = services_to_restart(
        installed("stratus-api", "stratus-scheduler", "stratus-compute"),
        code={"changed": True},
        started=started,
    )
    assert restart == ["stratus-scheduler", "stratus-compute"]


def test_a_changed_config_file_restarts_the_services_that_read_it() -> None:
    restart = services_to_restart(ALL, config={"changed": True}, config_file=CONF)
    assert restart == ["stratus-api", "stratus-scheduler"]
    other = services_to_restart(ALL, config={"changed": True}, config_file="/etc/other.conf")
    assert other == []


def test_a_rewritten_definition_restarts_that_service() -> None:
    definitions = loop(**{"stratus-metadata": True, "stratus-api": False})
    assert services_to_restart(ALL, definitions=definitions) == ["stratus-metadata"]


def test_services_not_installed_here_are_never_restarted() -> None:
    restart = services_to_restart(
        installed("stratus-compute"), code={"changed": True}, config={"changed": True},
        config_file=CONF,
    )  # fmt: skip
    assert restart == ["stratus-compute"]


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (None, False),
        ({}, False),
        ({"changed": True}, True),
        ({"changed": False, "results": [{"changed": True}]}, False),
        ({"skipped": True}, False),
        ({"results": [{"changed": False}, {"changed": True}]}, True),
        ({"results": [{"changed": False}]}, False),
    ],
)
def test_changed_is_ansible_s_test(result: Any, expected: bool) -> None:
    assert changed(result) is expected


def test_service_hosts_fall_back_to_the_inventory_name() -> None:
    hostvars = {"c1": {"stratus_common_host": "compute-one"}, "c2": {"other": 1}}
    assert service_hosts(["c1", "c2"], hostvars) == ["compute-one", "c2"]
