"""Loaded by the Python of the playbook runs (``PYTHONPATH`` in
``tests/ansible/conftest.py``): the openstack.cloud collection that the pinned
``ansible`` ships (2.5.0) reads ``openstack.version.__version__`` from the
``openstack`` package without importing that submodule, which openstacksdk 4.x
no longer imports by itself, so its modules fail with "module 'openstack' has no
attribute 'version'" before they send a request. Importing the (deprecated but
present) submodule here makes the attribute exist; nothing else changes. Later
collections (2.6+) read the version from the package metadata instead."""

import contextlib
import warnings

with contextlib.suppress(ImportError), warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import openstack.version  # noqa: F401
