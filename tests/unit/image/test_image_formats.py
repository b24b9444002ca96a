"""Disk/container format rules and the image status machine."""

from __future__ import annotations

import itertools

import pytest

from stratus.image import formats
from stratus.image.formats import (
    AMAZON_FORMATS,
    CONTAINER_FORMATS,
    DISK_FORMATS,
    STATUSES,
    TRANSITIONS,
    ImageAttributeLocked,
    ImageFormatError,
    ImageFormatsRequired,
    InvalidImageTransition,
    begin_upload,
    can_transition,
    check_formats_mutable,
    check_transition,
    deactivate,
    reactivate,
    require_formats,
    validate_formats,
)

CLASSIC_DISK = ["raw", "qcow2", "vmdk", "vdi", "vhd", "iso", "aki", "ari", "ami"]
CLASSIC_CONTAINER = ["bare", "ovf", "aki", "ari", "ami"]


def test_classic_lists_come_first() -> None:
    assert list(DISK_FORMATS[: len(CLASSIC_DISK)]) == CLASSIC_DISK
    assert list(CONTAINER_FORMATS[: len(CLASSIC_CONTAINER)]) == CLASSIC_CONTAINER
    assert {"vhdx", "ploop"} <= set(DISK_FORMATS)
    assert {"ova", "docker", "compressed"} <= set(CONTAINER_FORMATS)


def test_descriptions_cover_every_format() -> None:
    assert set(formats.DISK_FORMAT_DESCRIPTIONS) == set(DISK_FORMATS)
    assert set(formats.CONTAINER_FORMAT_DESCRIPTIONS) == set(CONTAINER_FORMATS)


@pytest.mark.parametrize(
    ("disk", "container"), list(itertools.product(DISK_FORMATS, CONTAINER_FORMATS))
)
def test_every_pair_follows_the_amazon_rule(disk: str, container: str) -> None:
    amazon = disk in AMAZON_FORMATS or container in AMAZON_FORMATS
    if amazon and disk != container:
        with pytest.raises(ImageFormatError) as err:
            validate_formats(disk, container)
        assert "aki, ari or ami" in err.value.message
        expected_field = "container_format" if disk in AMAZON_FORMATS else "disk_format"
        assert err.value.field == expected_field
    else:
        validate_formats(disk, container)


@pytest.mark.parametrize("value", ["aki", "ari", "ami"])
def test_amazon_formats_must_match_each_other(value: str) -> None:
    validate_formats(value, value)
    for other in AMAZON_FORMATS - {value}:
        with pytest.raises(ImageFormatError):
            validate_formats(value, other)


def test_unknown_disk_format_names_field_and_lists_allowed() -> None:
    with pytest.raises(ImageFormatError) as err:
        validate_formats("qcow3", "bare")
    assert err.value.field == "disk_format"
    assert "'qcow3'" in str(err.value)
    assert "raw, qcow2, vmdk, vdi, vhd, iso, aki, ari, ami" in str(err.value)
    assert isinstance(err.value, ValueError)


def test_unknown_container_format_names_field_and_lists_allowed() -> None:
    with pytest.raises(ImageFormatError) as err:
        validate_formats("raw", "tarball")
    assert err.value.field == "container_format"
    assert "bare, ovf, aki, ari, ami" in str(err.value)


@pytest.mark.parametrize("value", ["", "RAW", " raw", None])
def test_formats_are_exact_strings(value: str | None) -> None:
    if value is None:
        validate_formats(None, "bare")
        return
    with pytest.raises(ImageFormatError):
        validate_formats(value, "bare")


def test_unset_formats_are_allowed_until_upload() -> None:
    validate_formats(None, None)
    validate_formats("aki", None)
    validate_formats(None, "ami")
    with pytest.raises(ImageFormatError):
        validate_formats("bogus", None)


