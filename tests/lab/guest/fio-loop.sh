#!/bin/sh
# Runs on the initiator during the fault tests: fio with verification, again and
# again, on the XFS file system over multipath, until /run/lab-fio.stop exists.
# Each round writes a 16 MB file in random 4 KiB blocks (each block once, with a
# crc32c header), verifies a backlog of written blocks every 256 writes while
# writing, and reads back and verifies every block at the end of the round.
# Latency logs carry Unix-epoch timestamps (ms) and latencies (ns).
set -u
out=/root/fio
mkdir -p "$out"
round=0
while [ ! -e /run/lab-fio.stop ]; do
    round=$((round + 1))
    fio --name=lab --filename=/share/fio.dat --size=16m --bs=4k --rw=randwrite \
        --ioengine=libaio --direct=1 --iodepth=4 --rate_iops=100 \
        --verify=crc32c --verify_backlog=256 --verify_fatal=1 --do_verify=1 \
        --write_lat_log="$out/r$round" --log_unix_epoch=1 \
        --output-format=json --output="$out/r$round.json"
    echo "$round $? $(date +%s.%N)" >> "$out/rounds"
done
touch "$out/done"
