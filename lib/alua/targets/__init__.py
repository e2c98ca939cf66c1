"""ALUA: the backend-neutral role logic, the promotable agent shape and the SCST and LIO backends."""
