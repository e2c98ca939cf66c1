"""SCST: the sysfs tree, the ALUA backend and the target layer (devices, LUNs, portals)."""
