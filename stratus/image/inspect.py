"""Content inspection of uploaded image data.

An image's ``disk_format`` is only a claim. QEMU decides how to read a disk from
its bytes, so a "raw" upload that is really a qcow2 (or a qcow2 whose header
names a backing file or an external data file) could make a compute host open
host files on a tenant's behalf. Every upload is therefore checked here, from
its headers, before it is stored: the bytes must be the declared format (a raw
image must not be any format QEMU recognises) and safe to hand to QEMU.

The checks are oslo.utils' ``imageutils.format_inspector``, as in Nova and
Glance. Its inspectors read the data once, front to back, until each holds its
headers (normally within the first 256 KiB; a vmdk footer is read from the end
of the file). It names the format (text naming a vmdk createType is a vmdk
descriptor to it, and so here) and runs its safety checks: qcow2 version 2
or 3, no backing file, no data-file feature; vmdk version 1 to 3, descriptor at
sector 1, monolithicSparse or streamOptimized, known descriptor lines only, no
``/`` in extent names, a sound footer; vmdk checks Stratus does not word itself
are refused with format_inspector's reason.

Stratus' rules stay on top as a thin layer where format_inspector differs:

* Data is also named by its leading signature (``_SIGNATURES``), so a truncated
  or unparseable header is refused as that format, never taken for raw; this
  covers ploop, vmdk3 (COWD) and the ISO signatures BEA01/TEA01/BOOT2, which
  format_inspector does not know. A fixed vhd (a footer only) is a vhd when one
  is declared. An MBR/GPT disk (format_inspector's ``gpt``) is raw. Data that
  matches several formats is the first in ``_SIGNATURES`` (format_inspector
  refuses it outright; here it is refused as a mismatch unless that is the
  declared format).
* qcow2: also refused are a data-file header extension without the feature
  bit, encryption, the corrupt bit, cluster_bits outside 9..21, a bad header
  length and tables past the end of the data; extended L2 entries (bit 4),
  unknown to format_inspector, are accepted.
* vmdk: never a descriptor file (format_inspector passes a monolithicSparse
  one), capacity not 0, exactly one sparse extent, no ``\\`` in extent names,
  no ``parentFileNameHint`` (a backing file format_inspector lets through).
* vhd, vhdx, vdi: no differencing disks (format_inspector has no check there);
  a vhd's size is its footer's current size.
* Errors are ``ImageContentError`` (HTTP 400), worded to say what to do.
"""

from __future__ import annotations

import os
import struct
import uuid
from dataclasses import dataclass

from oslo_utils.imageutils import format_inspector as fi

from stratus.image.formats import (
    AMAZON_FORMATS,
    DISK_FORMATS,
    UNWRAPPED_CONTAINER_FORMATS,
    ImageError,
)

SECTOR = 512
#: The largest virtual size accepted from a header (what a signed 64-bit column holds).
MAX_VIRTUAL_SIZE = 2**63 - 1
_CHUNK = 4096


@dataclass(frozen=True)
class ImageInfo:
    """What the data turned out to be.

    ``format`` is the format found in the bytes: a disk format name, ``iso``, or
    ``raw`` for data that is no recognised container. ``virtual_size`` is the
    size of the disk a guest sees, in bytes, or None where it is not known
    (e.g. data wrapped in an ``ova`` container).
    """

    format: str
    virtual_size: int | None


class ImageContentError(ImageError, ValueError):
    """The image data does not match its declared format or is unsafe (HTTP 400)."""


#: Formats that QEMU (or the kernel) would interpret, never to be taken as raw.
CONTAINER_FORMAT_NAMES: tuple[str, ...] = (
    "qcow2",
    "qed",
    "vmdk",
    "vdi",
    "vhd",
    "vhdx",
    "luks",
    "ploop",
)

_VMDK_SPARSE_MAGIC = b"KDMV"
_VMDK3_MAGIC = b"COWD"
_VHD_COOKIE = b"conectix"
_PLOOP_MAGICS = (b"WithoutFreeSpace", b"WithouFreSpacExt")

