"""The Image API v2 through the real ``openstack`` CLI, openstacksdk and raw HTTP, on
SQLite and on MariaDB: image lifecycle, data upload and download, content
inspection, the AMI formats, listing, JSON patches, visibility and policy, failed
uploads, the size cap and the memory an upload costs."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cloud import ADMIN_PASSWORD, ControlPlane

V2 = "/image/v2"
PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
OCTETS = {"Content-Type": "application/octet-stream"}
MIB = 1 << 20


# --- helpers ---------------------------------------------------------------------------


def create(client: httpx.Client, expect: int = 201, **body: Any) -> dict[str, Any]:
    response = client.post(f"{V2}/images", json=body)
    assert response.status_code == expect, response.text
    return response.json()


def upload(client: httpx.Client, image_id: str, data: Any, expect: int = 204) -> httpx.Response:
    response = client.put(f"{V2}/images/{image_id}/file", content=data, headers=OCTETS)
    assert response.status_code == expect, response.text
    return response


def show(client: httpx.Client, image_id: str) -> dict[str, Any]:
    response = client.get(f"{V2}/images/{image_id}")
    assert response.status_code == 200, response.text
    return response.json()


def patch(
    client: httpx.Client, image_id: str, ops: list[dict[str, Any]], expect: int = 200
) -> dict[str, Any]:
    response = client.patch(f"{V2}/images/{image_id}", content=json.dumps(ops), headers=PATCH)
    assert response.status_code == expect, response.text
    return response.json()


def error_message(response: httpx.Response) -> str:
    body = response.json()
    return next(iter(body.values()))["message"]


def store_files(cp: ControlPlane, image_id: str) -> list[str]:
    """The stored data and any partial upload of ``image_id`` in the file store."""
    store = cp.workdir / "images"
    if not store.is_dir():
        return []
    return [
        p.name for p in store.iterdir() if p.name == image_id or p.name.startswith(f".{image_id}.")
    ]


def wait_status(client: httpx.Client, image_id: str, status: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    current = None
    while time.monotonic() < deadline:
        current = show(client, image_id)["status"]
        if current == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"image {image_id} stayed {current!r}, expected {status!r}")


def names(client: httpx.Client, **params: Any) -> list[str]:
    response = client.get(f"{V2}/images", params=params)
    assert response.status_code == 200, response.text
    return [i["name"] for i in response.json()["images"]]


# --- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Small image files: a qcow2, a qcow2 with a backing file, raw data, AMI parts."""
    d = tmp_path_factory.mktemp("image-files")

    def qemu_img(*args: str) -> None:
        subprocess.run(["qemu-img", "create", "-q", *args], cwd=d, check=True)

    qemu_img("-f", "qcow2", "tiny.qcow2", "16M")
    (d / "base.raw").write_bytes(b"\0" * MIB)
    qemu_img("-f", "qcow2", "-b", "base.raw", "-F", "raw", "backed.qcow2")
    (d / "raw.img").write_bytes(bytes(range(256)) * 4096)
    (d / "kernel").write_bytes(b"kernel image " * 100)
    (d / "ramdisk").write_bytes(b"ramdisk image " * 100)
    return {p.stem if p.suffix != ".qcow2" else p.name: p for p in d.iterdir()}


@pytest.fixture(scope="module")
def admin(control_plane: ControlPlane) -> Iterator[httpx.Client]:
    with control_plane.client() as client:
        yield client


@pytest.fixture(scope="module")
def users(control_plane: ControlPlane, admin: httpx.Client) -> Iterator[dict[str, httpx.Client]]:
    """Members m1 (project ip1) and m2 (ip2), reader r1 (ip1), as HTTP clients."""
    identity = "/identity/v3"
    roles = {r["name"]: r["id"] for r in admin.get(f"{identity}/roles").json()["roles"]}
    projects = {}
    for name in ("ip1", "ip2"):
        response = admin.post(f"{identity}/projects", json={"project": {"name": name}})
        assert response.status_code == 201, response.text
        projects[name] = response.json()["project"]["id"]
    clients = {}
    for user, project, role in (
        ("m1", "ip1", "member"),
        ("m2", "ip2", "member"),
        ("r1", "ip1", "reader"),
    ):
        response = admin.post(
            f"{identity}/users", json={"user": {"name": f"img-{user}", "password": f"{user}-pw"}}
        )
        assert response.status_code == 201, response.text
        user_id = response.json()["user"]["id"]
        response = admin.put(
            f"{identity}/projects/{projects[project]}/users/{user_id}/roles/{roles[role]}"
        )
        assert response.status_code == 204, response.text
        token = control_plane.token(f"img-{user}", f"{user}-pw", project)
        clients[user] = control_plane.client(token)
    yield clients
    for client in clients.values():
        client.close()


