"""Security groups with 1,000 ports on one host: time for a change to be applied.

In a network namespace of its own (no veths: the chains name interfaces only),
through the forked privsep daemon as the agent does. Prints the time of the
first full load, of one rule change in a project's group (its 20 ports), of one
rule change in a group that every port is in, of a membership change, of a port
that comes and goes (its chains, elements and group membership), each split
into the Python part (render and diff) and the nft transaction, and the
nftables rule count per port (counted in the kernel's listing). Run as root:
``make bench-firewall``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

from oslo_privsep import priv_context

from stratus.network.linux import firewall, privileged
from stratus.privsep import sys_admin_pctxt

PORTS = 1000
PER_PROJECT = 20
RUNS = 15
TARGET_MS = 100
HOST = "bench-host"
rule = firewall.rule


def port_id(index: int) -> str:
    """A stable port id whose first 11 characters (its tap's name) are its own."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"bench-port-{index}"))


def build_state() -> dict[str, Any]:
    """PORTS ports; each project's 20 ports share its default group, and every
    port is also in one shared group ``ssh`` (tcp 22 from a prefix)."""
    groups: dict[str, Any] = {
        "ssh": {
            "rules": [rule("ingress", "IPv4", protocol="tcp", port_range_min=22,
                           port_range_max=22, remote_ip_prefix="192.0.2.0/24")],
            "members": {"IPv4": [], "IPv6": []},
        }
    }  # fmt: skip
    ports = []
    for i in range(PORTS):
        group = f"default-{i // PER_PROJECT}"
        ip = f"10.{i // 250}.{i % 250}.{10 + i % 200}"
        if group not in groups:
            groups[group] = {
                "rules": [
                    rule("egress", "IPv4"),
                    rule("egress", "IPv6"),
                    rule("ingress", "IPv4", remote_group_id=group),
                    rule("ingress", "IPv6", remote_group_id=group),
                ],
                "members": {"IPv4": [], "IPv6": []},
            }
        groups[group]["members"]["IPv4"].append(ip)
        groups["ssh"]["members"]["IPv4"].append(ip)
        ports.append(
            {
                "id": port_id(i),
                "mac_address": f"fa:16:3e:00:{i // 256:02x}:{i % 256:02x}",
                "fixed_ips": [{"subnet_id": "s", "ip_address": ip}],
                "device_owner": "compute:nova",
                "binding_host_id": HOST,
                "port_security_enabled": True,
                "security_groups": [group, "ssh"],
                "allowed_address_pairs": [],
            }
        )
    return {"host": HOST, "networks": [{"id": "net", "ports": ports}], "security_groups": groups}


def timed_apply(fw: firewall.Firewall, state: dict[str, Any]) -> tuple[float, float, float]:
    """(render + diff + nft transaction, of which the transaction, the CPU time of
    this process in it: render and diff) in milliseconds; the ruleset is rendered
    from the whole state, as the agent does."""
    sent: list[float] = []
    nft = fw._nft

    def timed_nft(script: str, ruleset: firewall.Ruleset) -> None:
        started = time.perf_counter()
        nft(script, ruleset)
        sent.append(time.perf_counter() - started)

    fw._nft = timed_nft  # type: ignore[method-assign]
    try:
        started, cpu = time.perf_counter(), time.process_time()
        ruleset = firewall.render(firewall.host_ports(state, HOST), state["security_groups"])
        changed = fw.apply(ruleset)
        done, cpu = time.perf_counter(), time.process_time() - cpu
    finally:
        del fw._nft
    assert changed and len(sent) == 1, "the change must send one transaction"
    return (done - started) * 1000, sent[0] * 1000, cpu * 1000


def rule_counts(netns: str) -> tuple[int, int]:
    out = subprocess.run(["ip", "netns", "exec", netns, "nft", "-j", "list", "ruleset"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    items = json.loads(out)["nftables"]
    rules = [i["rule"] for i in items if "rule" in i]
    per_port = [r for r in rules if r["chain"] not in ("prerouting", "forward")]
    return len(rules), len(per_port)


Sample = tuple[float, float, float]


def series(fw: firewall.Firewall, state: dict[str, Any], change: Any) -> list[Sample]:
    out = []
    for run in range(RUNS):
        change(state, run)
        out.append(timed_apply(fw, state))
    return out


def report(name: str, samples: list[Sample]) -> float:
    total = statistics.median(s[0] for s in samples)
    nft = statistics.median(s[1] for s in samples)
    python = statistics.median(s[0] - s[1] for s in samples)
    cpu = statistics.median(s[2] for s in samples)
    worst = max(s[0] for s in samples)
    print(f"{name:<34} median {total:6.1f} ms (render+diff {python:5.1f}, CPU {cpu:4.1f}; "
          f"nft {nft:5.1f}), max {worst:6.1f} ms")  # fmt: skip
    return total


def main() -> int:
    if os.geteuid() != 0:
        print("bench_firewall: run as root (namespaces, nftables)", file=sys.stderr)
        return 2
    netns = f"nftfw-bench-{uuid.uuid4().hex[:6]}"
    sys_admin_pctxt.start(priv_context.Method.FORK)
    privileged.ensure_namespace(netns)
    try:
        fw = firewall.Firewall(netns)
        state = build_state()
        full_ms, _, _ = timed_apply(fw, state)
        total_rules, port_rules = rule_counts(netns)
        print(f"ports: {PORTS} (groups of {PER_PROJECT}, plus one group of all)")
        print(f"first load (whole tables, one transaction): {full_ms:.0f} ms")
        print(f"nft rules: {total_rules} in all, {port_rules / PORTS:.1f} per port "
              f"({fw.applied.rule_count() / PORTS:.1f} rendered), "
              f"{len(fw.applied.sets)} named sets")  # fmt: skip

        def project_rule(st: dict[str, Any], run: int) -> None:
            rules = st["security_groups"]["default-7"]["rules"]
            if run % 2 == 0:
                rules.append(rule("ingress", "IPv4", protocol="tcp", port_range_min=8000 + run,
                                  port_range_max=8000 + run))  # fmt: skip
            else:
                rules.pop()

        def shared_rule(st: dict[str, Any], run: int) -> None:
            rules = st["security_groups"]["ssh"]["rules"]
            if run % 2 == 0:
                rules.append(rule("ingress", "IPv4", protocol="icmp"))
            else:
                rules.pop()

        def membership(st: dict[str, Any], run: int) -> None:
            members = st["security_groups"]["default-3"]["members"]["IPv4"]
            if run % 2 == 0:
                members.append(f"172.16.0.{run + 1}")
            else:
                members.pop()

        def port_comes_and_goes(st: dict[str, Any], run: int) -> None:
            ports = st["networks"][0]["ports"]
            members = st["security_groups"]["default-3"]["members"]["IPv4"]
            if run % 2 == 0:
                ip = "172.16.1.1"
                ports.append({**ports[60], "id": port_id(PORTS),
                              "mac_address": "fa:16:3e:ff:00:01",
                              "fixed_ips": [{"subnet_id": "s", "ip_address": ip}]})  # fmt: skip
                members.append(ip)
            else:
                ports.pop()
                members.pop()

        medians = [
            report(f"rule change, one group of {PER_PROJECT}", series(fw, state, project_rule)),
            report(f"rule change, group of all {PORTS}", series(fw, state, shared_rule)),
            report("membership change (one address)", series(fw, state, membership)),
            report("a port comes / goes (group of 20)", series(fw, state, port_comes_and_goes)),
        ]
        verdict = "met" if max(medians) < TARGET_MS else "MISSED"
        print(f"target: each change under {TARGET_MS} ms (median): {verdict}")
        return 0 if max(medians) < TARGET_MS else 1
    finally:
        privileged.delete_namespace(netns)
        sys_admin_pctxt.stop()


if __name__ == "__main__":
    sys.exit(main())
