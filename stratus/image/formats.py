"""Image format and status rules: the one place that knows them.

The Image API validates requests with these rules and the compute image cache
uses the same lists, so an image the API accepts is one compute can use.
"""

from __future__ import annotations

from collections.abc import Mapping

# --- formats ----------------------------------------------------------------

#: Disk formats, the classic list first, then the later additions.
DISK_FORMATS: tuple[str, ...] = (
    "raw",
    "qcow2",
    "vmdk",
    "vdi",
    "vhd",
    "iso",
    "aki",
    "ari",
    "ami",
    "vhdx",
    "ploop",
)

#: Container formats, the classic list first, then the later additions.
CONTAINER_FORMATS: tuple[str, ...] = (
    "bare",
    "ovf",
    "aki",
    "ari",
    "ami",
    "ova",
    "docker",
    "compressed",
)

#: Amazon kernel, ramdisk and machine images: when either format is one of
#: these, both formats must be that same value.
AMAZON_FORMATS: frozenset[str] = frozenset({"aki", "ari", "ami"})

#: Container formats whose payload is the disk itself (nothing wrapped round it),
#: so the uploaded bytes can be checked against the disk format.
UNWRAPPED_CONTAINER_FORMATS: frozenset[str] = frozenset({"bare", "aki", "ari", "ami"})

DISK_FORMAT_DESCRIPTIONS: Mapping[str, str] = {
    "raw": "an unstructured disk image",
    "qcow2": "QEMU copy-on-write disk image, grows as data is written",
    "vmdk": "VMware disk image (monolithicSparse or streamOptimized)",
    "vdi": "VirtualBox disk image",
    "vhd": "Virtual Hard Disk, used by Hyper-V, Xen, VirtualBox and others",
    "iso": "an optical disc (CD-ROM) image",
    "aki": "Amazon kernel image",
    "ari": "Amazon ramdisk image",
    "ami": "Amazon machine image",
    "vhdx": "Hyper-V's successor to VHD",
    "ploop": "Virtuozzo/Parallels loopback disk",
}

CONTAINER_FORMAT_DESCRIPTIONS: Mapping[str, str] = {
    "bare": "no container: the data is the disk image itself",
    "ovf": "Open Virtualization Format descriptor",
    "aki": "Amazon kernel image",
    "ari": "Amazon ramdisk image",
    "ami": "Amazon machine image",
    "ova": "OVF package in a tar archive",
    "docker": "a docker tar archive of a container filesystem",
    "compressed": "a compressed archive of the disk image",
}


class ImageError(Exception):
    """Base class of every error raised by ``stratus.image``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ImageFormatError(ImageError, ValueError):
    """A disk or container format is invalid; ``field`` names the attribute."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class ImageFormatsRequired(ImageFormatError):
    """Data was sent for an image whose formats are not set yet."""


