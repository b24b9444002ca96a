"""The config drive: an ISO 9660 image (Joliet and Rock Ridge names) labelled
``config-2`` holding the metadata trees (:func:`stratus.metadata.base.config_drive_files`),
made with pycdlib (pure Python: no tool on the host)."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path

import pycdlib

LABEL = "config-2"


class ConfigDriveError(Exception):
    """The config drive could not be made of the files given."""


def _iso_name(name: str) -> str:
    # Interchange level 4 names: upper-cased, as the Rock Ridge and Joliet names
    # carry the real ones (the names a guest sees when it mounts the drive).
    return name.upper().replace("-", "_")


def make_iso(files: Mapping[str, bytes], path: str | os.PathLike[str]) -> None:
    """Write an ISO 9660 image labelled ``config-2`` holding ``files`` (relative
    paths -> contents) to ``path``."""
    iso = pycdlib.PyCdlib()
    iso.new(interchange_level=4, joliet=3, rock_ridge="1.09", vol_ident=LABEL)
    made: set[str] = set()
    try:
        for name in sorted(files):
            parts = name.split("/")
            for depth in range(1, len(parts)):
                directory = "/".join(parts[:depth])
                if directory in made:
                    continue
                made.add(directory)
                iso.add_directory(
                    "/" + "/".join(_iso_name(p) for p in parts[:depth]),
                    rr_name=parts[depth - 1],
                    joliet_path="/" + directory,
                )
            data = files[name]
            iso.add_fp(
                io.BytesIO(data),
                len(data),
                "/" + "/".join(_iso_name(p) for p in parts),
                rr_name=parts[-1],
                joliet_path="/" + name,
            )
        tmp = Path(f"{os.fspath(path)}.tmp")
        iso.write(str(tmp))
        tmp.replace(path)
    except pycdlib.pycdlibexception.PyCdlibException as exc:
        raise ConfigDriveError(f"cannot make the config drive: {exc}") from exc
    finally:
        iso.close()