# --- discovery and the real clients ----------------------------------------------------


def test_version_discovery(control_plane: ControlPlane) -> None:
    for path in ("/image", "/image/"):
        response = httpx.get(f"{control_plane.url}{path}")
        assert response.status_code == 300
        versions = response.json()["versions"]
        assert versions[0] == {
            "id": "v2.9",
            "status": "CURRENT",
            "links": [{"rel": "self", "href": f"{control_plane.url}/image/v2/"}],
        }
        assert {v["status"] for v in versions[1:]} == {"SUPPORTED"}


def test_cli_image_lifecycle(
    control_plane: ControlPlane, admin: httpx.Client, files: dict[str, Path], tmp_path: Path
) -> None:
    cp = control_plane
    other = create(admin, name="cli-other", disk_format="raw", container_format="bare")
    image = cp.openstack_json(
        "image",
        "create",
        "--disk-format",
        "qcow2",
        "--container-format",
        "bare",
        "--file",
        str(files["tiny.qcow2"]),
        "tiny",
    )
    assert (image["status"], image["disk_format"], image["visibility"]) == (
        "active",
        "qcow2",
        "shared",
    )
    data = files["tiny.qcow2"].read_bytes()
    assert image["checksum"] == hashlib.md5(data).hexdigest()
    assert image["size"] == len(data) and image["virtual_size"] == 16 * MIB
    assert store_files(cp, image["id"]) == [image["id"]]
    listed = {i["Name"]: i for i in cp.openstack_json("image", "list")}
    assert listed["tiny"]["Status"] == "active" and "cli-other" in listed

    cp.openstack(
        "image",
        "set",
        "--property",
        "architecture=x86_64",
        "--property",
        "hw_disk_bus=virtio",
        "--tag",
        "t1",
        "tiny",
    )
    filtered = cp.openstack_json("image", "list", "--property", "architecture=x86_64")
    assert [i["Name"] for i in filtered] == ["tiny"]
    # The same filter on the server side, as other clients send it.
    assert names(admin, architecture="x86_64") == ["tiny"]
    shown = cp.openstack_json("image", "show", "tiny")
    assert shown["properties"]["hw_disk_bus"] == "virtio" and shown["tags"] == ["t1"]
    cp.openstack("image", "unset", "--property", "hw_disk_bus", "tiny")
    after = show(admin, image["id"])
    assert "hw_disk_bus" not in after and after["architecture"] == "x86_64"

    out = tmp_path / "out.img"
    cp.openstack("image", "save", "--file", str(out), "tiny")
    assert out.read_bytes() == data

    cp.openstack("image", "set", "--protected", "tiny")
    refused = cp.openstack("image", "delete", "tiny", check=False)
    assert refused.returncode != 0 and "protected" in refused.stderr
    assert show(admin, image["id"])["protected"] is True
    cp.openstack("image", "set", "--unprotected", "tiny")
    cp.openstack("image", "delete", "tiny")
    assert admin.get(f"{V2}/images/{image['id']}").status_code == 404
    assert store_files(cp, image["id"]) == []
    assert admin.delete(f"{V2}/images/{other['id']}").status_code == 204


