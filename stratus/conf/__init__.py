"""oslo.config options for every Stratus service.

Each submodule of this package describes one option group: it defines ``GROUP``
(a group name, or ``None`` for ``[DEFAULT]``) and ``OPTS`` (a list of oslo.config
options). They are discovered here, so adding a group means adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from oslo_config import cfg

CONF = cfg.CONF


def _option_modules() -> list[ModuleType]:
    return [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_")
    ]


def register_opts(conf: cfg.ConfigOpts = CONF) -> None:
    for module in _option_modules():
        conf.register_opts(module.OPTS, group=module.GROUP)


def list_opts() -> list[tuple[str | None, list[cfg.Opt]]]:
    """Entry point for ``oslo-config-generator`` (namespace ``stratus``)."""
    merged: dict[str | None, list[cfg.Opt]] = {}
    for module in sorted(_option_modules(), key=lambda m: m.__name__):
        merged.setdefault(module.GROUP, []).extend(module.OPTS)
    return list(merged.items())


register_opts()
