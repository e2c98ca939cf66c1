"""Fake storage tools and kernel views for tests on a machine without DRBD or device-mapper.

- ``bin/``: lvm (and its vgs, lvs, pvs, vgchange, lvchange, lvmconfig links),
  dmsetup, drbdsetup and dd.  Put it first on PATH.  Every tool keeps its
  state in the directory named by ``ALUA_FAKE_STATE`` and appends its argv
  to ``calls.log`` there; ``fakestate.FakeStorage`` builds and inspects that
  directory from a test.
- ``lockgroup/``: dlm_controld, dlm_tool, lvmlockd, lvmlockctl, lvmconfig, modprobe
  and mount for the lock group's agents (fakelib.py: state in ``$ALUA_LOCKGROUP_FAKES``,
  ``<tool>.calls``, ``<tool>.hang``/``.fail``; daemons detach like the real ones).
  Put it first on PATH instead of ``bin/``.
- ``kernel_ns.py``: runs a command in a private mount namespace where
  ``/sys/block`` is the state directory's ``sys_block/`` and ``/proc/drbd``
  its ``proc_drbd`` (absent: the drbd module is not loaded), so an agent
  runs unmodified against the fake kernel.

Formats the tools print are copied from real captures (tests/drbd_lvm/fixtures);
messages for situations that could not be captured here are marked FAKE in
the tool's source.
"""
