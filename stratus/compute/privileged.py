"""The root-only operations of stratus-compute, behind ``stratus.privsep.sys_admin_pctxt``.

stratus-compute runs as the unprivileged ``stratus`` user (in the ``libvirt`` and
``kvm`` groups). What it creates under ``instances_path`` is its own, so almost
everything works without privileges; root is needed only for what others made:

* directories left owned by root (a compute service that ran as root before, or
  an operator's ``mkdir``) are handed to the service user;
* an instance directory that the service cannot empty (files or directories of
  root) is removed;
* a console log that virtlogd (root) re-created after a rotation, mode 0600, is
  read;
* the image cache's base files, which libvirt gives to QEMU as backing files
  (and keeps so), have their mtime (the record of their last use) refreshed.

Each entry point takes and returns plain data and refuses paths outside
``[compute] instances_path`` (as the daemon sees its configuration), so that a
compromised service user cannot point them at the rest of the system.

How the daemon starts (``stratus.service.start_privsep``): a service running as
root forks it; any other user starts ``privsep-helper``
through ``[stratus_sys_admin] helper_command`` (the deployment sets ``sudo
<venv>/bin/privsep-helper --config-file /etc/stratus/stratus.conf`` and installs
the matching sudoers rule).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil

from oslo_config import cfg

from stratus.privsep import sys_admin_pctxt

LOG = logging.getLogger(__name__)


class PathOutsideInstances(ValueError):
    """A privileged operation was asked for a path outside instances_path."""


#: The options the daemon reads, with stratus.conf's defaults (a unit test keeps
#: them equal).
DAEMON_OPTS = {
    None: [cfg.StrOpt("state_path", default="/var/lib/stratus")],
    "compute": [cfg.StrOpt("instances_path", default="$state_path/instances")],
}


def instances_root() -> str:
    """``[compute] instances_path`` as this process's configuration files say.

    In the service's process stratus.conf's options are registered. In the
    privsep daemon (privsep-helper) they are not, and cannot be: oslo.log's
    ``log_dir`` and ``debug`` are registered there and clash with Stratus's, so
    the two options needed are read from the same files on their own.
    """
    try:
        return cfg.CONF.compute.instances_path
    except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
        pass
    conf = cfg.ConfigOpts()
    for group, opts in DAEMON_OPTS.items():
        conf.register_opts(opts, group=group)
    conf(args=[], project="stratus", default_config_files=list(cfg.CONF.config_file or []))
    return conf.compute.instances_path


def _inside_instances(path: str, *, allow_root: bool = False) -> str:
    """``path`` resolved (symlinks followed); refused unless it is below
    ``instances_path`` (or, with ``allow_root``, is instances_path itself)."""
    root = os.path.realpath(instances_root())
    real = os.path.realpath(path)
    if real == root and allow_root:
        return real
    if os.path.commonpath([root, real]) != root or real == root:
        raise PathOutsideInstances(f"{path} is not below {root}")
    return real


@sys_admin_pctxt.entrypoint
def adopt_dir(path: str, uid: int, gid: int) -> bool:
    """Give the directory ``path`` (instances_path or one below it) to ``uid``:``gid``.

    Only directories, never what is inside them (disks of running guests belong
    to QEMU). Returns True when ownership changed.
    """
    real = _inside_instances(path, allow_root=True)
    st = os.lstat(real)
    if not os.path.isdir(real) or os.path.islink(real):
        raise NotADirectoryError(errno.ENOTDIR, "not a directory", path)
    if (st.st_uid, st.st_gid) == (uid, gid):
        return False
    os.chown(real, uid, gid)
    return True


@sys_admin_pctxt.entrypoint
def touch(path: str) -> None:
    """Set the mtime of the file ``path`` below instances_path to now (the image
    cache's record of use) when its owner is not the service: libvirt gives a
    base image to QEMU as a backing file and does not give it back."""
    os.utime(_inside_instances(path))


@sys_admin_pctxt.entrypoint
def remove_tree(path: str) -> None:
    """Remove the directory ``path`` below instances_path and all it holds."""
    real = _inside_instances(path)
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(real)


@sys_admin_pctxt.entrypoint
def read_tail(path: str, max_bytes: int) -> bytes:
    """The last ``max_bytes`` of the file ``path`` below instances_path."""
    real = _inside_instances(path)
    with open(real, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        f.seek(max(size - max_bytes, 0))
        return f.read(max_bytes)
