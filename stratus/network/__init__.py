"""Networking: the Networking API's service layer and IP address management, and
the host data plane (``stratus.network.linux``, ``stratus.network.agent``)."""