#: (format, offset, signatures), first match first.
_SIGNATURES: tuple[tuple[str, int, tuple[bytes, ...]], ...] = (
    ("qcow2", 0, (b"QFI\xfb",)),
    ("qed", 0, (b"QED\x00",)),
    ("vmdk", 0, (_VMDK_SPARSE_MAGIC, _VMDK3_MAGIC, b"# Disk DescriptorFile")),
    ("vdi", 0x40, (struct.pack("<I", 0xBEDA107F),)),
    ("vhdx", 0, (b"vhdxfile",)),
    ("vhd", 0, (_VHD_COOKIE,)),
    ("luks", 0, (b"LUKS\xba\xbe",)),
    ("ploop", 0, _PLOOP_MAGICS),
    # ISO 9660 and UDF volume descriptors at 32 KiB: a type byte, then the identifier.
    ("iso", 0x8001, (b"CD001", b"BEA01", b"NSR02", b"NSR03", b"TEA01", b"BOOT2")),
)


class _Scan:
    """One pass of every format_inspector inspector over an open file."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.size = os.fstat(fd).st_size
        self.inspectors = {n: cls() for n, cls in fi.ALL_FORMATS.items() if n != "raw"}
        #: Inspectors that gave up on the data: it is no (sound) header of theirs.
        self.errors: dict[str, Exception] = {}
        fed: dict[str, int] = {}
        live = dict(self.inspectors)
        offset = 0
        while live and offset < self.size:
            chunk = self.read(offset, _CHUNK)
            offset += len(chunk)
            for name, inspector in list(live.items()):
                try:
                    inspector.eat_chunk(chunk)
                except Exception as exc:  # any failure means "not this format"
                    self.errors[name] = exc
                    del live[name]
                    continue
                if all(r.complete or _at_end(r) for r in _regions(inspector)):
                    fed[name] = offset
                    del live[name]
        for name, inspector in self.inspectors.items():
            if name not in self.errors and fed.get(name, self.size) < self.size:
                for region in filter(_at_end, _regions(inspector)):
                    region.capture(self.read(self.size - region.length, region.length), self.size)
            inspector.finish()

    def read(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset`` (fewer at the end of the file)."""
        if offset < 0 or offset >= self.size or length <= 0:
            return b""
        return os.pread(self.fd, min(length, self.size - offset), offset)

    def detected(self) -> str:
        """The format of the data (``raw`` when none is recognised)."""
        found = {n for n, i in self.inspectors.items() if n not in self.errors and _matches(i)}
        for name, offset, signatures in _SIGNATURES:
            if name in found or self.read(offset, 32).startswith(signatures):
                return name
        return "raw"

    def inspector(self, fmt: str) -> fi.FileInspector:
        """format_inspector's inspector for ``fmt``, holding the whole header."""
        if fmt in self.errors:
            raise ImageContentError(
                f"{fmt} header is invalid ({self.errors[fmt]}); the image is corrupt"
            )
        inspector = self.inspectors[fmt]
        if not inspector.complete:
            raise ImageContentError(
                f"{fmt} header is truncated: the image data ends at byte {self.size}; "
                f"upload the complete image"
            )
        if not _matches(inspector):
            raise ImageContentError(f"image data has no {fmt} header; the image is corrupt")
        return inspector


def _regions(inspector: fi.FileInspector) -> list[fi.CaptureRegion]:
    return [inspector.region(name) for name in inspector.context_info]


def _at_end(region: fi.CaptureRegion) -> bool:
    return isinstance(region, fi.EndCaptureRegion)


def _matches(inspector: fi.FileInspector) -> bool:
    try:
        return bool(inspector.format_match)
    except Exception:  # a header too broken to judge is no match
        return False


def _failures(inspector: fi.FileInspector) -> dict[str, str]:
    """format_inspector's safety checks that fail: {check name: reason}."""
    try:
        inspector.safety_check()
    except fi.SafetyCheckFailed as exc:
        return {name: str(reason) for name, reason in exc.failures.items()}
    return {}


def _refuse_unworded(fmt: str, failures: dict[str, str], hint: str) -> None:
    if failures:
        reasons = "; ".join(f"{name}: {reason}" for name, reason in failures.items())
        raise ImageContentError(f"{fmt} image fails the safety checks ({reasons}); {hint}")


