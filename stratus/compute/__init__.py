"""Compute: the agent of a compute node (manager, virt drivers, image cache), which
has no database access and works on plain data, and the compute API layer
(``api.py``) that the API service runs in front of it."""
