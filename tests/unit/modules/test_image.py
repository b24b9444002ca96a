"""stratus_image: patches, immutable data and formats, replacement, check mode.

The pure decisions are tested directly; the module runs use ``FakeAPI`` (a faked
HTTP layer, at this tier only).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from tests.unit.modules.conftest import FakeAPI, load

from ansible.module_utils.stratus_module import IMAGE_CORE, normalize_image  # isort: skip

image = load("stratus_image")

IMAGE_ID = "6f8e3c7a-9b1d-4e2f-8a3b-1c2d3e4f5a6b"
KERNEL_ID = "11111111-2222-4333-8444-555555555555"


def api_image(data: bytes = b"old data", **values: Any) -> dict[str, Any]:
    body = {
        "id": IMAGE_ID,
        "name": "tiny",
        "status": "active",
        "disk_format": "qcow2",
        "container_format": "bare",
        "visibility": "public",
        "protected": False,
        "min_disk": 0,
        "min_ram": 0,
        "size": len(data),
        "os_hash_algo": "sha512",
        "os_hash_value": hashlib.sha512(data).hexdigest(),
        "tags": ["b", "a"],
        "hw_architecture": "x86_64",
        "kernel_id": KERNEL_ID,
    }
    body.update(values)
    return body


def params(**values: Any) -> dict[str, Any]:
    base = dict.fromkeys(image.ImageModule.argument_spec)
    base.update(properties_mode="replace", state="present", replace_on_change=False)
    base.update(values)
    return base


def test_normalize_gathers_the_extra_properties() -> None:
    current = normalize_image(api_image())
    assert current["properties"] == {"hw_architecture": "x86_64", "kernel_id": KERNEL_ID}
    assert current["tags"] == ["a", "b"]


def test_patch_touches_only_what_is_given() -> None:
    current = normalize_image(api_image())
    assert image.patch_ops(current, params(name="tiny")) == []
    ops = image.patch_ops(
        current,
        params(name="tiny", min_ram=128, tags=["a", "c"], properties={"os_distro": "debian"}),
    )
    assert ops == [
        {"op": "replace", "path": "/min_ram", "value": 128},
        {"op": "replace", "path": "/tags", "value": ["a", "c"]},
        {"op": "add", "path": "/os_distro", "value": "debian"},
        {"op": "remove", "path": "/hw_architecture"},  # replace mode; kernel_id is kept
    ]
    after = image.apply_ops(current, ops)
    assert after["properties"] == {"kernel_id": KERNEL_ID, "os_distro": "debian"}
    assert after["min_ram"] == 128 and after["visibility"] == "public"
    merged = image.patch_ops(
        current, params(properties={"hw_architecture": "aarch64"}, properties_mode="merge")
    )
    assert merged == [{"op": "replace", "path": "/hw_architecture", "value": "aarch64"}]
    assert image.pointer("a/b~c") == "/a~1b~0c"


def test_visibility_left_out_never_changes() -> None:
    current = normalize_image(api_image(visibility="community"))
    assert image.patch_ops(current, params(name="tiny", protected=False)) == []


def test_data_and_formats_of_an_active_image_are_immutable() -> None:
    current = normalize_image(api_image())
    same = hashlib.sha512(b"old data").hexdigest()
    other = hashlib.sha512(b"new data").hexdigest()
    assert image.differences(current, params(), same) == {}
    found = image.differences(current, params(disk_format="raw"), other)
    assert set(found) == {"disk_format", "data (sha512)"}
    assert found["data (sha512)"] == {"before": same, "after": other}
    queued = normalize_image(api_image(status="queued", os_hash_value=None))
    assert image.differences(queued, params(disk_format="raw"), other) == {}
    assert image.patch_ops(queued, params(disk_format="raw"))[0]["path"] == "/disk_format"


def _file(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "disk.img"
    path.write_bytes(data)
    return str(path)


def _api(*images: dict[str, Any], **routes: Any) -> FakeAPI:
    table: dict[tuple[str, str], Any] = {("GET", "/images"): {"images": list(images)}}
    for body in images:
        table[("GET", f"/images/{body['id']}")] = body
    table.update({tuple(k.split(" ", 1)): v for k, v in routes.items()})
    return FakeAPI(table)


def test_a_changed_file_fails_with_the_hashes(run, tmp_path: Path) -> None:  # noqa: ANN001
    api = _api(api_image())
    result = run("stratus_image", {"name": "tiny", "filename": _file(tmp_path, b"new")}, api)
    assert result["failed"] and api.writes() == []
    assert (
        "Image 'tiny' differs in fields that cannot be changed in place: data (sha512)"
        in (result["msg"])
    )
    assert "replace_on_change: true" in result["msg"]


def test_replace_on_change_in_check_mode(run, tmp_path: Path) -> None:  # noqa: ANN001
    api = _api(api_image())
    result = run(
        "stratus_image",
        {"name": "tiny", "filename": _file(tmp_path, b"new"), "replace_on_change": True},
        api,
        check_mode=True,
    )
    assert result["changed"] and result["replaced"] and api.writes() == []
    predicted = result["image"]
    assert predicted["os_hash_value"] == hashlib.sha512(b"new").hexdigest()
    assert predicted["visibility"] == "public"  # carried over from the old image
    assert predicted["properties"] == {"hw_architecture": "x86_64", "kernel_id": KERNEL_ID}
    assert predicted["id"] is None


def test_new_image_check_mode_resolves_the_kernel(run, tmp_path: Path) -> None:  # noqa: ANN001
    kernel = api_image(id=KERNEL_ID, name="tiny-kernel", disk_format="aki")
    api = FakeAPI(
        {
            ("GET", "/images"): lambda body, query: {
                "images": [kernel] if query["name"] == "tiny-kernel" else []
            },
        }
    )
    args = {"name": "ami", "filename": _file(tmp_path, b"ami"), "kernel": "tiny-kernel"}
    result = run("stratus_image", dict(args, disk_format="ami"), api, check_mode=True)
    assert result["changed"] and api.writes() == []
    assert result["image"]["kernel_id"] == KERNEL_ID
    assert result["image"]["status"] == "active" and result["image"]["disk_format"] == "ami"
    unknown = run("stratus_image", dict(args, kernel="nope"), api, check_mode=True)
    assert unknown["failed"] and unknown["msg"].startswith("Unknown kernel image 'nope'")


def test_deactivate_and_absent(run) -> None:  # noqa: ANN001
    api = _api(api_image())
    result = run("stratus_image", {"name": "tiny", "state": "deactivated"}, api)
    assert result["changed"]
    assert api.writes() == [("POST", f"/images/{IMAGE_ID}/actions/deactivate", None)]
    protected = _api(api_image(protected=True))
    refused = run("stratus_image", {"name": "tiny", "state": "absent"}, protected)
    assert refused["failed"] and "protected" in refused["msg"] and protected.writes() == []


# --- the Image API's rules, kept in the module and in the stratus package -------------
# The module runs where the stratus package is not installed, so it holds its own copy
# of the rules it relies on; these tests fail when either copy changes alone.


def test_format_choices_are_the_image_service_formats() -> None:
    from stratus.image import formats

    assert image.DISK_FORMATS == formats.DISK_FORMATS
    assert image.CONTAINER_FORMATS == formats.CONTAINER_FORMATS
    spec = image.ImageModule.argument_spec
    assert spec["disk_format"]["choices"] == list(formats.DISK_FORMATS)
    assert spec["container_format"]["choices"] == list(formats.CONTAINER_FORMATS)


def test_statuses_with_data_are_those_whose_formats_are_locked() -> None:
    from stratus.image import formats

    locked = set(formats.STATUSES) - formats.FORMAT_MUTABLE_STATUSES
    assert set(image.HAS_DATA) <= locked
    mutable = formats.FORMAT_MUTABLE_STATUSES
    assert mutable == {"queued"}  # the status in which patch_ops changes the formats


def test_core_attributes_are_the_image_api_attributes() -> None:
    from stratus.api.image import attributes

    api_attributes = set(attributes.CORE) | attributes.READ_ONLY
    # normalize_image gathers the extra properties under "properties"
    module_core = set(IMAGE_CORE)
    assert module_core == api_attributes | {"properties"}
    settable = set(attributes.CORE)
    assert set(image.IN_PLACE) | set(image.FORMATS) | set(image.REPLACEMENT_KEEPS) <= settable
    assert image.VISIBILITIES == attributes.VISIBILITIES
    assert image.ImageModule.argument_spec["visibility"]["choices"] == list(attributes.VISIBILITIES)
    assert set(image.REFERENCES) == attributes.IMAGE_REFERENCES
    assert image.PATCH_TYPE == attributes.PATCH_V21
