"""The libvirt compute driver (needs libvirt-python: ``pip install stratus[compute]``)."""

from stratus.compute.virt.libvirt.driver import LibvirtDriver

__all__ = ["LibvirtDriver"]
