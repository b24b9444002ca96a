"""module_utils/stratus_module.py: paging and waiting of the module base."""

from __future__ import annotations

import pytest

from tests.unit.modules.conftest import FakeAPI

from ansible.module_utils.stratus_errors import StratusError  # isort: skip
from ansible.module_utils.stratus_module import next_marker, only_one  # isort: skip


def test_next_marker_reads_the_compute_next_link() -> None:
    links = [{"rel": "next", "href": "http://x/compute/v2.1/servers/detail?limit=2&marker=abc"}]
    assert next_marker(links) == "abc"
    assert next_marker([]) is None


def test_only_one_of_a_name() -> None:
    web = {"id": "b2", "name": "web"}
    assert only_one([web], "server group", "web") is web
    assert only_one([], "server group", "web") is None
    with pytest.raises(StratusError, match=r"Unknown kernel image 'k': no image has this name"):
        only_one([], "image", "k", required=True, what="kernel image")
    with pytest.raises(StratusError, match=r"2 server groups named 'web' \(a1, b2\): give the id"):
        only_one([web, {"id": "a1", "name": "web"}], "server group", "web")


def test_wait_times_out_with_the_last_status_and_fault(run) -> None:  # noqa: ANN001
    """Fakes the HTTP layer: a server stays in BUILD with a fault recorded."""
    server = {
        "server": {
            "id": "3f2a",
            "name": "slow",
            "status": "BUILD",
            "OS-EXT-STS:task_state": "spawning",
            "fault": {"message": "disk image is being fetched"},
            "flavor": {"original_name": "small"},
            "image": {"id": "i"},
            "metadata": {},
        }
    }
    api = FakeAPI(
        {
            ("GET", "/servers/detail"): {"servers": [server["server"]]},
            ("GET", "/servers/3f2a"): server,
        }
    )
    result = run("stratus_server", {"name": "slow", "timeout": 0}, api)
    assert result["failed"]
    assert "Timed out after 0 s waiting for server 'slow' to be built" in result["msg"]
    assert "status BUILD, task spawning, fault: disk image is being fetched" in result["msg"]
