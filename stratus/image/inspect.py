"""Content inspection of uploaded image data.

An image's ``disk_format`` is only a claim. QEMU decides how to read a disk from
its bytes, so a "raw" upload that is really a qcow2 (or a qcow2 whose header
names a backing file or an external data file) could make a compute host open
host files on a tenant's behalf. Every upload is therefore checked here, from
its headers only, before it is stored:

* the bytes must be the declared format (a raw image must not be any format QEMU
  recognises);
* qcow2: versions 2 and 3 only, no backing file, no external data file, no
  encryption, no corrupt flag, no incompatible feature this parser does not
  know;
* vmdk: only single-file monolithicSparse / streamOptimized images whose
  embedded descriptor names no other file and no parent (parentFileNameHint);
* vhd / vhdx: no differencing (parent) disks.

This is a small ``struct`` parser reading a few KiB of headers: no subprocess,
and the image is never read whole.
"""

from __future__ import annotations

import os
import struct
import uuid
from dataclasses import dataclass

from stratus.image.formats import (
    AMAZON_FORMATS,
    DISK_FORMATS,
    UNWRAPPED_CONTAINER_FORMATS,
    ImageError,
)

SECTOR = 512
#: The largest virtual size accepted from a header (what a signed 64-bit column holds).
MAX_VIRTUAL_SIZE = 2**63 - 1


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


class _Reader:
    """Bounded positional reads from an open file."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size

    def read(self, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes at ``offset`` (fewer at the end of the file)."""
        if offset < 0 or offset >= self.size or length <= 0:
            return b""
        length = min(length, self.size - offset)
        chunks = []
        while length > 0:
            data = os.pread(self.fd, length, offset)
            if not data:
                break
            chunks.append(data)
            offset += len(data)
            length -= len(data)
        return b"".join(chunks)

    def exact(self, offset: int, length: int, what: str) -> bytes:
        data = self.read(offset, length)
        if len(data) != length:
            raise ImageContentError(
                f"{what} is truncated: the image data ends at byte {self.size}, "
                f"needed {length} bytes at offset {offset}; upload the complete image"
            )
        return data


# --- detection ----------------------------------------------------------------

_QCOW2_MAGIC = b"QFI\xfb"
_QED_MAGIC = b"QED\x00"
_VMDK_SPARSE_MAGIC = b"KDMV"
_VMDK3_MAGIC = b"COWD"
_VMDK_DESCRIPTOR_MAGIC = b"# Disk DescriptorFile"
_VDI_SIGNATURE = 0xBEDA107F
_VHD_COOKIE = b"conectix"
_VHDX_SIGNATURE = b"vhdxfile"
_LUKS_MAGIC = b"LUKS\xba\xbe"
_PLOOP_MAGICS = (b"WithoutFreeSpace", b"WithouFreSpacExt")
_ISO_SIGNATURES = (b"CD001", b"BEA01", b"NSR02", b"NSR03", b"TEA01", b"BOOT2")
_ISO_DESCRIPTOR_AREA = 0x8000

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


def _detect(reader: _Reader) -> str:
    head = reader.read(0, 512)
    if head.startswith(_QCOW2_MAGIC):
        return "qcow2"
    if head.startswith(_QED_MAGIC):
        return "qed"
    if head.startswith((_VMDK_SPARSE_MAGIC, _VMDK3_MAGIC, _VMDK_DESCRIPTOR_MAGIC)):
        return "vmdk"
    if len(head) >= 0x44 and struct.unpack_from("<I", head, 0x40)[0] == _VDI_SIGNATURE:
        return "vdi"
    if head.startswith(_VHDX_SIGNATURE):
        return "vhdx"
    if head.startswith(_VHD_COOKIE):
        return "vhd"
    if head.startswith(_LUKS_MAGIC):
        return "luks"
    if head[:16] in _PLOOP_MAGICS:
        return "ploop"
    if _is_iso(reader):
        return "iso"
    return "raw"


def _is_iso(reader: _Reader) -> bool:
    # ISO 9660 and UDF both start their volume descriptors at 32 KiB: one type
    # byte, then a five-byte standard identifier.
    return reader.read(_ISO_DESCRIPTOR_AREA + 1, 5) in _ISO_SIGNATURES


