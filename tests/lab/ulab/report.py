"""The lab's report: fio results, stalls, failover time from the cluster's logs, SVG timeline.

Pure functions over files (fio JSON + latency logs, journal exports,
results.json), so they are unit-tested without a lab.
"""

from __future__ import annotations

import glob
import json
import math
import os
import re
from xml.sax.saxutils import escape

# -- fio ----------------------------------------------------------------------------------

EILSEQ = 84  # fio's error for a block that fails verification


def read_lat_logs(fio_dir: str) -> list[tuple[float, float, int]]:
    """All completions of all rounds: (epoch seconds, latency seconds, 0=read/1=write), sorted."""
    points = []
    for path in glob.glob(os.path.join(fio_dir, "r*_lat.*.log")):
        with open(path) as f:
            for line in f:
                parts = [p.strip() for p in line.split(",")]
                if len(parts) < 3:
                    continue
                try:
                    points.append((int(parts[0]) / 1000.0, int(parts[1]) / 1e9, int(parts[2])))
                except ValueError:
                    continue
    points.sort()
    return points


def fio_rounds(fio_dir: str) -> list[dict]:
    """One entry per fio round: rc, errors, bytes written and read back (verified)."""
    rcs, ends = {}, {}
    rounds_file = os.path.join(fio_dir, "rounds")
    if os.path.exists(rounds_file):
        with open(rounds_file) as f:
            for line in f:
                p = line.split()
                if len(p) >= 2:
                    rcs[int(p[0])] = int(p[1])
                if len(p) >= 3:
                    ends[int(p[0])] = float(p[2])
    out = []
    for path in sorted(glob.glob(os.path.join(fio_dir, "r*.json")), key=lambda p: int(re.findall(r"r(\d+)", p)[-1])):
        n = int(re.findall(r"r(\d+)\.json", path)[-1])
        entry = {"round": n, "rc": rcs.get(n), "error": None, "written": 0, "verified": 0, "text": "",
                 "start": ends.get(n - 1), "end": ends.get(n)}
        try:
            with open(path) as f:
                text = f.read()
            # fio may print non-JSON lines (e.g. verify errors) before the JSON document
            doc = json.loads(text[text.index("{"):])
            job = doc["jobs"][0]
            entry.update(error=job["error"], written=job["write"]["io_bytes"], verified=job["read"]["io_bytes"],
                         write_clat_max=job["write"]["clat_ns"]["max"] / 1e9,
                         read_clat_max=job["read"]["clat_ns"]["max"] / 1e9 if job["read"]["total_ios"] else 0.0)
            if text.index("{") > 0:
                entry["text"] = text[: text.index("{")][-2000:]
        except (OSError, ValueError, KeyError, IndexError) as e:
            entry["error"] = f"unreadable: {e}"
        out.append(entry)
    return out


def stalls(points: list[tuple[float, float, int]], round_starts: list[float] | None = None) -> dict:
    """Longest single I/O latency and longest gap between completions (excluding gaps that span
    the start of a new fio round, which are fio's own start-up)."""
    if not points:
        return {"max_latency": None, "max_latency_at": None, "max_gap": None, "max_gap_at": None}
    lat_t, lat = max(((t, lt) for t, lt, _ in points), key=lambda x: x[1])
    gap, gap_at = 0.0, points[0][0]
    starts = sorted(round_starts or [])
    for (a, _, _), (b, _, _) in zip(points, points[1:]):
        if b - a > gap and not any(a < s <= b for s in starts):
            gap, gap_at = b - a, a
    return {"max_latency": lat, "max_latency_at": lat_t, "max_gap": gap, "max_gap_at": gap_at}


# -- the cluster's own records ---------------------------------------------------------------

JOURNAL_LINE = re.compile(r"^(\d+\.\d+)\s+(\S+)\s+(.*)$")


# -- the fault matrix -----------------------------------------------------------------------

#: faults after which a node must have been fenced (and which node: the row's victim)
FENCING_EXPECTED = ("promoted-kill", "freeze", "replication-cut", "unpromoted-kill")


def expects_fencing(fault: str) -> bool:
    return fault.startswith(FENCING_EXPECTED)


