"""The Linux data plane of a host: bridges, VXLAN devices, network namespaces,
veth pairs and dnsmasq, as the network agent (``stratus.network.agent``) sets
them up. Root-only operations are the entry points in ``privileged``; the other
modules here are pure logic (names, dnsmasq configuration)."""
