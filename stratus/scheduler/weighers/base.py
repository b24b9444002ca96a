"""The contract every weigher follows, and Nova's min-max normalisation."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np

if TYPE_CHECKING:
    from stratus.scheduler.engine import SchedulerConfig
    from stratus.scheduler.host_table import HostTable
    from stratus.scheduler.request_spec import RequestSpec


class BaseWeigher:
    """Scores the surviving hosts; higher is better.

    ``raw`` returns one value per row in ``rows`` (or ``None`` when every host
    scores the same). The engine normalises the values to 0..1 over ``rows`` and
    adds them, times ``multiplier``, to each host's weight.
    """

    multiplier_option: ClassVar[str]
    # Nova's BuildFailureWeigher applies its option negated.
    negate: ClassVar[bool] = False

    def __init__(self, config: SchedulerConfig) -> None:
        value = float(getattr(config, self.multiplier_option))
        self.multiplier = -value if self.negate else value

    @property
    def name(self) -> str:
        return type(self).__name__

    def raw(self, table: HostTable, spec: RequestSpec, rows: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError


def normalize(values: np.ndarray) -> np.ndarray | None:
    """Scale to 0..1 (min -> 0, max -> 1); ``None`` when all values are equal."""
    low = float(values.min())
    high = float(values.max())
    if low == high:
        return None
    scaled = values - low
    scaled /= high - low
    return scaled