def test_openstacksdk_upload(control_plane: ControlPlane, files: dict[str, Path]) -> None:
    import openstack

    conn = openstack.connect(
        auth_url=f"{control_plane.url}/identity/v3",
        username="admin",
        password=ADMIN_PASSWORD,
        project_name="admin",
        user_domain_name="Default",
        project_domain_name="Default",
        interface="public",
    )
    try:
        path = files["tiny.qcow2"]
        with open(path, "rb") as data:
            image = conn.image.create_image(
                name="sdk-tiny", data=data, disk_format="qcow2", container_format="bare"
            )
        image = conn.image.get_image(image.id)
        content = path.read_bytes()
        assert image.status == "active"
        assert image.checksum == hashlib.md5(content).hexdigest()
        assert image.hash_algo == "sha512"
        assert image.hash_value == hashlib.sha512(content).hexdigest()
        assert conn.image.download_image(image).content == content
        second = conn.image.create_image(
            name="sdk-empty", disk_format="raw", container_format="bare", allow_duplicates=True
        )
        # Pages of one follow the Glance-style relative "next" link.
        paged = [i.id for i in conn.image.images(limit=1)]
        assert {image.id, second.id} <= set(paged) and len(paged) == len(set(paged))
        conn.image.delete_image(second)
        conn.image.delete_image(image)
    finally:
        conn.close()


# --- formats and content ---------------------------------------------------------------


def test_ami_kernel_ramdisk_machine(admin: httpx.Client, files: dict[str, Path]) -> None:
    kernel = create(admin, name="ami-kernel", disk_format="aki", container_format="aki")
    upload(admin, kernel["id"], files["kernel"].read_bytes())
    ramdisk = create(admin, name="ami-ramdisk", disk_format="ari", container_format="ari")
    upload(admin, ramdisk["id"], files["ramdisk"].read_bytes())
    machine = create(
        admin,
        name="ami-machine",
        disk_format="ami",
        container_format="ami",
        kernel_id=kernel["id"],
        ramdisk_id=ramdisk["id"],
    )
    upload(admin, machine["id"], files["raw"].read_bytes())
    shown = show(admin, machine["id"])
    assert shown["status"] == "active"
    assert (shown["kernel_id"], shown["ramdisk_id"]) == (kernel["id"], ramdisk["id"])
    assert show(admin, kernel["id"])["status"] == show(admin, ramdisk["id"])["status"] == "active"

    mismatched = admin.post(
        f"{V2}/images", json={"name": "bad-ami", "disk_format": "ami", "container_format": "bare"}
    )
    assert mismatched.status_code == 400 and "container_format" in error_message(mismatched)
    bad_ref = admin.post(
        f"{V2}/images",
        json={
            "name": "bad-ref",
            "disk_format": "ami",
            "container_format": "ami",
            "kernel_id": "not-a-uuid",
        },
    )
    assert bad_ref.status_code == 400 and "kernel_id" in error_message(bad_ref)