class ImageAttributeLocked(ImageError):
    """An attribute that may only change while the image is queued."""

    def __init__(self, field: str, status: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.status = status


def _allowed(values: tuple[str, ...]) -> str:
    return ", ".join(values)


def validate_disk_format(disk_format: str | None) -> None:
    """Raise ``ImageFormatError`` unless ``disk_format`` is a known value or None."""
    if disk_format is not None and disk_format not in DISK_FORMATS:
        raise ImageFormatError(
            "disk_format",
            f"disk_format {disk_format!r} is not valid; allowed values: {_allowed(DISK_FORMATS)}",
        )


def validate_container_format(container_format: str | None) -> None:
    """Raise ``ImageFormatError`` unless ``container_format`` is known or None."""
    if container_format is not None and container_format not in CONTAINER_FORMATS:
        raise ImageFormatError(
            "container_format",
            f"container_format {container_format!r} is not valid; allowed values: "
            f"{_allowed(CONTAINER_FORMATS)}",
        )


def validate_formats(disk_format: str | None, container_format: str | None) -> None:
    """Check a pair of formats; None means "not set yet" and is allowed.

    Raises ``ImageFormatError`` whose ``field`` is the attribute at fault and
    whose message lists the allowed values.
    """
    validate_disk_format(disk_format)
    validate_container_format(container_format)
    if disk_format is None or container_format is None:
        return
    if disk_format in AMAZON_FORMATS and container_format != disk_format:
        raise ImageFormatError(
            "container_format",
            f"container_format must be {disk_format!r} when disk_format is "
            f"{disk_format!r}: if either format is one of aki, ari or ami, both "
            f"must be that same value (got container_format {container_format!r})",
        )
    if container_format in AMAZON_FORMATS and disk_format != container_format:
        raise ImageFormatError(
            "disk_format",
            f"disk_format must be {container_format!r} when container_format is "
            f"{container_format!r}: if either format is one of aki, ari or ami, both "
            f"must be that same value (got disk_format {disk_format!r})",
        )


def require_formats(disk_format: str | None, container_format: str | None) -> None:
    """Formats must be set (and valid) before image data is accepted."""
    missing = [
        name
        for name, value in (("disk_format", disk_format), ("container_format", container_format))
        if value is None
    ]
    if missing:
        raise ImageFormatsRequired(
            missing[0],
            f"{' and '.join(missing)} must be set before uploading image data; "
            f"disk_format is one of {_allowed(DISK_FORMATS)}; container_format is "
            f"one of {_allowed(CONTAINER_FORMATS)}",
        )
    validate_formats(disk_format, container_format)


# --- statuses ---------------------------------------------------------------

QUEUED = "queued"
SAVING = "saving"
UPLOADING = "uploading"
IMPORTING = "importing"
ACTIVE = "active"
KILLED = "killed"
DELETED = "deleted"
PENDING_DELETE = "pending_delete"
DEACTIVATED = "deactivated"

STATUSES: tuple[str, ...] = (
    QUEUED,
    SAVING,
    ACTIVE,
    KILLED,
    DELETED,
    DEACTIVATED,
    UPLOADING,
    IMPORTING,
    PENDING_DELETE,
)

#: current status -> the statuses it may move to. ``saving -> queued`` is how
#: a failed upload is rolled back so that it can be retried.
TRANSITIONS: Mapping[str, frozenset[str]] = {
    QUEUED: frozenset({SAVING, UPLOADING, IMPORTING, ACTIVE, DELETED}),
    SAVING: frozenset({ACTIVE, KILLED, DELETED, QUEUED}),
    UPLOADING: frozenset({IMPORTING, QUEUED, DELETED}),
    IMPORTING: frozenset({ACTIVE, DELETED, QUEUED}),
    ACTIVE: frozenset({PENDING_DELETE, DELETED, DEACTIVATED}),
    KILLED: frozenset({DELETED}),
    PENDING_DELETE: frozenset({DELETED, ACTIVE}),
    DELETED: frozenset(),
    DEACTIVATED: frozenset({ACTIVE, DELETED}),
}

#: Statuses in which the formats (and other upload-defining attributes) may change.
FORMAT_MUTABLE_STATUSES: frozenset[str] = frozenset({QUEUED})

#: Statuses whose data may be downloaded (admins may also read deactivated ones).
DOWNLOADABLE_STATUSES: frozenset[str] = frozenset({ACTIVE})

_VERBS: Mapping[tuple[str | None, str], str] = {
    (None, SAVING): "upload data to",
    (None, UPLOADING): "stage data for",
    (None, IMPORTING): "import",
    (None, DEACTIVATED): "deactivate",
    (DEACTIVATED, ACTIVE): "reactivate",
    (None, DELETED): "delete",
    (None, PENDING_DELETE): "delete",
    (None, KILLED): "kill",
    (None, QUEUED): "reset",
    (None, ACTIVE): "activate",
}


class InvalidImageTransition(ImageError):
    """A status change that the image's current status does not allow (HTTP 409)."""

    def __init__(self, current: str, target: str, message: str) -> None:
        super().__init__(message)
        self.current = current
        self.target = target


def _unknown_status(status: str) -> ValueError:
    return ValueError(f"unknown image status {status!r}; known: {', '.join(STATUSES)}")


def can_transition(current: str, target: str) -> bool:
    """True if an image may move from ``current`` to ``target``."""
    for status in (current, target):
        if status not in TRANSITIONS:
            raise _unknown_status(status)
    return target in TRANSITIONS[current]


def check_transition(current: str, target: str) -> None:
    """Raise ``InvalidImageTransition`` unless ``current -> target`` is allowed."""
    if can_transition(current, target):
        return
    verb = _VERBS.get((current, target)) or _VERBS.get((None, target), "move")
    sources = sorted(s for s, targets in TRANSITIONS.items() if target in targets)
    allowed = ", ".join(sources) if sources else "no status"
    raise InvalidImageTransition(
        current,
        target,
        f"cannot {verb} an image with status {current!r}; that is only possible "
        f"for an image with status {allowed}",
    )


def begin_upload(status: str, disk_format: str | None, container_format: str | None) -> str:
    """Check that data may be uploaded now; return the status to set (``saving``).

    Raises ``InvalidImageTransition`` (e.g. the image is already active) or
    ``ImageFormatsRequired`` / ``ImageFormatError`` (formats unset or invalid).
    """
    check_transition(status, SAVING)
    require_formats(disk_format, container_format)
    return SAVING


def deactivate(status: str) -> str:
    """Status after a deactivate request; deactivating twice is a no-op."""
    if status == DEACTIVATED:
        return DEACTIVATED
    check_transition(status, DEACTIVATED)
    return DEACTIVATED


def reactivate(status: str) -> str:
    """Status after a reactivate request; reactivating an active image is a no-op."""
    if status == ACTIVE:
        return ACTIVE
    if status != DEACTIVATED:
        raise InvalidImageTransition(
            status,
            ACTIVE,
            f"cannot reactivate an image with status {status!r}; only a deactivated "
            f"image can be reactivated",
        )
    return ACTIVE


def check_formats_mutable(status: str, field: str) -> None:
    """Raise ``ImageAttributeLocked`` if ``field`` may not change in ``status``."""
    if status not in FORMAT_MUTABLE_STATUSES:
        raise ImageAttributeLocked(
            field,
            status,
            f"{field} can only be changed while the image is queued; this image is {status}",
        )