def fault_table(rows: list[dict], points: list[tuple[float, float, int]], rounds: list[dict],
                two_active: list[dict], round_starts: list[float] | None = None) -> list[dict]:
    """One figure row per fault: its window runs from the fault to full redundancy again.

    stall: the longest I/O latency of a write submitted or completed in the window, or the
    longest gap between completions that overlaps it (gaps spanning a round start excluded);
    I/O and verification errors: fio rounds that failed and overlap the window."""
    starts = sorted(round_starts or [])
    out = []
    for row in rows:
        t0, t1 = row["t0"], row.get("t_redundant") or row["t0"] + 60
        lat = max((lt for t, lt, _ in points if t0 <= t <= t1 or t0 <= t - lt <= t1), default=0.0)
        gap = 0.0
        for (a, _, _), (b, _, _) in zip(points, points[1:]):
            if b >= t0 and a <= t1 and b - a > gap and not any(a < s <= b for s in starts):
                gap = b - a
        overlapping = [x for x in rounds if (x.get("end") is None or x["end"] >= t0) and
                       (x.get("start") is None or x["start"] <= t1)]
        failed = [x for x in overlapping if x["error"] or x["rc"] not in (0, None)]
        verify = [x for x in failed if x["error"] == EILSEQ or "verify" in (x.get("text") or "")]
        out.append({
            "fault": row["fault"], "victim": row.get("victim", ""),
            "stall": round(max(lat, gap), 2),
            "io_errors": len(failed) - len(verify), "verify_errors": len(verify),
            "to_promoted": round(row["t_promoted"] - t0, 1) if row.get("t_promoted") else None,
            "to_redundant": round(row["t_redundant"] - t0, 1) if row.get("t_redundant") else None,
            "fenced": list(row.get("fenced", [])),
            "two_active": len([p for p in two_active if t0 <= p["t"] <= t1]),
        })
    return out


def fault_table_lines(table: list[dict]) -> list[str]:
    """The figures as a fixed-width text table (the report) and as Markdown (the lab README)."""
    head = f"  {'fault':18} {'stall':>7} {'I/O err':>7} {'verify':>6} {'promoted':>9} {'redundant':>9}  " \
           f"{'fenced':14} {'2-active':>8}"
    lines = [head]
    for x in table:
        prom = "-" if x["to_promoted"] is None else f"{x['to_promoted']:.1f} s"
        red = "-" if x["to_redundant"] is None else f"{x['to_redundant']:.1f} s"
        lines.append(f"  {x['fault']:18} {x['stall']:>5.2f} s {x['io_errors']:>7} {x['verify_errors']:>6} "
                     f"{prom:>9} {red:>9}  {', '.join(x['fenced']) or 'no':14} {x['two_active']:>8}")
    return lines


def status_line(status: dict) -> str:
    """alua-status's verdicts around one fault: "before hpms01 healthy, hpms02 healthy; during ..."."""
    parts = []
    for when in ("before", "during", "after"):
        nodes = status.get(when)
        if nodes is None:
            continue
        verdicts = []
        for node, v in sorted(nodes.items()):
            why = f" ({'; '.join(v['problems'])})" if v["problems"] else ""
            verdicts.append(f"{node} {v['health']}{why}")
        parts.append(f"{when} {', '.join(verdicts) or 'no node ran'}")
    return "; ".join(parts)


def journal_events(text: str, patterns: dict[str, str]) -> dict[str, list[float]]:
    """journalctl -o short-unix text -> {label: [epoch seconds of matching lines]}."""
    found: dict[str, list[float]] = {k: [] for k in patterns}
    compiled = {k: re.compile(v) for k, v in patterns.items()}
    for line in text.splitlines():
        m = JOURNAL_LINE.match(line)
        if not m:
            continue
        for k, rx in compiled.items():
            if rx.search(m.group(3)):
                found[k].append(float(m.group(1)))
    return found


def failover_from_journal(text: str, victim: str, survivor: str, t_kill: float, alua: str = "p_lio") -> dict:
    """Failover milestones on the survivor, from Pacemaker's and corosync's own log lines."""
    ev = journal_events(text, {
        # DRBD (kernel) notices the peer is gone and freezes I/O (fencing resource-and-stonith)
        "drbd_lost": r"drbd \S+: .*conn\( (Connected|WFBitMap\w*|SyncSource|SyncTarget) -> ",
        "handler_called": r"helper command: /sbin/drbdadm fence-peer(?! .*exit code)",
        "membership_lost": rf"(Node {victim} state is now lost|{victim}.*left|Removing all {victim})",
        # alua-fence-peer asks the fencer itself (--fence-after) and learns it succeeded
        # the handler's first line: after drbdadm, the shell and its own Python start
        "handler_started": rf"alua-fence-peer\[\d+\]: \S+: lost the connection to {victim}",
        "handler_fences": rf"alua-fence-peer\[\d+\]: {victim} (does not answer|is not in corosync's membership)",
        "handler_fenced": rf"alua-fence-peer\[\d+\]: {victim}: fenced \(",
        "fenced_confirmed": rf"Operation '(off|reboot)' .*{victim}.*: OK",
        "handler_returned": r"helper command: /sbin/drbdadm fence-peer .*exit code",
        "promote_ok": rf"Result of promote operation for {alua} on {survivor}: ok",
    })
    out: dict[str, float | None] = {}
    for k, times in ev.items():
        after = [t for t in times if t >= t_kill - 1]
        out[k] = min(after) - t_kill if after else None
    return out


