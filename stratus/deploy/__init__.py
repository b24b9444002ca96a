"""Rules of the deployment roles (``roles/``), as pure functions with unit tests.

The roles reach them as Jinja filters through ``filter_plugins/stratus_roles.py``:

* ``services`` -- which Stratus services a run restarts, and the name each
  machine's services register under;
* ``resources`` -- the servers that the inventory declares, the input and the
  report of the placement plan, and scheduler hints that name other servers.
"""
