"""Ansible filters that plan server placement with Stratus' own scheduler.

The same filters, weighers and configuration as the ``stratus-scheduler`` service,
run over hypervisors and servers described in a playbook::

    plan: "{{ servers | stratus_place(hypervisors, flavors, images=images,
                                      aggregates=aggregates, groups=groups,
                                      config={'ram_weight_multiplier': -1.0}) }}"

* ``stratus_place(servers, hypervisors, flavors, images, aggregates, groups, config)``
  returns ``{server_name: host}``;
* ``stratus_filter_hosts(hypervisors, server, flavors, ...)`` the hosts that pass
  the filters for one server;
* ``stratus_weigh_hosts(hypervisors, server, flavors, ..., candidates=None)``
  ``[{"host": name, "weight": w}, ...]``, best first.

A thin shim: the planning lives in ``stratus.scheduler.planner`` (which documents
the inputs); here its errors become ``AnsibleFilterError``. The ``stratus``
package is installed in the environment that runs Ansible.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from ansible.errors import AnsibleFilterError

from stratus.scheduler import planner


def _filter(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except planner.PlanError as exc:
            raise AnsibleFilterError(str(exc)) from exc

    return run


stratus_place = _filter(planner.place_servers)
stratus_filter_hosts = _filter(planner.filter_hosts)
stratus_weigh_hosts = _filter(planner.weigh_hosts)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "stratus_place": stratus_place,
            "stratus_filter_hosts": stratus_filter_hosts,
            "stratus_weigh_hosts": stratus_weigh_hosts,
        }
