"""The contract every filter follows."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

if TYPE_CHECKING:
    from stratus.scheduler.engine import SchedulerConfig
    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.request_spec import RequestSpec


class BaseFilter:
    """Decides, for every row of a ``HostTable`` at once, which hosts may take an instance.

    ``mask`` returns a boolean array over the table's rows (True passes), or
    ``None`` when the request does not concern this filter and every host passes.
    Returned arrays may be shared cache entries: callers must not modify them.
    """

    # True when the answer can change between the instances of one request
    # (capacity consumed, server-group members placed); otherwise the engine asks
    # once per request.
    per_instance: ClassVar[bool] = False

    def __init__(self, config: SchedulerConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return type(self).__name__

    def mask(self, table: HostTable, spec: RequestSpec, index: int) -> np.ndarray | None:
        raise NotImplementedError
