"""stratus-scheduler: ``select_destinations`` over RPC, with atomic claims.

The host table lives in memory and is reloaded from the database every
``[scheduler] host_refresh_interval`` seconds, and at once when a claim
finds that the database has moved on (another scheduler claimed first).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import oslo_messaging as messaging
from sqlalchemy.exc import OperationalError

from stratus.conf import CONF
from stratus.db.session import transaction
from stratus.scheduler import claims
from stratus.scheduler.engine import FilterScheduler, NoValidHost, SchedulerConfig, Selection
from stratus.scheduler.host_table import HostTable
from stratus.scheduler.loader import load_hosts
from stratus.scheduler.request_spec import RequestSpec

LOG = logging.getLogger(__name__)


class SchedulerManager:
    # The interface version of stratus.rpc.scheduler_rpcapi.SchedulerAPI that this serves.
    target = messaging.Target(version="1.0")

    def __init__(self) -> None:
        self.config = SchedulerConfig.from_conf()
        self.engine = FilterScheduler(self.config)
        self._lock = threading.Lock()
        self._table: HostTable | None = None
        self._loaded_at = 0.0

    def _reload(self) -> HostTable:
        with transaction() as session:
            self._table = HostTable(load_hosts(session), self.config)
        self._loaded_at = time.monotonic()
        return self._table

    def _current(self) -> HostTable:
        stale = time.monotonic() - self._loaded_at > CONF.scheduler.host_refresh_interval
        return self._reload() if self._table is None or stale else self._table

    def select_destinations(
        self,
        ctxt: dict,
        request_spec: dict,
        instance_uuids: list[str],
        return_alternates: bool = True,
    ) -> dict[str, Any]:
        """Per instance the claimed primary host and its alternates, or an error that
        names what each filter removed."""
        spec = RequestSpec.from_dict(
            dict(request_spec, instance_uuids=instance_uuids, num_instances=len(instance_uuids))
        )
        alternates = CONF.scheduler.max_attempts - 1 if return_alternates else 0
        with self._lock:
            for attempt in range(CONF.scheduler.claim_retries + 1):
                table = self._current() if attempt == 0 else self._reload()
                try:
                    selections = self.engine.select_destinations(table, spec, alternates)
                except NoValidHost as exc:
                    return {"error": exc.message}
                if self._claim_all(spec, instance_uuids, selections):
                    LOG.debug(
                        "claimed %s",
                        ", ".join(
                            f"{u} on {s[0].host}"
                            for u, s in zip(instance_uuids, selections, strict=True)
                        ),
                    )
                    return {
                        "selections": [
                            [s.to_dict() for s in per_instance] for per_instance in selections
                        ]
                    }
                LOG.info(
                    "claim lost to a concurrent scheduler; reloading hosts (attempt %d)",
                    attempt + 1,
                )
        return {
            "error": "No valid host was found: hosts kept changing under concurrent "
            "claims; try again."
        }

    @staticmethod
    def _claim_all(spec: RequestSpec, uuids: list[str], selections: list[list[Selection]]) -> bool:
        resources = claims.Resources.of_flavor(spec.flavor.to_dict())
        # One transaction: all instances are claimed, or none (all or nothing).
        # Claiming in node order keeps concurrent transactions from deadlocking.
        ordered = sorted(
            zip(uuids, selections, strict=True), key=lambda pair: pair[1][0].compute_node_uuid or ""
        )
        try:
            with transaction() as session:
                for uuid, per_instance in ordered:
                    primary = per_instance[0]
                    if not claims.claim(
                        session, primary.compute_node_uuid, uuid, resources, primary.limits
                    ):
                        raise _ClaimLost
        except _ClaimLost:
            return False
        except OperationalError as exc:  # a deadlock or lock timeout: retry
            LOG.info("claim transaction failed, retrying: %s", exc.orig)
            return False
        return True


class _ClaimLost(Exception):
    pass
