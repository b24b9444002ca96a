"""Networking: the Networking API's service layer and IP address management, and
the host data plane and its agents."""
