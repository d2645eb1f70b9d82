"""How the CLI prints the API's answers: rates, times, tables, explanations."""

from __future__ import annotations

import time


def rate(bps: float | None) -> str:
    if bps is None:
        return "-"
    for unit, scale in (("Gb/s", 1e9), ("Mb/s", 1e6), ("kb/s", 1e3)):
        if abs(bps) >= scale:
            return f"{bps / scale:.1f} {unit}"
    return f"{bps:.0f} b/s"


def ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"


def pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def when(t: float | None) -> str:
    if t is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(t))


def ago(t: float | None, now: float) -> str:
    if t is None:
        return "-"
    s = max(0, int(now - t))
    if s < 120:
        return f"{s}s ago"
    if s < 7200:
        return f"{s // 60}m ago"
    if s < 172800:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m ago"
    return f"{s // 86400}d ago"


def duration(s: float) -> str:
    s = int(s)
    d, h, m = s // 86400, (s % 86400) // 3600, (s % 3600) // 60
    return f"{d}d {h}h {m}m" if d else f"{h}h {m}m"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """Columns padded to their widest cell; numbers-as-text are left as given."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    for row in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def status_text(s: dict) -> str:
    mode = "paused" if s["paused"] else "active"
    dry = "on (recommendations only)" if s["dry_run"] else "off"
    cycle = s["cycle"]
    sessions = ", ".join(f"{k} {v}" for k, v in sorted(s["sessions"].items())) or "none"
    counts = s["counts"]
    lines = [
        f"routepilot {s['version']}, up {duration(s['now'] - s['started'])}",
        f"control     {mode}, dry-run {dry}",
        f"cycles      {cycle['count']}, last {ago(cycle['last'], s['now'])}"
        + ("" if cycle["duration_ms"] is None else f", took {cycle['duration_ms']:.1f} ms"),
        f"sessions    {sessions}",
        f"degraded    {'; '.join(s['degraded']) if s['degraded'] else 'no'}",
        f"prefixes    {counts['prefixes']} busy, {counts['active_improvements']} improved, "
        f"{counts['moves_last_hour']} moves in the last hour",
    ]
    return "\n".join(lines)


def flags(p: dict) -> str:
    flags = []
    if p.get("pinned"):
        flags.append(f"pinned:{p['pinned']}")
    if p.get("excluded"):
        flags.append("excluded")
    return ",".join(flags) or "-"


def explanation(d: dict | None) -> str:
    if not d:
        return "No decision recorded for this prefix: it follows BGP's default."
    what = "would have moved" if d.get("dry_run") else "moved"
    text = (
        f"{when(d['time'])}: {what} from {d['from_provider'] or '-'} to "
        f"{d['to_provider'] or '-'} (BGP default {d['default_provider'] or '-'}), "
        f"reason {d['reason']}"
    )
    details = []
    if d.get("old_rtt_ms") is not None or d.get("new_rtt_ms") is not None:
        rtt = f"RTT {ms(d.get('old_rtt_ms'))} -> {ms(d.get('new_rtt_ms'))}"
        if d.get("threshold_ms") is not None:
            rtt += f" (threshold {d['threshold_ms']:g} ms)"
        details.append(rtt)
    if d.get("old_loss") is not None or d.get("new_loss") is not None:
        details.append(f"loss {pct(d.get('old_loss'))} -> {pct(d.get('new_loss'))}")
    if d.get("traffic_bps") is not None:
        details.append(f"traffic {rate(d['traffic_bps'])}")
    text += (": " + ", ".join(details) if details else "") + "."
    if d.get("summary"):
        text += f"\nIn a sentence: {d['summary']}."
    return text


def prefix_line(p: dict) -> str:
    return (
        f"{p['prefix']}: exit {p['exit'] or '-'} (BGP default {p['default'] or '-'}), "
        f"reason {p['reason']}, flags {flags(p)}"
    )
