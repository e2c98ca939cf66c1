"""LIO: the parameters' names and portals (names), the ALUA backend in configfs (backend)."""
