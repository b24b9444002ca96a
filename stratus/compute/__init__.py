"""The compute agent: virtualisation drivers, the image cache and (later) the manager.

Compute nodes have no database access; everything here works on plain data
handed in by the manager (instances are dicts) and reports plain data back.
"""
