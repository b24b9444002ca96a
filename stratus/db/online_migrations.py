"""Online data migrations: what ``stratus-manage db online_data_migrations`` runs.

A schema change that needs existing rows rewritten (a new column filled from old
ones, a value moved to another table) ships with a function here, so operators
can convert the rows in batches while the services run, as with Nova's
``nova-manage db online_data_migrations``. Each function takes the largest
number of rows it may change in one call and returns ``(found, done)``: how many
rows still needed migrating when it looked, and how many of those it migrated.
It opens its own transaction (``stratus.db.session.transaction``) and must be
safe to run again at any time; ``(0, 0)`` means there is nothing left for it.

A function stays in ``MIGRATIONS`` until a later schema migration requires its
work to be complete (and then checks that it is).
"""

from __future__ import annotations

from collections.abc import Callable

OnlineMigration = Callable[[int], tuple[int, int]]

# In the order they run. None are needed yet: the schema has not changed in a way
# that leaves old rows to convert.
MIGRATIONS: list[OnlineMigration] = []