@pytest.mark.parametrize(
    ("disk", "container", "field"),
    [(None, "bare", "disk_format"), ("raw", None, "container_format"), (None, None, None)],
)
def test_formats_required_before_upload(
    disk: str | None, container: str | None, field: str | None
) -> None:
    with pytest.raises(ImageFormatsRequired) as err:
        require_formats(disk, container)
    message = str(err.value)
    assert "must be set before uploading" in message
    if field is None:
        assert "disk_format and container_format" in message
        assert err.value.field == "disk_format"
    else:
        assert err.value.field == field
    assert isinstance(err.value, ImageFormatError)


def test_require_formats_also_validates() -> None:
    require_formats("qcow2", "bare")
    with pytest.raises(ImageFormatError):
        require_formats("aki", "bare")


# --- statuses -----------------------------------------------------------------


def test_statuses_and_table_agree() -> None:
    assert set(STATUSES) == set(TRANSITIONS)
    for targets in TRANSITIONS.values():
        assert targets <= set(STATUSES)
    assert {"queued", "saving", "active", "killed", "deleted", "deactivated"} <= set(STATUSES)
    assert TRANSITIONS["deleted"] == frozenset()


@pytest.mark.parametrize(
    ("current", "target"),
    [(c, t) for c, targets in TRANSITIONS.items() for t in sorted(targets)],
)
def test_allowed_transitions(current: str, target: str) -> None:
    assert can_transition(current, target)
    check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [(c, t) for c in STATUSES for t in STATUSES if t not in TRANSITIONS[c]],
)
def test_refused_transitions(current: str, target: str) -> None:
    assert not can_transition(current, target)
    with pytest.raises(InvalidImageTransition) as err:
        check_transition(current, target)
    assert err.value.current == current
    assert err.value.target == target
    assert repr(current) in str(err.value)


def test_upload_to_active_image_is_refused() -> None:
    with pytest.raises(InvalidImageTransition) as err:
        check_transition("active", "saving")
    assert str(err.value) == (
        "cannot upload data to an image with status 'active'; that is only possible "
        "for an image with status queued"
    )


def test_deactivating_queued_image_is_refused() -> None:
    with pytest.raises(InvalidImageTransition) as err:
        deactivate("queued")
    assert "cannot deactivate an image with status 'queued'" in str(err.value)
    assert "active" in str(err.value)


def test_unknown_status_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown image status"):
        check_transition("frozen", "active")
    with pytest.raises(ValueError, match="unknown image status"):
        can_transition("active", "frozen")


def test_failed_upload_can_be_rolled_back_and_retried() -> None:
    assert begin_upload("queued", "raw", "bare") == "saving"
    check_transition("saving", "queued")
    assert begin_upload("queued", "raw", "bare") == "saving"
    check_transition("saving", "active")


@pytest.mark.parametrize("status", ["saving", "active", "killed", "deactivated", "deleted"])
def test_begin_upload_only_from_queued(status: str) -> None:
    with pytest.raises(InvalidImageTransition):
        begin_upload(status, "raw", "bare")


def test_begin_upload_needs_formats() -> None:
    with pytest.raises(ImageFormatsRequired):
        begin_upload("queued", None, "bare")
    with pytest.raises(ImageFormatError):
        begin_upload("queued", "ami", "bare")


def test_deactivate_and_reactivate() -> None:
    assert deactivate("active") == "deactivated"
    assert deactivate("deactivated") == "deactivated"
    assert reactivate("deactivated") == "active"
    assert reactivate("active") == "active"
    for status in ("queued", "saving", "killed", "deleted"):
        with pytest.raises(InvalidImageTransition):
            deactivate(status)
    for status in ("queued", "saving", "killed", "deleted", "pending_delete"):
        with pytest.raises(InvalidImageTransition, match="only a deactivated image"):
            reactivate(status)


def test_formats_only_change_while_queued() -> None:
    check_formats_mutable("queued", "disk_format")
    for status in ("saving", "active", "deactivated", "killed"):
        with pytest.raises(ImageAttributeLocked) as err:
            check_formats_mutable(status, "container_format")
        assert err.value.field == "container_format"
        assert err.value.status == status
        assert "container_format can only be changed while the image is queued" in str(err.value)