def detect_format(path: str | os.PathLike[str]) -> str:
    """Name the format of the file's bytes (``raw`` when none is recognised)."""
    with open(path, "rb") as f:
        return _detect(_Reader(f.fileno(), os.fstat(f.fileno()).st_size))


# --- qcow2 --------------------------------------------------------------------

_QCOW2_V2_HEADER = struct.Struct(">4sIQIIQIIQQIIQ")  # 72 bytes
_QCOW2_V3_FIELDS = struct.Struct(">QQQII")  # 32 more bytes: 104
_QCOW2_INCOMPAT_DIRTY = 1 << 0
_QCOW2_INCOMPAT_CORRUPT = 1 << 1
_QCOW2_INCOMPAT_DATA_FILE = 1 << 2
_QCOW2_INCOMPAT_COMPRESSION = 1 << 3
_QCOW2_INCOMPAT_EXTL2 = 1 << 4
_QCOW2_KNOWN_INCOMPAT = (
    _QCOW2_INCOMPAT_DIRTY
    | _QCOW2_INCOMPAT_CORRUPT
    | _QCOW2_INCOMPAT_DATA_FILE
    | _QCOW2_INCOMPAT_COMPRESSION
    | _QCOW2_INCOMPAT_EXTL2
)
_QCOW2_EXT_END = 0x00000000
_QCOW2_EXT_DATA_FILE = 0x44415441
_QCOW2_FLATTEN_HINT = "convert it to a self-contained image first: qemu-img convert -O qcow2 IN OUT"


