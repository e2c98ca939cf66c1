"""ulab: the real-kernel lab (User-Mode Linux) for the alua agents.

Modules:
    safety   path checks before every destructive step, host guard (checksums)
    image    debootstrap root file system -> cached ext4 image
    net      the lab's network namespace, bridges and taps
    uml      one UML instance: boot, hostfs command channel, mconsole, kill
    report   text report + SVG latency timeline
    scenario the stages (substrate, DRBD, LVM, LIO, initiator, faults)
"""
