"""The in-memory fake driver: same interface and power rules as libvirt, no guests."""

from __future__ import annotations

import uuid

import pytest
from oslo_config import cfg

from stratus import conf as stratus_conf
from stratus.compute import states
from stratus.compute.virt import load_driver
from stratus.compute.virt.driver import (
    ComputeDriver,
    InjectedFault,
    InstanceExists,
    InstanceNotFound,
    InvalidPowerState,
    SpawnFailed,
)
from stratus.compute.virt.fake import FakeDriver


def _instance(**extra: object) -> dict[str, object]:
    u = str(uuid.uuid4())
    return {
        "uuid": u,
        "name": f"instance-{u[:8]}",
        "vcpus": 2,
        "memory_mb": 512,
        "root_gb": 1,
        "image_ref": "img",
        "hostname": "guest-one",
        **extra,
    }


@pytest.fixture
def driver() -> FakeDriver:
    d = FakeDriver("fake-node-1", vcpus=8, memory_mb=4096, local_gb=100)
    d.init_host()
    return d


def test_is_a_compute_driver(driver: FakeDriver) -> None:
    assert isinstance(driver, ComputeDriver)
    assert driver.initialized


def test_host_info_reports_sizes_and_usage(driver: FakeDriver) -> None:
    info = driver.get_host_info()
    assert info["hypervisor_hostname"] == "fake-node-1"
    assert (info["vcpus"], info["memory_mb"], info["local_gb"]) == (8, 4096, 100)
    assert info["vcpus_used"] == 0
    assert isinstance(info["hypervisor_version"], int)
    assert info["cpu_info"]["arch"] == info["arch"] == "x86_64"
    driver.spawn(_instance(), {}, {"disk": "/nonexistent"})
    info = driver.get_host_info()
    assert (info["vcpus_used"], info["memory_mb_used"], info["local_gb_used"]) == (2, 512, 1)
    assert info["running_vms"] == 1


def test_spawn_and_console_marker(driver: FakeDriver) -> None:
    inst = _instance()
    driver.spawn(inst, {"disk_format": "qcow2"}, {"disk": "/x"})
    assert driver.list_instances() == {inst["uuid"]: states.RUNNING}
    assert driver.instance_exists(inst)
    out = driver.get_console_output(inst)
    assert f"STRATUS-GUEST-READY {inst['uuid']}" in out
    assert "STRATUS-GUEST-HOSTNAME guest-one" in out
    # Nova's count: the log ends with a newline, so its last line is the empty one.
    assert driver.get_console_output(inst, 1) == ""
    assert driver.get_console_output(inst, 2) == f"STRATUS-GUEST-READY {inst['uuid']}\n"
    with pytest.raises(InstanceExists):
        driver.spawn(inst, {}, {"disk": "/x"})


def test_power_cycle_rules(driver: FakeDriver) -> None:
    inst = _instance()
    driver.spawn(inst, {}, {"disk": "/x"})
    driver.pause(inst)
    assert driver.get_power_state(inst) == states.POWER_PAUSED
    with pytest.raises(InvalidPowerState):
        driver.pause(inst)
    driver.unpause(inst)
    driver.suspend(inst)
    assert driver.get_power_state(inst) == states.POWER_SUSPENDED
    with pytest.raises(InvalidPowerState):
        driver.unpause(inst)
    driver.resume(inst)
    assert driver.get_power_state(inst) == states.RUNNING
    driver.power_off(inst)
    assert driver.get_power_state(inst) == states.SHUTDOWN
    with pytest.raises(InvalidPowerState):
        driver.pause(inst)
    driver.power_on(inst)
    assert driver.get_power_state(inst) == states.RUNNING
    driver.reboot(inst, hard=False)
    driver.reboot(inst, hard=True)
    assert driver.get_console_output(inst).count("STRATUS-GUEST-READY") == 4
    assert "STRATUS-GUEST-POWEROFF" in driver.get_console_output(inst)


def test_destroy_is_idempotent(driver: FakeDriver) -> None:
    inst = _instance()
    driver.spawn(inst, {}, {"disk": "/x"})
    driver.destroy(inst)
    driver.destroy(inst)
    assert driver.list_instances() == {}
    assert driver.get_power_state(inst) == states.NOSTATE
    with pytest.raises(InstanceNotFound):
        driver.reboot(inst)


def test_fault_injection(driver: FakeDriver) -> None:
    driver.fault_inject_spawn = True
    with pytest.raises(InjectedFault) as err:
        driver.spawn(_instance(), {}, {"disk": "/x"})
    assert err.value.retryable
    assert driver.list_instances() == {}


def test_a_config_drive_is_refused_not_ignored(driver: FakeDriver) -> None:
    with pytest.raises(SpawnFailed) as err:
        driver.spawn(_instance(config_drive=True), {}, {"disk": "/x"})
    assert "config drive" in err.value.reason and err.value.retryable
    assert driver.list_instances() == {}


def test_many_nodes_in_one_process() -> None:
    nodes = [FakeDriver(f"fake-{i}", vcpus=4) for i in range(50)]
    inst = _instance()
    nodes[7].spawn(inst, {}, {"disk": "/x"})
    assert [n.hostname for n in nodes if n.list_instances()] == ["fake-7"]
    assert {n.get_host_info()["hypervisor_hostname"] for n in nodes} == {
        f"fake-{i}" for i in range(50)
    }


def test_load_driver_from_config() -> None:
    conf = cfg.ConfigOpts()
    stratus_conf.register_opts(conf)
    conf([], default_config_files=[])
    conf.set_override("compute_driver", "fake", "compute")
    conf.set_override("fake_vcpus", 3, "compute")
    conf.set_override("fault_inject_spawn", True, "compute")
    driver = load_driver(conf, hostname="fake-from-conf")
    assert isinstance(driver, FakeDriver)
    assert driver.get_host_info()["vcpus"] == 3
    assert driver.get_host_info()["hypervisor_hostname"] == "fake-from-conf"
    with pytest.raises(InjectedFault):
        driver.spawn(_instance(), {}, {"disk": "/x"})