def _printable(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").replace("\x00", "")


def _inspect_qcow2(reader: _Reader) -> int:
    (
        magic,
        version,
        backing_offset,
        backing_size,
        cluster_bits,
        size,
        crypt_method,
        l1_size,
        l1_offset,
        refcount_offset,
        refcount_clusters,
        _nb_snapshots,
        _snapshots_offset,
    ) = _QCOW2_V2_HEADER.unpack(reader.exact(0, _QCOW2_V2_HEADER.size, "qcow2 header"))
    if magic != _QCOW2_MAGIC:
        raise ImageContentError("image data has no qcow2 header (magic QFI\\xfb)")
    if version not in (2, 3):
        raise ImageContentError(
            f"qcow2 version {version} is not supported; only versions 2 and 3 are "
            f"(convert it with: qemu-img convert -O qcow2 IN OUT)"
        )
    if not 9 <= cluster_bits <= 21:
        raise ImageContentError(
            f"qcow2 header is invalid: cluster_bits {cluster_bits} is outside 9..21"
        )
    cluster_size = 1 << cluster_bits
    incompatible = 0
    header_length = _QCOW2_V2_HEADER.size
    if version == 3:
        incompatible, _compatible, _autoclear, _refcount_order, header_length = (
            _QCOW2_V3_FIELDS.unpack(
                reader.exact(_QCOW2_V2_HEADER.size, _QCOW2_V3_FIELDS.size, "qcow2 v3 header")
            )
        )
        if header_length < 104 or header_length > cluster_size:
            raise ImageContentError(
                f"qcow2 header is invalid: header length {header_length} is not "
                f"between 104 and the cluster size {cluster_size}"
            )

    if backing_offset:
        name = b""
        if backing_offset < cluster_size and backing_size <= 1023:
            name = reader.read(backing_offset, backing_size)
        raise ImageContentError(
            f"qcow2 image references a backing file {_printable(name)!r}; images with "
            f"backing files are refused because they could expose host files; "
            f"{_QCOW2_FLATTEN_HINT}"
        )

    data_file = _qcow2_data_file_name(reader, header_length, cluster_size)
    if incompatible & _QCOW2_INCOMPAT_DATA_FILE or data_file is not None:
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
    if size > MAX_VIRTUAL_SIZE:
        raise ImageContentError(f"qcow2 header is invalid: virtual size {size} is too large")
    tables = [("refcount table", refcount_offset, refcount_clusters * cluster_size)]
    if l1_size:
        tables.append(("L1 table", l1_offset, l1_size * 8))
    for name, offset, length in tables:
        if offset + length > reader.size:
            raise ImageContentError(
                f"qcow2 image is truncated: its {name} at offset {offset} ends beyond the "
                f"end of the data ({reader.size} bytes); upload the complete image"
            )
    return size


def _qcow2_data_file_name(reader: _Reader, start: int, cluster_size: int) -> str | None:
    """Walk the header extensions; return the external data file name if one is set."""
    area = reader.read(0, cluster_size)
    offset = start
    while offset + 8 <= cluster_size:
        if offset + 8 > len(area):
            raise ImageContentError(
                "qcow2 header is truncated: the data ends inside the header extensions; "
                "upload the complete image"
            )
        ext_type, length = struct.unpack_from(">II", area, offset)
        if ext_type == _QCOW2_EXT_END:
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

_VMDK_HEADER = struct.Struct("<4sIIQQQQ")  # magic, version, flags, capacity, grain, desc
_VMDK_CREATE_TYPES = ("monolithicsparse", "streamoptimized")
_VMDK_MAX_DESCRIPTOR = 1 << 20
_VMDK_EXTENT_ACCESS = ("rw", "rdonly", "noaccess")
#: QEMU looks for a parent (backing file) name anywhere in this window.
_VMDK_QEMU_DESCRIPTOR = (0x200, 20 * SECTOR)
_VMDK_PARENT_HINT = b"parentfilenamehint"


def _inspect_vmdk(reader: _Reader) -> int:
    head = reader.read(0, 512)
    if head.startswith(_VMDK_DESCRIPTOR_MAGIC):
        raise ImageContentError(
            "vmdk image is a descriptor file that points at separate extent files; "
            "only single-file monolithicSparse or streamOptimized vmdk images are "
            "accepted (convert with: qemu-img convert -O vmdk -o subformat=streamOptimized "
            "IN OUT)"
        )
    if head.startswith(_VMDK3_MAGIC):
        raise ImageContentError(
            "vmdk version 3 (COWD) images are not supported; convert with: qemu-img "
            "convert -O vmdk -o subformat=streamOptimized IN OUT"
        )
    magic, version, _flags, capacity, _grain, desc_offset, desc_size = _VMDK_HEADER.unpack(
        reader.exact(0, _VMDK_HEADER.size, "vmdk header")
    )
    if magic != _VMDK_SPARSE_MAGIC:
        raise ImageContentError("image data has no vmdk header (magic KDMV)")
    if version not in (1, 2, 3):
        raise ImageContentError(f"vmdk version {version} is not supported")
    if not desc_offset or not desc_size:
        raise ImageContentError(
            "vmdk image has no embedded descriptor; only monolithicSparse or "
            "streamOptimized vmdk images are accepted"
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
    raw = reader.exact(desc_offset * SECTOR, desc_size * SECTOR, "vmdk descriptor")
    for area in (raw, reader.read(*_VMDK_QEMU_DESCRIPTOR)):
        if _VMDK_PARENT_HINT in area.lower():
            raise ImageContentError(
                "vmdk image names a parent disk (parentFileNameHint), which acts as a "
                "backing file; images with backing files are refused because they could "
                "expose host files; convert it with: qemu-img convert -O vmdk "
                "-o subformat=streamOptimized IN OUT"
            )
    _check_vmdk_descriptor(raw)
    virtual_size = capacity * SECTOR
    if virtual_size > MAX_VIRTUAL_SIZE:
        raise ImageContentError(f"vmdk header is invalid: capacity {capacity} is too large")
    return virtual_size


def _check_vmdk_descriptor(raw: bytes) -> None:
    try:
        text = raw.rstrip(b"\x00").decode("ascii").lower()
    except UnicodeDecodeError:
        raise ImageContentError("vmdk descriptor is not ASCII text; the image is corrupt") from None
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
            f"and streamOptimized are (convert with: qemu-img convert -O vmdk "
            f"-o subformat=streamOptimized IN OUT)"
        )
    if extents != 1:
        raise ImageContentError(
            f"vmdk descriptor lists {extents} extents; a single-file image has exactly one"
        )


# --- vhd / vhdx / vdi / ploop -------------------------------------------------

_VHD_DIFFERENCING = 4


def _vhd_footer(reader: _Reader) -> bytes | None:
    head = reader.read(0, SECTOR)
    if head.startswith(_VHD_COOKIE):
        return head
    # A fixed VHD is raw data followed by a 512-byte footer (older tools write 511).
    for length in (SECTOR, SECTOR - 1):
        tail = reader.read(reader.size - length, length)
        if len(tail) == length and tail.startswith(_VHD_COOKIE):
            return tail
    return None


def _inspect_vhd(reader: _Reader) -> int:
    footer = _vhd_footer(reader)
    if footer is None:
        raise ImageContentError("image data has no vhd footer (cookie 'conectix')")
    if len(footer) < 64:
        raise ImageContentError("vhd footer is truncated")
    current_size, _geometry, disk_type = struct.unpack_from(">QII", footer, 48)
    if disk_type == _VHD_DIFFERENCING:
        raise ImageContentError(
            "vhd image is a differencing disk that references a parent file; such "
            "images are refused because they could expose host files; merge it first"
        )
    if disk_type not in (2, 3):
        raise ImageContentError(f"vhd disk type {disk_type} is not supported")
    if current_size > MAX_VIRTUAL_SIZE:
        raise ImageContentError(f"vhd footer is invalid: size {current_size} is too large")
    return current_size


_VHDX_REGION_TABLE = 192 * 1024
_VHDX_METADATA_REGION = uuid.UUID("8b7ca206-4790-4b9a-b8fe-575f050f886e").bytes_le
_VHDX_FILE_PARAMETERS = uuid.UUID("caa16737-fa36-4d43-b3b6-33f0aa44e76b").bytes_le
_VHDX_VIRTUAL_DISK_SIZE = uuid.UUID("2fa54224-cd1b-4876-b211-5dbed83bf4b8").bytes_le
_VHDX_PARENT_LOCATOR = uuid.UUID("a8d35f2d-b30b-454d-abf7-d3d84834ab0c").bytes_le
_VHDX_HAS_PARENT = 1 << 1
_VHDX_MAX_ENTRIES = 2047


def _inspect_vhdx(reader: _Reader) -> int:
    if not reader.read(0, 8) == _VHDX_SIGNATURE:
        raise ImageContentError("image data has no vhdx signature ('vhdxfile')")
    table = reader.exact(_VHDX_REGION_TABLE, 16, "vhdx region table")
    signature, _checksum, count = struct.unpack_from("<4sII", table)
    if signature != b"regi" or count > _VHDX_MAX_ENTRIES:
        raise ImageContentError("vhdx region table is invalid; the image is corrupt")
    entries = reader.exact(_VHDX_REGION_TABLE + 16, 32 * count, "vhdx region table")
    metadata_offset = None
    for i in range(count):
        guid, offset, _length, _required = struct.unpack_from("<16sQII", entries, 32 * i)
        if guid == _VHDX_METADATA_REGION:
            metadata_offset = offset
    if metadata_offset is None:
        raise ImageContentError("vhdx image has no metadata region; the image is corrupt")

    header = reader.exact(metadata_offset, 32, "vhdx metadata table")
    signature, _reserved, count = struct.unpack_from("<8sHH", header)
    if signature != b"metadata" or count > _VHDX_MAX_ENTRIES:
        raise ImageContentError("vhdx metadata table is invalid; the image is corrupt")
    items = reader.exact(metadata_offset + 32, 32 * count, "vhdx metadata table")
    values: dict[bytes, bytes] = {}
    for i in range(count):
        guid, offset, length, _flags = struct.unpack_from("<16sIII", items, 32 * i)
        values[guid] = reader.read(metadata_offset + offset, min(length, 64))
    params = values.get(_VHDX_FILE_PARAMETERS, b"")
    has_parent = len(params) >= 8 and struct.unpack_from("<I", params, 4)[0] & _VHDX_HAS_PARENT
    if has_parent or _VHDX_PARENT_LOCATOR in values:
        raise ImageContentError(
            "vhdx image is a differencing disk that references a parent file; such "
            "images are refused because they could expose host files; merge it first"
        )
    size = values.get(_VHDX_VIRTUAL_DISK_SIZE, b"")
    if len(size) < 8:
        raise ImageContentError("vhdx image has no virtual disk size; the image is corrupt")
    virtual_size = struct.unpack_from("<Q", size)[0]
    if virtual_size > MAX_VIRTUAL_SIZE:
        raise ImageContentError(f"vhdx virtual size {virtual_size} is too large")
    return virtual_size


_VDI_DIFFERENCING = 4


def _inspect_vdi(reader: _Reader) -> int:
    header = reader.exact(0, 0x178, "vdi header")
    signature, _version = struct.unpack_from("<II", header, 0x40)
    if signature != _VDI_SIGNATURE:
        raise ImageContentError("image data has no vdi header (signature 0xbeda107f)")
    (image_type,) = struct.unpack_from("<I", header, 0x4C)
    if image_type == _VDI_DIFFERENCING:
        raise ImageContentError(
            "vdi image is a differencing image that depends on a parent; merge it first"
        )
    (disk_size,) = struct.unpack_from("<Q", header, 0x170)
    if disk_size > MAX_VIRTUAL_SIZE:
        raise ImageContentError(f"vdi header is invalid: size {disk_size} is too large")
    return disk_size


def _inspect_ploop(reader: _Reader) -> int:
    header = reader.exact(0, 64, "ploop header")
    magic = header[:16]
    if magic not in _PLOOP_MAGICS:
        raise ImageContentError("image data has no ploop header")
    (sectors,) = struct.unpack_from("<Q", header, 36)
    if magic == _PLOOP_MAGICS[0]:
        sectors &= 0xFFFFFFFF
    virtual_size = sectors * SECTOR
    if virtual_size > MAX_VIRTUAL_SIZE:
        raise ImageContentError(f"ploop header is invalid: {sectors} sectors is too many")
    return virtual_size


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


def _mismatch(detected: str, disk_format: str) -> ImageContentError:
    shown = _FORMAT_NAMES.get(detected, detected)
    if detected in DISK_FORMATS:
        hint = f"set disk_format to {detected!r} or upload {disk_format} data"
    else:
        hint = f"convert it to {disk_format} first (qemu-img convert -O {disk_format} IN OUT)"
    return ImageContentError(f"image data is {shown} but disk_format is {disk_format}; {hint}")


def _inspect(reader: _Reader, disk_format: str, container_format: str | None) -> ImageInfo:
    if disk_format not in DISK_FORMATS:
        raise ImageContentError(
            f"disk_format {disk_format!r} is not valid; allowed values: {', '.join(DISK_FORMATS)}"
        )
    detected = _detect(reader)
    if disk_format == "vhd" and detected == "raw" and _vhd_footer(reader) is not None:
        # A fixed vhd has no header, only a footer; take one as a vhd when declared.
        detected = "vhd"

    if container_format is not None and container_format not in UNWRAPPED_CONTAINER_FORMATS:
        # The bytes are a wrapper (ova, docker, compressed ...), not the disk: they
        # cannot be matched against disk_format, but a bare disk still gets its
        # safety checks.
        if detected in _INSPECTORS:
            _INSPECTORS[detected](reader)
        return ImageInfo(detected, None)

    if disk_format in _RAW_LIKE:
        if detected in CONTAINER_FORMAT_NAMES:
            raise _mismatch(detected, disk_format)
        return ImageInfo(detected, reader.size)
    if disk_format == "iso":
        if detected != "iso":
            shown = "not an ISO 9660 or UDF image" if detected == "raw" else detected
            raise ImageContentError(
                f"image data is {_FORMAT_NAMES.get(shown, shown)} but disk_format is iso; "
                f"an iso image needs a volume descriptor at byte 32768"
            )
        return ImageInfo("iso", reader.size)
    if detected != disk_format:
        if detected in ("raw", "iso"):
            what = "not recognised as any disk format" if detected == "raw" else "an ISO image"
            raise ImageContentError(
                f"image data is {what} but disk_format is {disk_format}; check the file "
                f"(qemu-img info FILE) and set disk_format to what it is"
            )
        raise _mismatch(detected, disk_format)
    return ImageInfo(detected, _INSPECTORS[detected](reader))


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
        reader = _Reader(f.fileno(), os.fstat(f.fileno()).st_size)
        if reader.size == 0 and disk_format not in _RAW_LIKE:
            raise ImageContentError(f"image data is empty but disk_format is {disk_format}")
        return _inspect(reader, disk_format, container_format)


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