def test_bad_create_requests(admin: httpx.Client) -> None:
    cases = [
        ({"disk_format": "qcow3"}, 400, "disk_format"),
        ({"container_format": "tarball"}, 400, "container_format"),
        ({"visibility": "everyone"}, 400, "visibility"),
        ({"min_ram": -1}, 400, "min_ram"),
        ({"protected": "yes"}, 400, "protected"),
        ({"hw_disk_bus": 3}, 400, "hw_disk_bus"),
        ({"id": "not-a-uuid"}, 400, "id"),
        ({"status": "active"}, 403, "read-only"),
        ({"size": 10}, 403, "read-only"),
        ({"checksum": "0" * 32}, 403, "read-only"),
        ({"os_glance_importing": "x"}, 403, "reserved"),
    ]
    for body, status, text in cases:
        response = admin.post(f"{V2}/images", json={"name": "bad", **body})
        assert response.status_code == status, (body, response.text)
        assert text in error_message(response), (body, response.text)
    response = admin.post(
        f"{V2}/images", content=b"[1, 2]", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    response = admin.post(
        f"{V2}/images", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert "bad" not in names(admin)
    fixed = create(admin, id="7c1e3ad5-9f0b-4c8e-a1d2-5b3c4d5e6f70", name="fixed-id")
    assert fixed["id"] == "7c1e3ad5-9f0b-4c8e-a1d2-5b3c4d5e6f70"
    create(admin, expect=409, id=fixed["id"], name="again")
    assert admin.delete(f"{V2}/images/{fixed['id']}").status_code == 204


def test_upload_rules(
    control_plane: ControlPlane, admin: httpx.Client, files: dict[str, Path]
) -> None:
    image = create(admin, name="twice", disk_format="raw", container_format="bare")
    assert admin.get(f"{V2}/images/{image['id']}/file").status_code == 204
    response = admin.put(
        f"{V2}/images/{image['id']}/file",
        content=b"x",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 415
    raw = files["raw"].read_bytes()
    upload(admin, image["id"], raw)
    again = upload(admin, image["id"], raw, expect=409)
    assert "active" in error_message(again)
    download = admin.get(f"{V2}/images/{image['id']}/file")
    assert download.content == raw
    assert download.headers["Content-MD5"] == hashlib.md5(raw).hexdigest()
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert int(download.headers["Content-Length"]) == len(raw)
    shown = show(admin, image["id"])
    assert shown["os_hash_value"] == hashlib.sha512(raw).hexdigest()
    assert shown["virtual_size"] == len(raw)

    no_formats = create(admin, name="no-formats")
    response = upload(admin, no_formats["id"], raw, expect=400)
    assert "disk_format" in error_message(response)
    assert show(admin, no_formats["id"])["status"] == "queued"

    messages = {}
    for name, declared, data in (
        ("backed", "qcow2", files["backed.qcow2"].read_bytes()),
        ("raw-as-qcow2", "qcow2", raw),
        ("qcow2-as-raw", "raw", files["tiny.qcow2"].read_bytes()),
    ):
        unsafe = create(admin, name=name, disk_format=declared, container_format="bare")
        messages[name] = error_message(upload(admin, unsafe["id"], data, expect=400))
        assert show(admin, unsafe["id"])["status"] == "queued", name
        assert store_files(control_plane, unsafe["id"]) == [], name
        assert admin.delete(f"{V2}/images/{unsafe['id']}").status_code == 204
    assert "backing" in messages["backed"].lower()
    assert "qcow2" in messages["qcow2-as-raw"]


def _start_upload(cp: ControlPlane, client: httpx.Client, image_id: str) -> socket.socket:
    """A raw upload that announces 4 MiB, sends 2 MiB and waits, the image ``saving``."""
    head = (
        f"PUT {V2}/images/{image_id}/file HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{cp.port}\r\nX-Auth-Token: {client.headers['X-Auth-Token']}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {4 * MIB}\r\n\r\n"
    )
    sock = socket.create_connection(("127.0.0.1", cp.port))
    sock.sendall(head.encode() + b"\1" * (2 * MIB))
    wait_status(client, image_id, "saving")
    return sock


def test_client_disconnect_mid_upload(control_plane: ControlPlane, admin: httpx.Client) -> None:
    image = create(admin, name="cut-off", disk_format="raw", container_format="bare")
    with _start_upload(control_plane, admin, image["id"]):
        # A second upload to the same image meanwhile is refused.
        upload(admin, image["id"], b"\1" * 1024, expect=409)
    wait_status(admin, image["id"], "queued")
    assert store_files(control_plane, image["id"]) == []
    # The image can be uploaded again afterwards.
    upload(admin, image["id"], b"\1" * MIB)
    assert show(admin, image["id"])["size"] == MIB
    assert admin.delete(f"{V2}/images/{image['id']}").status_code == 204


def test_delete_during_upload(control_plane: ControlPlane, admin: httpx.Client) -> None:
    image = create(admin, name="deleted-midway", disk_format="raw", container_format="bare")
    with _start_upload(control_plane, admin, image["id"]) as sock:
        assert admin.delete(f"{V2}/images/{image['id']}").status_code == 204
        sock.sendall(b"\1" * (2 * MIB))
        sock.settimeout(30)
        reply = sock.recv(65536).decode(errors="replace")
    assert reply.startswith("HTTP/1.1 410"), reply
    assert store_files(control_plane, image["id"]) == []


# --- listing ---------------------------------------------------------------------------


def test_list_filters_sorting_paging(admin: httpx.Client) -> None:
    made = {}
    for index, name in enumerate(("list-c", "list-a", "list-d", "list-b")):
        image = create(
            admin,
            name=name,
            disk_format="raw",
            container_format="bare",
            suite="listing",
            tags=["even" if index % 2 == 0 else "odd", "all"],
            min_ram=index * 128,
        )
        upload(admin, image["id"], b"\1" * (index + 1) * 1024)
        made[name] = image["id"]
    hidden = create(admin, name="list-hidden", suite="listing", os_hidden=True)
    ours = {"suite": "listing"}

    assert sorted(names(admin, **ours)) == ["list-a", "list-b", "list-c", "list-d"]
    assert names(admin, **ours, os_hidden="true") == ["list-hidden"]
    assert names(admin, **ours, sort_key="name", sort_dir="asc") == [
        "list-a",
        "list-b",
        "list-c",
        "list-d",
    ]
    assert names(admin, **ours, sort="size:desc,name:asc") == [
        "list-b",
        "list-d",
        "list-a",
        "list-c",
    ]
    assert names(admin, **ours, tag="even", sort_key="name") == ["list-d", "list-c"]
    assert names(admin, **ours, size_min=2048, size_max=3072, sort_key="size", sort_dir="asc") == [
        "list-a",
        "list-d",
    ]
    assert sorted(names(admin, id=f"in:{made['list-a']},{made['list-b']}")) == ["list-a", "list-b"]
    assert names(admin, name="list-c") == ["list-c"]
    assert names(admin, **ours, min_ram=256) == ["list-d"]
    assert names(admin, **ours, status="queued", os_hidden="true") == ["list-hidden"]
    many_tags = admin.get(
        f"{V2}/images",
        params=[("tag", "odd"), ("tag", "all"), ("suite", "listing"), ("sort_key", "name")],
    )
    assert [i["name"] for i in many_tags.json()["images"]] == ["list-b", "list-a"]

    # Paging: Glance's relative links, followed until the end.
    seen, url = [], f"{V2}/images?suite=listing&limit=3&sort_key=name&sort_dir=asc"
    pages = 0
    while url:
        body = admin.get(url).json()
        assert body["schema"] == "/v2/schemas/images" and body["first"].startswith("/v2/images")
        seen += [i["name"] for i in body["images"]]
        url = "/image" + body["next"] if "next" in body else None
        pages += 1
    assert seen == ["list-a", "list-b", "list-c", "list-d"] and pages == 2

    for params in (
        {"sort_key": "owner_id"},
        {"sort_dir": "sideways"},
        {"sort": "name:asc", "sort_key": "name"},
        {"marker": "no-such-image"},
        {"limit": "-1"},
        {"size_min": "big"},
        {"protected": "maybe"},
        {"visibility": "everyone"},
        {"status": "sleeping"},
        {"created_at": "gte:yesterday"},
    ):
        response = admin.get(f"{V2}/images", params=params)
        assert response.status_code == 400, (params, response.text)
    for image_id in [*made.values(), hidden["id"]]:
        assert admin.delete(f"{V2}/images/{image_id}").status_code == 204


# --- updates, tags, actions ------------------------------------------------------------


def test_json_patch_tags_and_actions(
    admin: httpx.Client, users: dict[str, httpx.Client], files: dict[str, Path]
) -> None:
    m1 = users["m1"]
    image = create(
        m1, name="patchy", disk_format="raw", container_format="bare", os_distro="debian"
    )
    image_id = image["id"]
    body = patch(
        m1,
        image_id,
        [
            {"op": "replace", "path": "/name", "value": "patched"},
            {"op": "add", "path": "/hw_scsi_model", "value": "virtio-scsi"},
            {"op": "replace", "path": "/os_distro", "value": "ubuntu"},
            {"op": "add", "path": "/tags", "value": ["a", "b"]},
            {"op": "replace", "path": "/min_disk", "value": 2},
            {"op": "add", "path": "/a~1b", "value": "slash"},
        ],
    )
    assert (body["name"], body["hw_scsi_model"], body["os_distro"]) == (
        "patched",
        "virtio-scsi",
        "ubuntu",
    )
    assert (body["tags"], body["min_disk"], body["a/b"]) == (["a", "b"], 2, "slash")
    body = patch(m1, image_id, [{"op": "remove", "path": "/hw_scsi_model"}])
    assert "hw_scsi_model" not in body
    # A property renamed to another letter case in one patch (MariaDB compares names
    # case-insensitively).
    patch(m1, image_id, [{"op": "add", "path": "/Arch", "value": "x"}])
    body = patch(
        m1,
        image_id,
        [{"op": "remove", "path": "/Arch"}, {"op": "add", "path": "/arch", "value": "y"}],
    )
    assert body["arch"] == "y" and "Arch" not in body

    for ops, status in (
        ([{"op": "remove", "path": "/name"}], 403),
        ([{"op": "replace", "path": "/status", "value": "active"}], 403),
        ([{"op": "replace", "path": "/nonexistent", "value": "x"}], 409),
        ([{"op": "remove", "path": "/nonexistent"}], 409),
        ([{"op": "add", "path": "/tags/0", "value": "c"}], 400),
        ([{"op": "move", "path": "/name", "from": "/os_distro"}], 400),
        ([{"op": "add", "path": "/min_ram", "value": "lots"}], 400),
        ([{"op": "replace", "path": "/disk_format", "value": "floppy"}], 400),
        ([{"op": "replace", "path": "/visibility", "value": "public"}], 403),
        ([{"op": "replace", "path": "/owner", "value": "someone-else"}], 403),
        ({"op": "add"}, 400),
    ):
        response = m1.patch(f"{V2}/images/{image_id}", content=json.dumps(ops), headers=PATCH)
        assert response.status_code == status, (ops, response.text)
    assert show(m1, image_id)["name"] == "patched"  # nothing half-applied
    response = m1.patch(
        f"{V2}/images/{image_id}", json=[], headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 415

    assert m1.put(f"{V2}/images/{image_id}/tags/c").status_code == 204
    assert m1.put(f"{V2}/images/{image_id}/tags/c").status_code == 204
    assert m1.delete(f"{V2}/images/{image_id}/tags/a").status_code == 204
    assert m1.delete(f"{V2}/images/{image_id}/tags/a").status_code == 404
    assert show(m1, image_id)["tags"] == ["b", "c"]

    upload(m1, image_id, files["raw"].read_bytes())
    locked = m1.patch(
        f"{V2}/images/{image_id}",
        headers=PATCH,
        content=json.dumps([{"op": "replace", "path": "/disk_format", "value": "qcow2"}]),
    )
    assert locked.status_code == 403 and "queued" in error_message(locked)
    assert (
        patch(m1, image_id, [{"op": "replace", "path": "/visibility", "value": "community"}])[
            "visibility"
        ]
        == "community"
    )

    # As Glance: members of the owning project (and admins) deactivate and reactivate;
    # another project's member, who sees the community image, may not.
    assert users["m2"].post(f"{V2}/images/{image_id}/actions/deactivate").status_code == 403
    assert m1.post(f"{V2}/images/{image_id}/actions/deactivate").status_code == 204
    assert show(m1, image_id)["status"] == "deactivated"
    assert users["m2"].get(f"{V2}/images/{image_id}/file").status_code == 403
    assert admin.get(f"{V2}/images/{image_id}/file").status_code == 200
    assert users["m2"].post(f"{V2}/images/{image_id}/actions/reactivate").status_code == 403
    assert m1.post(f"{V2}/images/{image_id}/actions/reactivate").status_code == 204
    assert m1.get(f"{V2}/images/{image_id}/file").status_code == 200
    queued = create(admin, name="never-active")
    assert admin.post(f"{V2}/images/{queued['id']}/actions/deactivate").status_code == 403
    assert admin.delete(f"{V2}/images/{queued['id']}").status_code == 204
    assert m1.delete(f"{V2}/images/{image_id}").status_code == 204


def test_visibility_and_policy(admin: httpx.Client, users: dict[str, httpx.Client]) -> None:
    m1, m2, r1 = users["m1"], users["m2"], users["r1"]
    private = create(m1, name="m1-private", visibility="private")
    shared = create(m1, name="m1-shared")
    assert shared["visibility"] == "shared"
    assert shared["owner"] == private["owner"] == show(admin, private["id"])["owner"]
    for image in (private, shared):
        response = m2.get(f"{V2}/images/{image['id']}")
        assert response.status_code == 404
        assert m2.delete(f"{V2}/images/{image['id']}").status_code == 404
    assert not {"m1-private", "m1-shared"} & set(names(m2))
    assert {"m1-private", "m1-shared"} <= set(names(r1))
    assert show(r1, private["id"])["owner"] == private["owner"]

    assert r1.post(f"{V2}/images", json={"name": "by-reader"}).status_code == 403
    patch(r1, private["id"], [{"op": "replace", "path": "/name", "value": "x"}], expect=403)
    assert r1.delete(f"{V2}/images/{private['id']}").status_code == 403
    public = m1.post(f"{V2}/images", json={"name": "m1-public", "visibility": "public"})
    assert public.status_code == 403 and "publicize" in error_message(public)
    foreign = m1.post(f"{V2}/images", json={"name": "gift", "owner": "another-project"})
    assert foreign.status_code == 403

    community = create(m1, name="m1-community", visibility="community")
    assert show(m2, community["id"])["visibility"] == "community"
    assert "m1-community" not in names(m2)
    assert "m1-community" in names(m2, visibility="community")
    patch(m2, community["id"], [{"op": "replace", "path": "/name", "value": "mine"}], expect=403)

    published = create(admin, name="admin-public", visibility="public")
    assert "admin-public" in names(m2)
    assert m2.delete(f"{V2}/images/{published['id']}").status_code == 403
    for image in (private, shared, community):
        assert m1.delete(f"{V2}/images/{image['id']}").status_code == 204
    assert admin.delete(f"{V2}/images/{published['id']}").status_code == 204


def test_schemas(admin: httpx.Client) -> None:
    image = admin.get(f"{V2}/schemas/image").json()
    assert image["name"] == "image" and "disk_format" in image["properties"]
    assert admin.get(f"{V2}/schemas/images").json()["name"] == "images"
    member = admin.get(f"{V2}/schemas/member").json()
    assert member["name"] == "member"
    assert member["properties"]["status"]["enum"] == ["pending", "accepted", "rejected"]
    members = admin.get(f"{V2}/schemas/members").json()
    assert members["properties"]["members"]["items"]["name"] == "member"


def _project_of(client: httpx.Client) -> str:
    token = client.headers["X-Auth-Token"]
    response = client.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": token})
    assert response.status_code == 200, response.text
    return response.json()["token"]["project"]["id"]


def test_image_members(
    control_plane: ControlPlane, admin: httpx.Client, users: dict[str, httpx.Client]
) -> None:
    """Sharing through the real CLI (``image add project``, ``image set --accept``)
    and raw HTTP: who sees a shared image in show and list, the member_status
    filter, and who may add, answer and remove."""
    m1, m2, r1 = users["m1"], users["m2"], users["r1"]
    ip2 = _project_of(m2)
    shared = create(m1, name="m1-to-share")
    private = create(m1, name="m1-kept", visibility="private")
    members = f"{V2}/images/{shared['id']}/members"

    refused = m1.post(f"{V2}/images/{private['id']}/members", json={"member": ip2})
    assert refused.status_code == 403 and "shared" in error_message(refused)
    assert m2.get(f"{V2}/images/{shared['id']}").status_code == 404
    assert m2.post(members, json={"member": ip2}).status_code == 404
    assert r1.post(members, json={"member": ip2}).status_code == 403
    for body in ({}, {"member": ""}, {"member": 5}, {"member": None}):
        response = m1.post(members, json=body)
        assert response.status_code == 400 and "member" in error_message(response), response.text

    env = {"user": "img-m1", "password": "m1-pw", "project": "ip1"}
    added = control_plane.openstack_json("image", "add", "project", shared["id"], ip2, **env)
    assert added["status"] == "pending" and added["member_id"] == ip2
    assert m1.post(members, json={"member": ip2}).status_code == 409

    # A pending member sees the image but does not list it unless it asks.
    assert show(m2, shared["id"])["visibility"] == "shared"
    assert "m1-to-share" not in names(m2)
    assert "m1-to-share" in names(m2, member_status="pending")
    assert "m1-to-share" in names(m2, visibility="shared", member_status="all")
    assert "m1-to-share" in names(m1, visibility="shared")
    own = m2.get(members).json()["members"]
    assert [m["member_id"] for m in own] == [ip2]
    assert m2.get(f"{members}/{ip2}").json()["status"] == "pending"
    other = m2.get(f"{members}/{_project_of(m1)}")
    assert other.status_code == 404

    # Only the member answers; the owner only adds and removes.
    owner_answer = m1.put(f"{members}/{ip2}", json={"status": "accepted"})
    assert owner_answer.status_code == 403, owner_answer.text
    bad = m2.put(f"{members}/{ip2}", json={"status": "maybe"})
    assert bad.status_code == 400 and "status" in error_message(bad)
    m2_env = {"user": "img-m2", "password": "m2-pw", "project": "ip2"}
    control_plane.openstack("image", "set", "--accept", shared["id"], **m2_env)
    assert m2.get(f"{members}/{ip2}").json()["status"] == "accepted"
    assert "m1-to-share" in names(m2)
    assert "m1-to-share" in names(m2, visibility="shared")
    assert "m1-to-share" not in names(m2, member_status="rejected")
    listed = control_plane.openstack_json("image", "member", "list", shared["id"], **env)
    assert [(m["Member ID"], m["Status"]) for m in listed] == [(ip2, "accepted")]
    assert m2.delete(f"{members}/{ip2}").status_code == 403

    rejected = m2.put(f"{members}/{ip2}", json={"status": "rejected"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert "m1-to-share" not in names(m2)
    assert show(m2, shared["id"])["id"] == shared["id"]

    assert m1.delete(f"{members}/{ip2}").status_code == 204
    assert m1.delete(f"{members}/{ip2}").status_code == 404
    assert m2.get(f"{V2}/images/{shared['id']}").status_code == 404
    assert m1.post(members, json={"member": ip2}).status_code == 200
    assert m1.delete(f"{V2}/images/{shared['id']}").status_code == 204
    assert m1.delete(f"{V2}/images/{private['id']}").status_code == 204


# --- size cap, store failures, memory (one backend) ------------------------------------


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    block = b"\2" * size
    for _ in range(total // size):
        yield block


def test_size_cap_and_broken_store(db_backend: str, tmp_path: Path) -> None:
    if db_backend != "sqlite":
        pytest.skip("the store does not depend on the database: checked once")
    cap = 256 * 1024
    cloud = ControlPlane(workdir=str(tmp_path), extra_conf={"image": {"image_size_cap": cap}})
    cloud.start()
    try:
        with cloud.client() as client:
            image = create(client, name="too-big", disk_format="raw", container_format="bare")
            # Streamed without a length: stopped when the cap is passed.
            response = upload(client, image["id"], _chunks(4 * cap), expect=413)
            assert str(cap) in error_message(response)
            assert show(client, image["id"])["status"] == "queued"
            assert store_files(cloud, image["id"]) == []
            # Announced with a length: refused before any data is read.
            upload(client, image["id"], b"\2" * (cap + 1), expect=413)
            assert store_files(cloud, image["id"]) == []
            upload(client, image["id"], b"\2" * cap)

            # A store that cannot write at all kills the image.
            broken = create(client, name="broken", disk_format="raw", container_format="bare")
            store = cloud.workdir / "images"
            store.rename(cloud.workdir / "images.saved")
            store.write_text("not a directory")
            try:
                response = upload(client, broken["id"], b"\3" * 1024, expect=500)
                assert "killed" in error_message(response)
            finally:
                store.unlink()
                (cloud.workdir / "images.saved").rename(store)
            assert show(client, broken["id"])["status"] == "killed"
            upload(client, broken["id"], b"\3", expect=409)
            assert client.delete(f"{V2}/images/{broken['id']}").status_code == 204
    finally:
        cloud.stop()


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_large_upload_memory(
    db_backend: str, control_plane: ControlPlane, admin: httpx.Client, tmp_path: Path
) -> None:
    if db_backend != "sqlite":
        pytest.skip("memory use does not depend on the database: measured once")
    assert control_plane.api is not None
    pid = control_plane.api.pid
    sparse = tmp_path / "sparse.raw"
    size = 2 << 30
    with open(sparse, "wb") as f:
        f.truncate(size)
    image = create(admin, name="two-gib", disk_format="raw", container_format="bare")
    baseline = _rss_kib(pid)
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], _rss_kib(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        with open(sparse, "rb") as data:
            response = admin.put(
                f"{V2}/images/{image['id']}/file", content=data, headers=OCTETS, timeout=600
            )
    finally:
        done.set()
        sampler.join()
    assert response.status_code == 204, response.text
    growth_mib = (peak[0] - baseline) / 1024
    assert growth_mib < 64, f"RSS grew by {growth_mib:.1f} MiB during a 2 GiB upload"
    shown = show(admin, image["id"])
    assert (shown["size"], shown["status"]) == (size, "active")
    assert admin.delete(f"{V2}/images/{image['id']}").status_code == 204
    assert store_files(control_plane, image["id"]) == []
