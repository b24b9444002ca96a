"""Content inspection against real files made by qemu-img."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from stratus.image import formats
from stratus.image.inspect import (
    CONTAINER_FORMAT_NAMES,
    ImageContentError,
    ImageInfo,
    ImageVerifier,
    detect_format,
    inspect_image,
)

MakeImage = Callable[..., Path]
GIB = 1 << 30


def patched(src: Path, dest: Path, offset: int, data: bytes) -> Path:
    """A copy of ``src`` with ``data`` written at ``offset``."""
    shutil.copyfile(src, dest)
    with open(dest, "r+b") as f:
        f.seek(offset)
        f.write(data)
    return dest


def truncated(src: Path, dest: Path, length: int) -> Path:
    with open(src, "rb") as f:
        dest.write_bytes(f.read(length))
    return dest


def fake_iso(path: Path, size: int = 1 << 20, prefix: bytes = b"") -> Path:
    """Data with an ISO 9660 primary volume descriptor at 32 KiB."""
    with open(path, "wb") as f:
        f.truncate(size)
        f.write(prefix)
        f.seek(0x8000)
        f.write(b"\x01CD001\x01")
    return path


# --- the good cases -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt", "disk_format", "options"),
    [
        ("v3.qcow2", "qcow2", "qcow2", ()),
        ("v2.qcow2", "qcow2", "qcow2", ("-o", "compat=0.10")),
        ("zstd.qcow2", "qcow2", "qcow2", ("-o", "compression_type=zstd")),
        ("extl2.qcow2", "qcow2", "qcow2", ("-o", "extended_l2=on")),
        ("sparse.vmdk", "vmdk", "vmdk", ()),
        ("stream.vmdk", "vmdk", "vmdk", ("-o", "subformat=streamOptimized")),
        ("dynamic.vhd", "vpc", "vhd", ()),
        ("fixed.vhd", "vpc", "vhd", ("-o", "subformat=fixed")),
        ("a.vhdx", "vhdx", "vhdx", ()),
        ("a.vdi", "vdi", "vdi", ()),
        ("a.ploop", "parallels", "ploop", ()),
    ],
)
def test_real_images_match_qemu_img(
    make_image: MakeImage,
    virtual_size: Callable[[Path, str], int],
    name: str,
    fmt: str,
    disk_format: str,
    options: tuple[str, ...],
) -> None:
    size = "8M" if "fixed" in name else "1G"
    path = make_image(name, fmt, size, *options)
    info = inspect_image(path, disk_format)
    assert info == ImageInfo(disk_format, virtual_size(path, fmt))
    assert info.virtual_size is not None and info.virtual_size >= 8 << 20


def test_detect_format(make_image: MakeImage, tmp_path: Path) -> None:
    assert detect_format(make_image("v3.qcow2", "qcow2", "1G")) == "qcow2"
    assert detect_format(make_image("sparse.vmdk", "vmdk", "1G")) == "vmdk"
    assert detect_format(make_image("dynamic.vhd", "vpc", "1G")) == "vhd"
    assert detect_format(make_image("a.qed", "qed", "1G")) == "qed"
    assert detect_format(make_image("raw.img", "raw", "1M")) == "raw"
    assert detect_format(fake_iso(tmp_path / "a.iso")) == "iso"
    # A fixed vhd is raw data with a footer: as raw it is harmless.
    assert detect_format(make_image("fixed.vhd", "vpc", "8M", "-o", "subformat=fixed")) == "raw"


def test_raw_is_file_size(tmp_path: Path) -> None:
    path = tmp_path / "disk.img"
    path.write_bytes(os.urandom(3 * 4096 + 7))
    assert inspect_image(path, "raw") == ImageInfo("raw", 3 * 4096 + 7)
    for amazon in ("aki", "ari", "ami"):
        assert inspect_image(path, amazon, amazon) == ImageInfo("raw", 3 * 4096 + 7)


def test_empty_raw_is_fine_but_empty_qcow2_is_not(tmp_path: Path) -> None:
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert inspect_image(path, "raw") == ImageInfo("raw", 0)
    with pytest.raises(ImageContentError, match="image data is empty but disk_format is qcow2"):
        inspect_image(path, "qcow2")


def test_iso(tmp_path: Path) -> None:
    path = fake_iso(tmp_path / "cd.iso", size=2 << 20)
    assert inspect_image(path, "iso") == ImageInfo("iso", 2 << 20)
    # An ISO is plain bytes, so declaring it raw is harmless.
    assert inspect_image(path, "raw") == ImageInfo("iso", 2 << 20)


def test_raw_declared_iso_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "not.iso"
    path.write_bytes(bytes(64 << 10))
    with pytest.raises(ImageContentError, match="not an ISO 9660 or UDF image"):
        inspect_image(path, "iso")


def test_qcow2_iso_polyglot_is_refused(make_image: MakeImage, tmp_path: Path) -> None:
    qcow2 = make_image("v3.qcow2", "qcow2", "1G")
    path = fake_iso(tmp_path / "poly.iso", prefix=qcow2.read_bytes()[:512])
    with pytest.raises(ImageContentError, match="image data is qcow2 but disk_format is iso"):
        inspect_image(path, "iso")


# --- format mismatches ------------------------------------------------------------


def test_qcow2_declared_raw_is_refused(make_image: MakeImage) -> None:
    path = make_image("v3.qcow2", "qcow2", "1G")
    with pytest.raises(ImageContentError) as err:
        inspect_image(path, "raw")
    assert str(err.value).startswith("image data is qcow2 but disk_format is raw")
    assert "set disk_format to 'qcow2'" in str(err.value)


@pytest.mark.parametrize("amazon", ["aki", "ari", "ami"])
def test_qcow2_declared_amazon_is_refused(make_image: MakeImage, amazon: str) -> None:
    path = make_image("v3.qcow2", "qcow2", "1G")
    with pytest.raises(ImageContentError, match=f"image data is qcow2 but disk_format is {amazon}"):
        inspect_image(path, amazon, amazon)


@pytest.mark.parametrize(
    ("name", "fmt", "options", "shown"),
    [
        ("sparse.vmdk", "vmdk", (), "vmdk"),
        ("dynamic.vhd", "vpc", (), "vhd"),
        ("a.vhdx", "vhdx", (), "vhdx"),
        ("a.vdi", "vdi", (), "vdi"),
        ("a.ploop", "parallels", (), "ploop"),
        ("a.qed", "qed", (), "QED"),
    ],
)
def test_raw_must_not_be_a_recognised_container(
    make_image: MakeImage, name: str, fmt: str, options: tuple[str, ...], shown: str
) -> None:
    path = make_image(name, fmt, "1G", *options)
    with pytest.raises(ImageContentError) as err:
        inspect_image(path, "raw")
    assert str(err.value).startswith(f"image data is {shown}")
    assert "but disk_format is raw" in str(err.value)


def test_luks_declared_raw_is_refused(tmp_path: Path) -> None:
    # A LUKS header (version 1) as cryptsetup and qemu write it; making a real one
    # costs seconds of key stretching.
    path = tmp_path / "a.luks"
    path.write_bytes(b"LUKS\xba\xbe\x00\x01aes" + bytes(4096))
    assert detect_format(path) == "luks"
    with pytest.raises(ImageContentError, match="image data is LUKS-encrypted but disk_format"):
        inspect_image(path, "raw")


def test_container_names_cover_the_disk_formats() -> None:
    for name in ("qcow2", "vmdk", "vhd", "vhdx", "vdi", "ploop"):
        assert name in formats.DISK_FORMATS
        assert name in CONTAINER_FORMAT_NAMES


@pytest.mark.parametrize("disk_format", ["qcow2", "vmdk", "vhd", "vhdx", "vdi", "ploop"])
def test_raw_declared_as_a_container_format_is_refused(tmp_path: Path, disk_format: str) -> None:
    path = tmp_path / "disk.img"
    path.write_bytes(os.urandom(1 << 20))
    with pytest.raises(ImageContentError) as err:
        inspect_image(path, disk_format)
    assert str(err.value).startswith(
        f"image data is not recognised as any disk format but disk_format is {disk_format}"
    )


def test_vmdk_declared_qcow2_is_refused(make_image: MakeImage) -> None:
    path = make_image("sparse.vmdk", "vmdk", "1G")
    with pytest.raises(ImageContentError, match="image data is vmdk but disk_format is qcow2"):
        inspect_image(path, "qcow2")


def test_unknown_disk_format_is_refused(make_image: MakeImage) -> None:
    with pytest.raises(ImageContentError, match="allowed values"):
        inspect_image(make_image("raw.img", "raw", "1M"), "qcow3")


# --- unsafe qcow2 ---------------------------------------------------------------


def test_qcow2_with_backing_file_is_refused(make_image: MakeImage) -> None:
    make_image("base.raw", "raw", "1M")
    path = make_image("child.qcow2", "qcow2", "1M", "-b", "base.raw", "-F", "raw")
    with pytest.raises(ImageContentError) as err:
        inspect_image(path, "qcow2")
    assert str(err.value).startswith(
        "qcow2 image references a backing file 'base.raw'; images with backing files are "
        "refused because they could expose host files"
    )
    assert "qemu-img convert" in str(err.value)


def test_qcow2_with_absolute_backing_file_in_any_container_is_refused(
    make_image: MakeImage, image_dir: Path
) -> None:
    make_image("base.raw", "raw", "1M")
    path = make_image(
        "abs-child.qcow2", "qcow2", "1M", "-b", str(image_dir / "base.raw"), "-F", "raw"
    )
    for container in ("bare", "ovf", "ova", "compressed", "docker"):
        with pytest.raises(ImageContentError, match=f"backing file '{image_dir}/base.raw'"):
            inspect_image(path, "qcow2", container)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("datafile.qcow2", "data_file=datafile.raw"),
        ("datafile-raw.qcow2", "data_file=datafile2.raw,data_file_raw=on"),
    ],
)
def test_qcow2_with_external_data_file_is_refused(
    make_image: MakeImage, name: str, options: str
) -> None:
    path = make_image(name, "qcow2", "16M", "-o", options)
    data_file = options.split("=")[1].split(",")[0]
    with pytest.raises(ImageContentError) as err:
        inspect_image(path, "qcow2")
    assert str(err.value).startswith(
        f"qcow2 image uses an external data file '{data_file}'; images with external data "
        f"files are refused"
    )


def test_data_file_extension_without_feature_bit_is_refused(
    make_image: MakeImage, tmp_path: Path
) -> None:
    path = make_image("datafile.qcow2", "qcow2", "16M", "-o", "data_file=datafile.raw")
    cleared = patched(path, tmp_path / "cleared.qcow2", 72, struct.pack(">Q", 0))
    with pytest.raises(ImageContentError, match="external data file 'datafile.raw'"):
        inspect_image(cleared, "qcow2")


@pytest.mark.parametrize("bit", [5, 17, 63])
def test_unknown_incompatible_feature_is_refused(
    make_image: MakeImage, tmp_path: Path, bit: int
) -> None:
    path = make_image("v3.qcow2", "qcow2", "1G")
    bad = patched(path, tmp_path / "future.qcow2", 72, struct.pack(">Q", 1 << bit))
    with pytest.raises(ImageContentError, match=rf"unknown incompatible features \(bits {bit}\)"):
        inspect_image(bad, "qcow2")


def test_known_incompatible_features_are_accepted(make_image: MakeImage, tmp_path: Path) -> None:
    path = make_image("v3.qcow2", "qcow2", "1G")
    dirty = patched(path, tmp_path / "dirty.qcow2", 72, struct.pack(">Q", 1))
    assert inspect_image(dirty, "qcow2").virtual_size == GIB
    corrupt = patched(path, tmp_path / "corrupt.qcow2", 72, struct.pack(">Q", 2))
    with pytest.raises(ImageContentError, match="marked corrupt; repair it"):
        inspect_image(corrupt, "qcow2")


@pytest.mark.parametrize(("method", "name"), [(1, "AES"), (2, "LUKS")])
def test_encrypted_qcow2_is_refused(
    make_image: MakeImage, tmp_path: Path, method: int, name: str
) -> None:
    # crypt_method as qemu-img's encrypt.format=aes/luks sets it (a real LUKS
    # header costs seconds of key stretching to make).
    path = make_image("v3.qcow2", "qcow2", "1G")
    bad = patched(path, tmp_path / "enc.qcow2", 32, struct.pack(">I", method))
    with pytest.raises(ImageContentError, match=rf"qcow2 image is encrypted \({name}\)"):
        inspect_image(bad, "qcow2")


# --- truncated and garbage headers ---------------------------------------------


@pytest.mark.parametrize("length", [4, 50, 71, 100])
def test_truncated_qcow2_header(make_image: MakeImage, tmp_path: Path, length: int) -> None:
    path = truncated(make_image("v3.qcow2", "qcow2", "1G"), tmp_path / "short.qcow2", length)
    with pytest.raises(ImageContentError, match="is truncated"):
        inspect_image(path, "qcow2")


@pytest.mark.parametrize("length", [512, 65536, 3 * 65536])
def test_qcow2_cut_short_after_header(make_image: MakeImage, tmp_path: Path, length: int) -> None:
    path = truncated(make_image("v3.qcow2", "qcow2", "1G"), tmp_path / "cut.qcow2", length)
    with pytest.raises(ImageContentError, match="qcow2 image is truncated: its .* table"):
        inspect_image(path, "qcow2")


def test_qcow2_bad_version(make_image: MakeImage, tmp_path: Path) -> None:
    path = patched(make_image("v3.qcow2", "qcow2", "1G"), tmp_path / "v9.qcow2", 4, b"\0\0\0\x09")
    with pytest.raises(ImageContentError, match="qcow2 version 9 is not supported"):
        inspect_image(path, "qcow2")


def test_qcow2_bad_cluster_bits(make_image: MakeImage, tmp_path: Path) -> None:
    path = patched(make_image("v3.qcow2", "qcow2", "1G"), tmp_path / "cb.qcow2", 20, b"\0\0\0\x30")
    with pytest.raises(ImageContentError, match="cluster_bits 48"):
        inspect_image(path, "qcow2")


def test_qcow2_bad_header_length(make_image: MakeImage, tmp_path: Path) -> None:
    path = patched(make_image("v3.qcow2", "qcow2", "1G"), tmp_path / "hl.qcow2", 100, b"\0\0\0\x10")
    with pytest.raises(ImageContentError, match="header length 16"):
        inspect_image(path, "qcow2")


def test_qcow2_oversized_extension(make_image: MakeImage, tmp_path: Path) -> None:
    path = make_image("v3.qcow2", "qcow2", "1G")
    with open(path, "rb") as f:
        header_length = struct.unpack(">I", f.read(104)[100:104])[0]
    bad = patched(
        path, tmp_path / "ext.qcow2", header_length, struct.pack(">II", 0x12345678, 1 << 20)
    )
    with pytest.raises(ImageContentError, match="runs past the first cluster"):
        inspect_image(bad, "qcow2")


def test_garbage_after_qcow2_magic(tmp_path: Path) -> None:
    path = tmp_path / "garbage.qcow2"
    path.write_bytes(b"QFI\xfb" + os.urandom(4096))
    with pytest.raises(ImageContentError, match="qcow2"):
        inspect_image(path, "qcow2")
    with pytest.raises(ImageContentError, match="image data is qcow2 but disk_format is raw"):
        inspect_image(path, "raw")


def test_random_bytes_are_raw(tmp_path: Path) -> None:
    path = tmp_path / "noise"
    path.write_bytes(os.urandom(1 << 16))
    assert inspect_image(path, "raw") == ImageInfo("raw", 1 << 16)
    with pytest.raises(ImageContentError):
        inspect_image(path, "vmdk")


# --- vmdk / vhd -----------------------------------------------------------------


@pytest.mark.parametrize("subformat", ["twoGbMaxExtentSparse", "monolithicFlat"])
def test_vmdk_descriptor_files_are_refused(make_image: MakeImage, subformat: str) -> None:
    path = make_image(f"{subformat}.vmdk", "vmdk", "1G", "-o", f"subformat={subformat}")
    with pytest.raises(ImageContentError, match="descriptor file that points at separate extent"):
        inspect_image(path, "vmdk")


def test_vmdk_extent_naming_a_path_is_refused(make_image: MakeImage, tmp_path: Path) -> None:
    path = make_image("sparse.vmdk", "vmdk", "1G")
    data = path.read_bytes()
    at = data.index(b'"sparse.vmdk"')
    bad = patched(path, tmp_path / "path.vmdk", at, b'"/etc/shado"')
    with pytest.raises(ImageContentError, match="names a path"):
        inspect_image(bad, "vmdk")


def test_vmdk_bad_create_type_is_refused(make_image: MakeImage, tmp_path: Path) -> None:
    path = make_image("sparse.vmdk", "vmdk", "1G")
    data = path.read_bytes()
    at = data.index(b'"monolithicSparse"')
    bad = patched(path, tmp_path / "flat.vmdk", at, b'"monolithicFlat"  ')
    with pytest.raises(ImageContentError, match="createType 'monolithicflat' is not accepted"):
        inspect_image(bad, "vmdk")


def test_vmdk_with_parent_is_refused(make_image: MakeImage) -> None:
    make_image("sparse.vmdk", "vmdk", "1G")
    path = make_image("child.vmdk", "vmdk", "1G", "-b", "sparse.vmdk", "-F", "vmdk")
    with pytest.raises(ImageContentError, match="names a parent disk"):
        inspect_image(path, "vmdk")


def test_vmdk_parent_hint_hidden_in_a_comment_is_refused(
    make_image: MakeImage, tmp_path: Path
) -> None:
    # QEMU finds the hint with a plain substring search of the descriptor.
    path = make_image("sparse.vmdk", "vmdk", "1G")
    data = path.read_bytes()
    end = data.index(b"\0", 0x200)
    bad = patched(path, tmp_path / "hint.vmdk", end, b'# parentFileNameHint="/etc/shadow"\n')
    with pytest.raises(ImageContentError, match="parentFileNameHint"):
        inspect_image(bad, "vmdk")


def test_vmdk_zero_capacity_is_refused(make_image: MakeImage, tmp_path: Path) -> None:
    path = make_image("sparse.vmdk", "vmdk", "1G")
    bad = patched(path, tmp_path / "zero.vmdk", 12, struct.pack("<Q", 0))
    with pytest.raises(ImageContentError, match="capacity 0"):
        inspect_image(bad, "vmdk")


def test_vmdk_flat_extent_is_refused(make_image: MakeImage, tmp_path: Path) -> None:
    path = make_image("sparse.vmdk", "vmdk", "1G")
    at = path.read_bytes().index(b"SPARSE")
    bad = patched(path, tmp_path / "flat-extent.vmdk", at, b"FLAT  ")
    with pytest.raises(ImageContentError, match="is not a sparse extent"):
        inspect_image(bad, "vmdk")


def test_vmdk3_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.vmdk"
    path.write_bytes(b"COWD" + bytes(2044))
    assert detect_format(path) == "vmdk"
    with pytest.raises(ImageContentError, match="COWD"):
        inspect_image(path, "vmdk")
    with pytest.raises(ImageContentError, match="image data is vmdk but disk_format is raw"):
        inspect_image(path, "raw")


def test_differencing_vhd_is_refused(make_image: MakeImage, tmp_path: Path) -> None:
    path = make_image("dynamic.vhd", "vpc", "1G")
    bad = patched(path, tmp_path / "diff.vhd", 60, struct.pack(">I", 4))
    with pytest.raises(ImageContentError, match="differencing disk"):
        inspect_image(bad, "vhd")


# --- wrapped containers and the verifier hook -------------------------------------


def test_wrapped_container_is_not_matched(tmp_path: Path) -> None:
    path = tmp_path / "appliance.ova"
    path.write_bytes(b"disk.ovf" + bytes(1024))
    assert inspect_image(path, "vmdk", "ova") == ImageInfo("raw", None)


def test_verifier_keeps_the_result(make_image: MakeImage) -> None:
    verifier = ImageVerifier("qcow2")
    assert verifier.info is None
    info = verifier(str(make_image("v3.qcow2", "qcow2", "1G")))
    assert verifier.info == info == ImageInfo("qcow2", GIB)


# --- format_inspector's verdicts and where Stratus' rules differ ---------------------


def test_stream_optimized_vmdk_footer_is_checked_from_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = tmp_path / "noise.raw"
    raw.write_bytes(os.urandom(4 << 20))  # incompressible: the vmdk is as large
    path = tmp_path / "noise.vmdk"
    qemu = shutil.which("qemu-img") or pytest.skip("qemu-img is not installed")
    convert = [qemu, "convert", "-O", "vmdk", "-o", "subformat=streamOptimized", raw, path]
    subprocess.run(convert, check=True, capture_output=True)
    # As VMware writes them: the grain directory is "at the end", found through a
    # footer (a copy of the header) between a footer marker and end-of-stream.
    header = path.read_bytes()[:512]
    at_end = patched(path, tmp_path / "at-end.vmdk", 56, struct.pack("<Q", 2**64 - 1))
    with open(at_end, "ab") as f:
        f.write(struct.pack("<QII", 0, 0, 3) + bytes(496) + header + bytes(512))
    size = at_end.stat().st_size

    read = []
    real_pread = os.pread

    def counting_pread(fd: int, length: int, offset: int) -> bytes:
        data = real_pread(fd, length, offset)
        read.append(len(data))
        return data

    monkeypatch.setattr(os, "pread", counting_pread)
    assert inspect_image(at_end, "vmdk") == ImageInfo("vmdk", 4 << 20)
    assert sum(read) < size // 4  # the footer is read from the end, not reached
    monkeypatch.undo()
    # format_inspector checks the footer and the end-of-stream marker.
    bad = patched(at_end, tmp_path / "eos.vmdk", size - 512 + 12, struct.pack("<I", 7))
    with pytest.raises(ImageContentError, match=r"vmdk image fails the safety checks \(footer: "):
        inspect_image(bad, "vmdk")


def test_vmdk_descriptor_away_from_sector_one_is_refused(
    make_image: MakeImage, tmp_path: Path
) -> None:
    # QEMU reads the embedded descriptor at sector 1 only; format_inspector insists.
    path = make_image("sparse.vmdk", "vmdk", "1G")
    bad = patched(path, tmp_path / "desc.vmdk", 28, struct.pack("<Q", 2))
    with pytest.raises(ImageContentError, match=r"vmdk header is invalid \(.*descriptor"):
        inspect_image(bad, "vmdk")
    with pytest.raises(ImageContentError, match="image data is vmdk but disk_format is raw"):
        inspect_image(bad, "raw")


def test_text_with_a_vmdk_create_type_is_not_raw(tmp_path: Path) -> None:
    path = tmp_path / "desc.txt"
    path.write_bytes(b'version=1\ncreateType="monolithicFlat"\nRW 2048 FLAT "/etc/shadow" 0\n')
    assert detect_format(path) == "vmdk"
    with pytest.raises(ImageContentError, match="image data is vmdk but disk_format is raw"):
        inspect_image(path, "raw")


def test_partitioned_disks_are_raw(tmp_path: Path) -> None:
    # format_inspector names an MBR/GPT disk "gpt"; to QEMU it is plain bytes.
    mbr = bytearray(1 << 20)
    mbr[446:462] = struct.pack("<B3BB3BII", 0x80, 0, 2, 0, 0x83, 0, 0, 0, 2048, 2048)
    mbr[510:512] = b"\x55\xaa"
    path = tmp_path / "disk.img"
    path.write_bytes(bytes(mbr))
    assert detect_format(path) == "raw"
    assert inspect_image(path, "raw") == ImageInfo("raw", 1 << 20)
    hybrid = fake_iso(tmp_path / "hybrid.iso", prefix=bytes(mbr[:512]))
    assert inspect_image(hybrid, "iso") == ImageInfo("iso", 1 << 20)


def test_differencing_vhdx_is_refused(make_image: MakeImage, tmp_path: Path) -> None:
    path = make_image("a.vhdx", "vhdx", "1G")
    data = path.read_bytes()
    # The metadata table (found through format_inspector) lists the file
    # parameters item; its flags word has "has parent" as bit 1.
    table = data.index(b"metadata", 64 << 10)
    entry = data.index(uuid.UUID("caa16737-fa36-4d43-b3b6-33f0aa44e76b").bytes_le, table)
    (offset,) = struct.unpack_from("<I", data, entry + 16)
    (flags,) = struct.unpack_from("<I", data, table + offset + 4)
    bad = patched(path, tmp_path / "diff.vhdx", table + offset + 4, struct.pack("<I", flags | 2))
    with pytest.raises(ImageContentError, match="vhdx image is a differencing disk"):
        inspect_image(bad, "vhdx")