# -- SVG ------------------------------------------------------------------------------------


def svg_timeline(points: list[tuple[float, float, int]], events: list[tuple[float, str]], title: str,
                 bin_s: float = 0.25) -> str:
    """I/O latency (max per bin, log scale) over time, with the fault/failover moments marked."""
    W, H, L, R, TOP, B = 1200, 520, 70, 20, 40, 180
    pw, ph = W - L - R, H - TOP - B
    if not points:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="120"><text x="10" y="30">'
                f"{escape(title)}: no I/O recorded</text></svg>\n")
    t0 = min([points[0][0]] + [t for t, _ in events])
    t1 = max([points[-1][0]] + [t for t, _ in events]) + 1
    lo, hi = 1e-4, max(10.0, max(p[1] for p in points) * 1.5)

    def x(t: float) -> float:
        return L + (t - t0) / (t1 - t0) * pw

    def y(v: float) -> float:
        v = min(max(v, lo), hi)
        return TOP + ph - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * ph

    bins: dict[int, list[float]] = {}
    for t, lat, _ in points:
        bins.setdefault(int((t - t0) / bin_s), []).append(lat)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" '
             f'font-size="11">',
             f'<rect width="{W}" height="{H}" fill="white"/>',
             f'<text x="{L}" y="22" font-size="14" font-weight="bold">{escape(title)}</text>']
    # axes and grid
    decade = math.floor(math.log10(lo))
    while 10 ** decade <= hi:
        v = 10 ** decade
        if v >= lo:
            label = f"{v * 1000:g} ms" if v < 1 else f"{v:g} s"
            parts.append(f'<line x1="{L}" y1="{y(v):.1f}" x2="{L + pw}" y2="{y(v):.1f}" stroke="#ddd"/>')
            parts.append(f'<text x="{L - 5}" y="{y(v) + 4:.1f}" text-anchor="end">{label}</text>')
        decade += 1
    span = t1 - t0
    step = next(s for s in (5, 10, 15, 30, 60, 120, 300, 600, 1e9) if span / s <= 12)
    s = 0.0
    while s <= span:
        parts.append(f'<line x1="{x(t0 + s):.1f}" y1="{TOP + ph}" x2="{x(t0 + s):.1f}" y2="{TOP + ph + 4}" '
                     f'stroke="black"/><text x="{x(t0 + s):.1f}" y="{TOP + ph + 16}" '
                     f'text-anchor="middle">{s:g} s</text>')
        s += step
    parts.append(f'<rect x="{L}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="black"/>')
    # stall target
    parts.append(f'<line x1="{L}" y1="{y(5):.1f}" x2="{L + pw}" y2="{y(5):.1f}" stroke="#c00" '
                 f'stroke-dasharray="6,4"/><text x="{L + pw - 4}" y="{y(5) - 4:.1f}" text-anchor="end" '
                 f'fill="#c00">5 s target</text>')
    # per-bin max latency, gaps (no completion in a bin) break the line
    path, prev = [], None
    for b in sorted(bins):
        cmd = "L" if prev is not None and b == prev + 1 else "M"
        path.append(f"{cmd}{x(t0 + (b + 0.5) * bin_s):.1f},{y(max(bins[b])):.1f}")
        prev = b
    parts.append(f'<path d="{" ".join(path)}" fill="none" stroke="#1f77b4" stroke-width="1"/>')
    # events
    row_end: list[float] = []  # right end of the last label in each row: labels never overlap
    for t, label in sorted(events):
        xe = x(t)
        width = 6.2 * len(label) + 6
        row = next((i for i, end in enumerate(row_end) if end < xe), len(row_end))
        if row == len(row_end):
            row_end.append(0.0)
        row_end[row] = xe + width
        ly = TOP + ph + 30 + 13 * row
        parts.append(f'<line x1="{xe:.1f}" y1="{TOP}" x2="{xe:.1f}" y2="{ly - 9}" stroke="#e67e22" '
                     f'stroke-width="1"/>')
        anchor = ' text-anchor="end"' if xe + width > W else ""
        lx = xe - 2 if anchor else xe + 2
        parts.append(f'<text x="{lx:.1f}" y="{ly}" fill="#a04000"{anchor}>{escape(label)}</text>')
    parts.append(f'<text x="{L}" y="{H - 6}" fill="#555">max I/O latency per {bin_s * 1000:g} ms '
                 f'(log scale); gaps in the line: no I/O completed</text>')
    parts.append("</svg>\n")
    return "\n".join(parts)