def _printable(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").replace("\x00", "")


# --- qcow2 --------------------------------------------------------------------

_QCOW2_INCOMPAT_CORRUPT = 1 << 1
#: dirty, corrupt, data file, compression type, extended L2 entries.
_QCOW2_KNOWN_INCOMPAT = 0b11111
_QCOW2_EXT_DATA_FILE = 0x44415441
_QCOW2_FLATTEN_HINT = "convert it to a self-contained image first: qemu-img convert -O qcow2 IN OUT"


def _inspect_qcow2(scan: _Scan) -> int:
    inspector = scan.inspector("qcow2")
    failures = _failures(inspector)
    header = inspector.region("header").data
    version, backing_offset, backing_size, cluster_bits = struct.unpack_from(">IQII", header, 4)
    crypt_method, l1_size, l1_offset, refcount_offset, refcount_clusters = struct.unpack_from(
        ">IIQQI", header, 32
    )
    (incompatible,) = struct.unpack_from(">Q", header, 72)
    (header_length,) = struct.unpack_from(">I", header, 100)
    # format_inspector refuses versions other than 2 and 3 as "unknown features";
    # the feature bits themselves are judged below.
    if failures.pop("unknown_features", None) and version not in (2, 3):
        raise ImageContentError(
            f"qcow2 version {version} is not supported; only versions 2 and 3 are "
            f"(convert it with: qemu-img convert -O qcow2 IN OUT)"
        )
    if not 9 <= cluster_bits <= 21:
        raise ImageContentError(
            f"qcow2 header is invalid: cluster_bits {cluster_bits} is outside 9..21"
        )
    cluster_size = 1 << cluster_bits
    if version == 2:
        incompatible, header_length = 0, 72
    elif header_length < 104 or header_length > cluster_size:
        raise ImageContentError(
            f"qcow2 header is invalid: header length {header_length} is not "
            f"between 104 and the cluster size {cluster_size}"
        )

    if failures.pop("backing_file", None):
        name = b""
        if backing_offset < cluster_size and backing_size <= 1023:
            name = scan.read(backing_offset, backing_size)
        raise ImageContentError(
            f"qcow2 image references a backing file {_printable(name)!r}; images with "
            f"backing files are refused because they could expose host files; "
            f"{_QCOW2_FLATTEN_HINT}"
        )
    data_file = _qcow2_data_file_name(scan, header_length, cluster_size)
    if failures.pop("data_file", None) or data_file is not None:
        raise ImageContentError(
            f"qcow2 image uses an external data file {data_file or ''!r}; images with "
            f"external data files are refused because they could expose host files; "
            f"{_QCOW2_FLATTEN_HINT}"
        )
    unknown = incompatible & ~_QCOW2_KNOWN_INCOMPAT
    if unknown:
        bits = ", ".join(str(bit) for bit in range(64) if unknown >> bit & 1)
        raise ImageContentError(
            f"qcow2 image uses unknown incompatible features (bits {bits}); it cannot "
            f"be checked safely; {_QCOW2_FLATTEN_HINT}"
        )
    if incompatible & _QCOW2_INCOMPAT_CORRUPT:
        raise ImageContentError(
            "qcow2 image is marked corrupt; repair it with 'qemu-img check -r all' before uploading"
        )
    if crypt_method:
        kind = {1: "AES", 2: "LUKS"}.get(crypt_method, f"method {crypt_method}")
        raise ImageContentError(
            f"qcow2 image is encrypted ({kind}); encrypted images are not supported "
            f"because compute hosts have no key to open them; upload it decrypted"
        )
    tables = [("refcount table", refcount_offset, refcount_clusters * cluster_size)]
    if l1_size:
        tables.append(("L1 table", l1_offset, l1_size * 8))
    for name, offset, length in tables:
        if offset + length > scan.size:
            raise ImageContentError(
                f"qcow2 image is truncated: its {name} at offset {offset} ends beyond the "
                f"end of the data ({scan.size} bytes); upload the complete image"
            )
    _refuse_unworded("qcow2", failures, _QCOW2_FLATTEN_HINT)
    return inspector.virtual_size


def _qcow2_data_file_name(scan: _Scan, start: int, cluster_size: int) -> str | None:
    """Walk the header extensions; return the external data file name if one is set."""
    area = scan.read(0, cluster_size)
    offset = start
    while offset + 8 <= cluster_size:
        if offset + 8 > len(area):
            raise ImageContentError(
                "qcow2 header is truncated: the data ends inside the header extensions; "
                "upload the complete image"
            )
        ext_type, length = struct.unpack_from(">II", area, offset)
        if ext_type == 0:  # end of the extensions
            return None
        payload = offset + 8
        if payload + length > cluster_size:
            raise ImageContentError(
                f"qcow2 header extension 0x{ext_type:08x} at offset {offset} runs past "
                f"the first cluster; the header is corrupt"
            )
        if ext_type == _QCOW2_EXT_DATA_FILE:
            return _printable(area[payload : payload + length])
        offset = payload + (length + 7) // 8 * 8
    return None


# --- vmdk ---------------------------------------------------------------------

_VMDK_CREATE_TYPES = ("monolithicsparse", "streamoptimized")
_VMDK_MAX_DESCRIPTOR = 1 << 20
_VMDK_EXTENT_ACCESS = ("rw", "rdonly", "noaccess")
#: QEMU looks for a parent (backing file) name anywhere in this window.
_VMDK_QEMU_DESCRIPTOR = (0x200, 20 * SECTOR)
_VMDK_PARENT_HINT = b"parentfilenamehint"
_VMDK_CONVERT_HINT = "qemu-img convert -O vmdk -o subformat=streamOptimized IN OUT"


def _inspect_vmdk(scan: _Scan) -> int:
    head = scan.read(0, 4)
    if head == _VMDK3_MAGIC:
        raise ImageContentError(
            f"vmdk version 3 (COWD) images are not supported; convert with: {_VMDK_CONVERT_HINT}"
        )
    if head != _VMDK_SPARSE_MAGIC:
        raise ImageContentError(
            "vmdk image is a descriptor file that points at separate extent files; "
            "only single-file monolithicSparse or streamOptimized vmdk images are "
            f"accepted (convert with: {_VMDK_CONVERT_HINT})"
        )
    inspector = scan.inspector("vmdk")
    failures = _failures(inspector)
    capacity, _grain, _desc_offset, desc_size = struct.unpack_from(
        "<QQQQ", inspector.region("header").data, 12
    )
    if desc_size * SECTOR > _VMDK_MAX_DESCRIPTOR:
        raise ImageContentError(
            f"vmdk descriptor of {desc_size * SECTOR} bytes is larger than the "
            f"{_VMDK_MAX_DESCRIPTOR} bytes accepted"
        )
    if capacity == 0:
        # QEMU then takes the extents from the embedded descriptor, which could
        # name any file.
        raise ImageContentError(
            "vmdk header has capacity 0 and defers to the extents in its descriptor; "
            "such images are refused because they could expose host files"
        )
    text = inspector.desc_text
    if text is None:
        raise ImageContentError("vmdk descriptor is not ASCII text; the image is corrupt")
    if _VMDK_PARENT_HINT in text.encode() + scan.read(*_VMDK_QEMU_DESCRIPTOR).lower():
        raise ImageContentError(
            "vmdk image names a parent disk (parentFileNameHint), which acts as a "
            "backing file; images with backing files are refused because they could "
            f"expose host files; convert it with: {_VMDK_CONVERT_HINT}"
        )
    _check_vmdk_descriptor(text)
    _refuse_unworded("vmdk", failures, f"convert it with: {_VMDK_CONVERT_HINT}")
    return inspector.virtual_size


def _check_vmdk_descriptor(text: str) -> None:
    """Stratus' reading of the (lower-case) descriptor, stricter than format_inspector's."""
    create_type = None
    extents = 0
    for line in (x.strip() for x in text.splitlines()):
        if not line or line.startswith("#") or line.startswith("ddb"):
            continue
        if line.split(" ")[0] in _VMDK_EXTENT_ACCESS:
            fields = line.split()
            if len(fields) < 3 or fields[2] != "sparse":
                raise ImageContentError(
                    f"vmdk descriptor extent line {line!r} is not a sparse extent; only "
                    f"single-file sparse vmdk images are accepted"
                )
            if "/" in line or "\\" in line:
                raise ImageContentError(
                    f"vmdk descriptor extent line {line!r} names a path; images that "
                    f"reference other files are refused because they could expose "
                    f"host files"
                )
            extents += 1
        elif "=" in line and " " not in line.split("=")[0].strip():
            key, _, value = line.partition("=")
            if key.strip() == "createtype":
                create_type = value.strip().strip('"')
        else:
            raise ImageContentError(f"vmdk descriptor has an unrecognised line {line!r}")
    if create_type not in _VMDK_CREATE_TYPES:
        raise ImageContentError(
            f"vmdk createType {create_type!r} is not accepted; only monolithicSparse "
            f"and streamOptimized are (convert with: {_VMDK_CONVERT_HINT})"
        )
    if extents != 1:
        raise ImageContentError(
            f"vmdk descriptor lists {extents} extents; a single-file image has exactly one"
        )


# --- vhd / vhdx / vdi / ploop -------------------------------------------------

_DIFFERENCING = 4  # the disk type of a differencing vhd and of a vdi
_DIFFERENCING_REFUSED = (
    "is a differencing disk that references a parent file; such images are "
    "refused because they could expose host files; merge it first"
)


def _vhd_footer(scan: _Scan) -> bytes | None:
    head = scan.read(0, SECTOR)
    if head.startswith(_VHD_COOKIE):
        return head
    # A fixed VHD is raw data followed by a 512-byte footer (older tools write 511).
    for length in (SECTOR, SECTOR - 1):
        tail = scan.read(scan.size - length, length)
        if len(tail) == length and tail.startswith(_VHD_COOKIE):
            return tail
    return None


def _inspect_vhd(scan: _Scan) -> int:
    # format_inspector knows only a dynamic vhd (a footer copy at the start), has
    # no safety check for it and reads the original rather than the current size.
    footer = _vhd_footer(scan)
    if footer is None:
        raise ImageContentError("image data has no vhd footer (cookie 'conectix')")
    if len(footer) < 64:
        raise ImageContentError("vhd footer is truncated")
    current_size, _geometry, disk_type = struct.unpack_from(">QII", footer, 48)
    if disk_type == _DIFFERENCING:
        raise ImageContentError(f"vhd image {_DIFFERENCING_REFUSED}")
    if disk_type not in (2, 3):
        raise ImageContentError(f"vhd disk type {disk_type} is not supported")
    return current_size


_VHDX_FILE_PARAMETERS = uuid.UUID("caa16737-fa36-4d43-b3b6-33f0aa44e76b").bytes_le
_VHDX_PARENT_LOCATOR = uuid.UUID("a8d35f2d-b30b-454d-abf7-d3d84834ab0c").bytes_le
_VHDX_HAS_PARENT = 1 << 1


def _inspect_vhdx(scan: _Scan) -> int:
    inspector = scan.inspector("vhdx")
    if not inspector.has_region("metadata"):
        raise ImageContentError("vhdx image has no metadata region; the image is corrupt")
    metadata = inspector.region("metadata")
    (count,) = struct.unpack_from("<H", metadata.data, 10)
    items = {
        guid: offset
        for guid, offset in (
            struct.unpack_from("<16sI", metadata.data, 32 * (i + 1)) for i in range(count)
        )
    }
    params = b""
    if _VHDX_FILE_PARAMETERS in items:
        params = scan.read(metadata.offset + items[_VHDX_FILE_PARAMETERS], 8)
    has_parent = len(params) == 8 and struct.unpack_from("<I", params, 4)[0] & _VHDX_HAS_PARENT
    if has_parent or _VHDX_PARENT_LOCATOR in items:
        raise ImageContentError(f"vhdx image {_DIFFERENCING_REFUSED}")
    if not inspector.has_region("vds"):
        raise ImageContentError("vhdx image has no virtual disk size; the image is corrupt")
    return inspector.virtual_size


def _inspect_vdi(scan: _Scan) -> int:
    inspector = scan.inspector("vdi")
    (image_type,) = struct.unpack_from("<I", inspector.region("header").data, 0x4C)
    if image_type == _DIFFERENCING:
        raise ImageContentError(
            "vdi image is a differencing image that depends on a parent; merge it first"
        )
    return inspector.virtual_size


def _inspect_ploop(scan: _Scan) -> int:
    # format_inspector does not know ploop.
    header = scan.read(0, 64)
    if len(header) < 64:
        raise ImageContentError(
            f"ploop header is truncated: the image data ends at byte {scan.size}; "
            f"upload the complete image"
        )
    (sectors,) = struct.unpack_from("<Q", header, 36)
    if header[:16] == _PLOOP_MAGICS[0]:
        sectors &= 0xFFFFFFFF
    return sectors * SECTOR


_INSPECTORS = {
    "qcow2": _inspect_qcow2,
    "vmdk": _inspect_vmdk,
    "vhd": _inspect_vhd,
    "vhdx": _inspect_vhdx,
    "vdi": _inspect_vdi,
    "ploop": _inspect_ploop,
}

#: Declared disk formats whose data is plain bytes.
_RAW_LIKE = frozenset({"raw"} | AMAZON_FORMATS)

_FORMAT_NAMES = {
    "qed": "QED (a QEMU format with backing files)",
    "luks": "LUKS-encrypted",
}


# --- entry points -------------------------------------------------------------


def detect_format(path: str | os.PathLike[str]) -> str:
    """Name the format of the file's bytes (``raw`` when none is recognised)."""
    with open(path, "rb") as f:
        return _Scan(f.fileno()).detected()


def _mismatch(detected: str, disk_format: str) -> ImageContentError:
    shown = _FORMAT_NAMES.get(detected, detected)
    if detected in DISK_FORMATS:
        hint = f"set disk_format to {detected!r} or upload {disk_format} data"
    else:
        hint = f"convert it to {disk_format} first (qemu-img convert -O {disk_format} IN OUT)"
    return ImageContentError(f"image data is {shown} but disk_format is {disk_format}; {hint}")


def _inspect(scan: _Scan, disk_format: str, container_format: str | None) -> ImageInfo:
    detected = scan.detected()
    if disk_format == "vhd" and detected == "raw" and _vhd_footer(scan) is not None:
        # A fixed vhd has no header, only a footer; take one as a vhd when declared.
        detected = "vhd"

    if container_format is not None and container_format not in UNWRAPPED_CONTAINER_FORMATS:
        # The bytes are a wrapper (ova, docker, compressed ...), not the disk: they
        # cannot be matched against disk_format, but a bare disk still gets its
        # safety checks.
        if detected in _INSPECTORS:
            _virtual_size(scan, detected)
        return ImageInfo(detected, None)

    if disk_format in _RAW_LIKE:
        if detected in CONTAINER_FORMAT_NAMES:
            raise _mismatch(detected, disk_format)
        return ImageInfo(detected, scan.size)
    if disk_format == "iso":
        if detected != "iso":
            shown = "not an ISO 9660 or UDF image" if detected == "raw" else detected
            raise ImageContentError(
                f"image data is {_FORMAT_NAMES.get(shown, shown)} but disk_format is iso; "
                f"an iso image needs a volume descriptor at byte 32768"
            )
        return ImageInfo("iso", scan.size)
    if detected != disk_format:
        if detected in ("raw", "iso"):
            what = "not recognised as any disk format" if detected == "raw" else "an ISO image"
            raise ImageContentError(
                f"image data is {what} but disk_format is {disk_format}; check the file "
                f"(qemu-img info FILE) and set disk_format to what it is"
            )
        raise _mismatch(detected, disk_format)
    return ImageInfo(detected, _virtual_size(scan, detected))


def _virtual_size(scan: _Scan, fmt: str) -> int:
    """Run the checks of ``fmt``; return the virtual size its header records."""
    size = _INSPECTORS[fmt](scan)
    if size > MAX_VIRTUAL_SIZE:
        raise ImageContentError(f"{fmt} header is invalid: virtual size {size} is too large")
    return size


def inspect_image(
    path: str | os.PathLike[str],
    disk_format: str,
    container_format: str | None = "bare",
) -> ImageInfo:
    """Check that the file's bytes are ``disk_format`` and safe to hand to QEMU.

    Returns an ``ImageInfo``; raises ``ImageContentError`` with a message that
    says what is wrong and what to do about it. Only headers are read.
    """
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0 and disk_format not in _RAW_LIKE:
            raise ImageContentError(f"image data is empty but disk_format is {disk_format}")
        if disk_format not in DISK_FORMATS:
            raise ImageContentError(
                f"disk_format {disk_format!r} is not valid; allowed values: "
                f"{', '.join(DISK_FORMATS)}"
            )
        return _inspect(_Scan(f.fileno()), disk_format, container_format)


class ImageVerifier:
    """A ``verify`` hook for ``FileStore.add`` that keeps the result.

    ``verifier = ImageVerifier("qcow2"); store.add(..., verify=verifier)``;
    afterwards ``verifier.info`` holds the ``ImageInfo`` of the stored data.
    """

    def __init__(self, disk_format: str, container_format: str | None = "bare") -> None:
        self.disk_format = disk_format
        self.container_format = container_format
        self.info: ImageInfo | None = None

    def __call__(self, path: str | os.PathLike[str]) -> ImageInfo:
        self.info = inspect_image(path, self.disk_format, self.container_format)
        return self.info


__all__ = [
    "CONTAINER_FORMAT_NAMES",
    "ImageContentError",
    "ImageInfo",
    "ImageVerifier",
    "detect_format",
    "inspect_image",
]
