"""Compute virtualisation drivers: the interface, libvirt and the in-memory fake."""

from __future__ import annotations

from oslo_config import cfg

from stratus.compute.virt.driver import ComputeDriver


def load_driver(conf: cfg.ConfigOpts | None = None, hostname: str | None = None) -> ComputeDriver:
    """The driver ``[compute] compute_driver`` names, configured from ``conf``.

    ``hostname`` names the node for the fake driver (default ``[DEFAULT] host``).
    libvirt-python is imported only when the libvirt driver is chosen.
    """
    if conf is None:
        from stratus.conf import CONF

        conf = CONF
    name = conf.compute.compute_driver
    if name == "fake":
        from stratus.compute.virt.fake import FakeDriver

        return FakeDriver.from_conf(conf, hostname=hostname)
    if name == "libvirt":
        from stratus.compute.virt.libvirt import LibvirtDriver

        return LibvirtDriver(conf)
    raise ValueError(f"unknown [compute] compute_driver {name!r}; use libvirt or fake")
