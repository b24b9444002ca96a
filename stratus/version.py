"""The version of the installed Stratus package."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version


def version_string() -> str:
    """The package's version (pyproject.toml), as ``pip show stratus`` gives it."""
    try:
        return version("stratus")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"
