"""module_utils/stratus_module.py: paging and waiting of the module base."""

from __future__ import annotations

from tests.unit.modules.conftest import FakeAPI

from ansible.module_utils.stratus_module import next_marker  # isort: skip


def test_next_marker_reads_the_compute_next_link() -> None:
    links = [{"rel": "next", "href": "http://x/compute/v2.1/servers/detail?limit=2&marker=abc"}]
    assert next_marker(links) == "abc"
    assert next_marker([]) is None


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
