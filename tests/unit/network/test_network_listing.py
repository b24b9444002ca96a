"""The one listing implementation of the Networking API: filters, sorting, paging."""

from __future__ import annotations

import pytest
from starlette.datastructures import QueryParams

from stratus.api.network.listing import listing
from stratus.network.exceptions import InvalidInput

ITEMS = [
    {"id": f"id-{n}", "name": f"net-{n % 3}", "shared": n % 2 == 0, "mtu": 1400 + n, "tags": []}
    for n in range(7)
]
KNOWN = {"id", "name", "shared", "mtu", "tags"}
URL = "http://api/networking/v2.0/networks"


def run(query: str) -> dict:
    return listing([dict(i) for i in ITEMS], QueryParams(query), "networks", URL, KNOWN)


def test_filters_are_or_within_a_name_and_and_across_names() -> None:
    names = {i["id"] for i in run("name=net-0&name=net-1")["networks"]}
    assert names == {"id-0", "id-1", "id-3", "id-4", "id-6"}
    both = {i["id"] for i in run("name=net-0&name=net-1&shared=True")["networks"]}
    assert both == {"id-0", "id-4", "id-6"}
    assert [i["id"] for i in run("mtu=1402")["networks"]] == ["id-2"]
    with pytest.raises(InvalidInput, match="colour"):
        run("colour=red")


def test_sorting_by_several_keys() -> None:
    got = [
        i["id"] for i in run("sort_key=name&sort_dir=desc&sort_key=mtu&sort_dir=asc")["networks"]
    ]
    assert got == ["id-2", "id-5", "id-1", "id-4", "id-0", "id-3", "id-6"]
    with pytest.raises(InvalidInput, match="sort_dir"):
        run("sort_key=name&sort_key=mtu&sort_dir=asc")
    with pytest.raises(InvalidInput, match="sort_key"):
        run("sort_key=colour")


def test_paging_forward_and_back_with_links() -> None:
    first = run("limit=3&sort_key=mtu")
    assert [i["id"] for i in first["networks"]] == ["id-0", "id-1", "id-2"]
    (next_link,) = first["networks_links"]
    assert next_link["rel"] == "next" and "marker=id-2" in next_link["href"]
    second = run("limit=3&sort_key=mtu&marker=id-2")
    assert [i["id"] for i in second["networks"]] == ["id-3", "id-4", "id-5"]
    assert {link["rel"] for link in second["networks_links"]} == {"next", "previous"}
    last = run("limit=3&sort_key=mtu&marker=id-5")
    assert [i["id"] for i in last["networks"]] == ["id-6"]
    assert [link["rel"] for link in last["networks_links"]] == ["previous"]
    back = run("limit=3&sort_key=mtu&marker=id-3&page_reverse=True")
    assert [i["id"] for i in back["networks"]] == ["id-0", "id-1", "id-2"]
    assert [link["rel"] for link in back["networks_links"]] == ["next"]
    assert "networks_links" not in run("sort_key=mtu")
    with pytest.raises(InvalidInput, match="marker"):
        run("limit=2&marker=nope")


def test_fields() -> None:
    got = run("fields=id&fields=mtu&limit=1")["networks"]
    assert got == [{"id": "id-0", "mtu": 1400}]
