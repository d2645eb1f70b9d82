"""The report as one self-contained HTML page: inline CSS, inline SVG plots, no scripts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from html import escape

from routepilot.report import svg

CSS = """
body{font:12px/1.45 "DejaVu Sans",system-ui,sans-serif;color:#1b1f24;
margin:24px auto;max-width:980px}
h1{font-size:20px;margin:0}h2{font-size:15px;margin:22px 0 6px;border-bottom:2px solid #24292f}
p.sub{color:#6a737d;margin:2px 0 12px}
.tiles{display:grid;grid-template-columns:repeat(4,1fr);gap:8px}
.tile{border:1px solid #d0d7de;border-radius:6px;padding:8px}.tile b{display:block;font-size:19px}
.tile span{color:#6a737d;font-size:11px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;margin:4px 0}
th,td{padding:3px 6px;border-bottom:1px solid #e1e4e8;text-align:left;white-space:nowrap}
thead th{background:#f0f3f6;font-size:11px}td.n,th.n{text-align:right}
h3{font-size:12px;margin:10px 0 0;color:#444}
.ok{color:#1a7f37;font-weight:600}.bad{color:#cf222e;font-weight:600}.na{color:#6a737d}
.good{color:#1a7f37}.note{color:#6a737d;font-size:11px}
figure{margin:0;break-inside:avoid}svg.plot{display:block;margin:4px 0;font-size:10px}
svg .g{stroke:#eceff1}
svg .yl,svg .bl{text-anchor:end;fill:#6a737d}svg .xl{text-anchor:middle;fill:#6a737d}
svg .s{fill:none;stroke-width:1.5}svg .h{stroke-dasharray:4 3}svg .hl{text-anchor:end;fill:#555}
svg .lg,svg .bv{fill:#333}
@media print{body{margin:0;max-width:none}h2{break-after:avoid}table,svg{break-inside:avoid}}
"""


def ms(v: float | None) -> str:
    """Milliseconds with the digits the magnitude needs: a lab's veth paths take 15 µs."""
    if v is None:
        return "–"
    digits = 0 if abs(v) >= 100 else 1 if abs(v) >= 1 or v == 0 else 3
    return f"{v + 0.0 if round(v, digits) else 0.0:.{digits}f} ms"  # never "-0.0 ms"


def span(seconds: float) -> str:
    """A period as people say it: 90 min, 24 h, 7 d."""
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.3g} h"
    return f"{seconds / 86400:.3g} d"


def ms_axis(v: float) -> str:
    return f"{v:.{0 if float(v).is_integer() else 1 if abs(v) >= 1 else 3}f} ms"


def pct(v: float | None, digits: int = 2) -> str:
    return "–" if v is None else f"{v * 100:.{digits}f}%"


def nbytes(v: float | None) -> str:
    if v is None:
        return "–"
    for unit, f in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(v) >= f:
            return f"{v / f:.2f} {unit}"
    return f"{v:.0f} B"


def bps(v: float | None) -> str:
    if v is None:
        return "–"
    for unit, f in (("Gb/s", 1e9), ("Mb/s", 1e6), ("kb/s", 1e3)):
        if abs(v) >= f:
            return f"{v / f:.1f} {unit}"
    return f"{v:.0f} b/s"


def money(v: float | None) -> str:
    return "–" if v is None else f"{v:,.2f}"


def when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")


def _table(head: list[str], rows: list[list[str]], numeric_from: int = 1) -> str:
    th = "".join(
        f'<th class="n">{escape(h)}</th>' if i >= numeric_from else f"<th>{escape(h)}</th>"
        for i, h in enumerate(head)
    )
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="n">{c}</td>' if i >= numeric_from else f"<td>{c}</td>"
            for i, c in enumerate(r)
        )
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _fig(caption: str, plot: str) -> str:
    return f"<figure><h3>{escape(caption)}</h3>{plot}</figure>" if plot else ""


def _met(check: dict | None, fmt: Callable[[float | None], str]) -> str:
    if not check:
        return '<span class="na">no target</span>'
    cls, word = ("ok", "met") if check["met"] else ("bad", "missed")
    return f'{fmt(check["measured"])} / {fmt(check["target"])} <span class="{cls}">{word}</span>'


def _summary(r: dict) -> str:
    b, o, c = r["benefit"], r["outages"], r["cost"]
    saved = b["rtt_saved_ms"]
    tiles = [
        (ms(saved), "latency saved on moved traffic (traffic-weighted)"),
        (pct(b["loss_avoided"]), "loss avoided on moved traffic"),
        (
            f"{o['prefix_minutes']:.1f}",
            f"prefix-minutes of default outage avoided ({o['prefixes']} prefixes)",
        ),
        (money(c["saved"]), "overage cost saved against BGP's default"),
        (f"{b['moves']}", "moves in the period"),
        (pct(b["moved_share"], 1), "of all traffic routed away from BGP's default"),
        (nbytes(b["bytes_not_lost"]), "not lost (estimate)"),
        (ms(b["rtt_saved_all_traffic_ms"]), "latency saved averaged over all traffic"),
    ]
    return (
        '<div class="tiles">'
        + "".join(
            f"<div class=tile><b>{escape(v)}</b><span>{escape(t)}</span></div>" for v, t in tiles
        )
        + "</div>"
    )


def _benefit(r: dict) -> str:
    b, s, p = r["benefit"], r["series"], r["period"]
    d, c = b["bgp_default"], b["routepilot"]
    rows = [
        ["RTT", ms(d["rtt_ms"]), ms(c["rtt_ms"]), ms(b["rtt_saved_ms"])],
        ["loss", pct(d["loss"]), pct(c["loss"]), pct(b["loss_avoided"])],
    ]
    plot = ""
    if s["benefit_rtt_ms"]:
        pts = s["benefit_rtt_ms"]
        plot = svg.line_chart(
            [
                ("BGP default", "#cf222e", [(t, x) for t, x, _ in pts]),
                ("routepilot", "#1a7f37", [(t, y) for t, _, y in pts]),
            ],
            p["since"],
            p["until"],
            ms_axis,
            title="RTT of the moved traffic: BGP default against routepilot",
            gap_s=1.5 * p["step_s"],
        )
    est = b["intervals_estimated"]
    note = (
        f"{b['intervals']} improvement intervals over {b['prefixes']} prefixes, "
        f"{nbytes(b['moved_bytes'])} moved"
        + (f"; {est} without rollups, taken from the decisions' own numbers" if est else "")
        + (f"; {b['dry_run_moves']} dry-run moves not counted" if b["dry_run_moves"] else "")
    )
    if b["journal_truncated"]:
        note += "; the journal held more moves than one read returns, the oldest are missing"
    return (
        "<h2>With routepilot against BGP's default</h2>"
        + _table(["traffic-weighted", "BGP default", "routepilot", "difference"], rows)
        + f'<p class="note">{escape(note)}.</p>'
        + _fig("RTT of the moved traffic, minute by minute: on BGP's default and as routed", plot)
    )


def _reasons(r: dict) -> str:
    rows = [
        [
            escape(x["reason"]),
            str(x["moves"]),
            str(x["prefixes"]) if x["intervals"] else "–",
            nbytes(x["moved_bytes"]) if x["intervals"] else "–",
            ms(x["rtt_saved_ms"]),
            pct(x["loss_avoided"]),
        ]
        for x in r["by_reason"]
    ]
    if not rows:
        return "<h2>Improvements by reason</h2><p>No moves in the period.</p>"
    plot = svg.bar_chart(
        [x["reason"] for x in r["by_reason"]],
        [("moves", "#54aeff", [x["moves"] for x in r["by_reason"]])],
        lambda v: f"{v:.0f}",
        title="moves by reason",
    )
    head = ["reason", "moves", "prefixes", "moved", "RTT saved", "loss avoided"]
    note = (
        '<p class="note">Moves made in the period, and the traffic-weighted benefit of the time '
        "prefixes spent away from BGP's default because of each reason (moves made before the "
        "period count from its start). A revert hands a prefix back to BGP's default: it ends "
        "an improvement and has no benefit of its own.</p>"
    )
    return (
        "<h2>Improvements by reason</h2>"
        + _table(head, rows)
        + note
        + _fig("Moves by reason", plot)
    )


def _providers(r: dict) -> str:
    rows = []
    for p in r["providers"]:
        rt, lo, ch = p["rtt_ms"], p["loss"], p["sla"]["checks"]
        sla = p["sla"]["met"]
        verdict = (
            '<span class="na">–</span>'
            if sla is None
            else '<span class="ok">met</span>'
            if sla
            else '<span class="bad">missed</span>'
        )
        rows.append(
            [
                escape(p["name"]),
                ms(rt["p50"]),
                ms(rt["p90"]),
                ms(rt["p95"]),
                ms(rt["p99"]),
                pct(lo["mean"]),
                pct(lo["p95"]),
                pct(p["availability"], 3),
                verdict,
            ]
        )
        p["_sla_row"] = [
            escape(p["name"]),
            _met(ch.get("rtt_ms"), ms),
            _met(ch.get("loss"), pct),
            _met(ch.get("availability"), lambda v: pct(v, 3)),
            verdict,
        ]
    head = [
        "provider",
        "RTT p50",
        "p90",
        "p95",
        "p99",
        "loss mean",
        "loss p95",
        "availability",
        "SLA",
    ]
    sla_rows = [p.pop("_sla_row") for p in r["providers"]]
    per, s = r["period"], r["series"]
    names = [p["name"] for p in r["providers"]]
    rtt = svg.line_chart(
        [(n, svg.colour(i), s["rtt_ms"].get(n, [])) for i, n in enumerate(names)],
        per["since"],
        per["until"],
        ms_axis,
        title="RTT per provider",
    )
    loss = svg.line_chart(
        [(n, svg.colour(i), s["loss"].get(n, [])) for i, n in enumerate(names)],
        per["since"],
        per["until"],
        lambda v: f"{v * 100:.1f}%",
        y_max=0.01,
        height=150,
        title="loss per provider",
    )
    return (
        "<h2>Providers: latency, loss, availability</h2>"
        + _table(head, rows)
        + '<p class="note">Percentiles of per-minute RTTs (each the median over the prefixes '
        "probed through the provider); availability: share of probed minutes below the down-loss "
        "threshold.</p>"
        + _fig("RTT per provider: per-minute median over the prefixes probed through it", rtt)
        + _fig("Loss per provider", loss)
        + "<h2>SLA compliance</h2>"
        + (
            ""
            if any(p["sla"]["checks"] for p in r["providers"])
            else '<p class="note">No targets configured: set <code>sla:</code> in the '
            "configuration (rtt_ms, loss, availability; per provider under providers).</p>"
        )
        + _table(["provider", "RTT", "loss", "availability", "SLA"], sla_rows)
    )


def _outages(r: dict) -> str:
    o = r["outages"]
    return (
        "<h2>Outages avoided</h2>"
        f"<p>{o['outage_moves']} moves for an outage; BGP's default was down (loss ≥ "
        f"{pct(o['down_loss'], 0)}) for {o['prefix_minutes']:.1f} prefix-minutes while "
        f"{o['prefixes']} prefixes were routed elsewhere, sparing about "
        f"{escape(nbytes(o['bytes_rescued']))} of traffic from loss.</p>"
    )


def _incidents(r: dict) -> str:
    inc = r.get("incidents")
    if inc is None:
        return ""
    head = (
        "<h2>Incidents</h2>"
        f"<p>{inc['total']} incidents in the period ({inc['open']} still open): "
        f"{inc['by_cause']['as']} naming an AS, {inc['by_cause']['provider']} a provider, "
        f"{inc['by_cause']['prefix']} a single prefix.</p>"
    )
    if not inc["list"]:
        return head

    def cause(c: dict) -> str:
        if c["kind"] == "as":
            return f"AS{c['asn']}"
        return escape(str(c["provider"] if c["kind"] == "provider" else c["prefix"]))

    rows = [
        [str(i["id"]), escape(i["cause"]["kind"]), cause(i["cause"]), when(i["opened"]),
         when(i["closed"]) if i["closed"] is not None else "open", str(i["prefixes"])]
        for i in inc["list"][:50]
    ]  # fmt: skip
    return head + _table(["id", "cause", "who", "opened", "closed", "prefixes"], rows, 5)


def _cost(r: dict) -> str:
    c = r["cost"]
    rows = [
        [
            escape(p["name"]),
            bps(p["commit_bps"] or None),
            bps(p["p95_bps"]),
            bps(p["p95_default_bps"]),
            pct(p["commit_used"], 0),
            pct(p["commit_used_default"], 0),
            money(p["cost"]),
            money(p["cost_default"]),
        ]
        for p in c["providers"]
    ]
    rows.append(["<b>total</b>", "", "", "", "", "", money(c["total"]), money(c["total_default"])])
    plot = svg.bar_chart(
        [p["name"] for p in c["providers"]],
        [
            ("routepilot p95", "#1a7f37", [p["p95_bps"] for p in c["providers"]]),
            ("BGP default p95", "#cf222e", [p["p95_default_bps"] for p in c["providers"]]),
            ("commit", "#e8a33d", [p["commit_bps"] or None for p in c["providers"]]),
        ],
        bps,
        title="95th percentile against commit",
    )
    head = [
        "provider",
        "commit",
        "p95",
        "p95 BGP default",
        "commit used",
        "used BGP default",
        "overage cost",
        "cost BGP default",
    ]
    return (
        "<h2>Cost and commit against BGP's default</h2>"
        + _table(head, rows)
        + _fig("95th percentile as routed, as BGP would have, and the commit", plot)
        + '<p class="note">95th percentile of 5-minute means over the report period (not the '
        "billing month); cost is the overage above the commit at each provider's price.</p>"
        + _billing_period(c.get("billing_period"))
    )


def _billing_period(b: dict | None) -> str:
    """The open billing period as billed (the controller's billing view), when known."""
    if not b:
        return ""
    rows = [
        [
            escape(r["name"]),
            escape(r["mode"] or ""),
            f"{r['samples']} / {r['slots']}",
            bps(r["commit_bps"] or None),
            bps(r["current_bps"]),
            bps(r["projected_bps"]),
            bps(r["projected_without_bps"]),
            money(r["cost_projected"]),
            money(r["cost_projected_without"]),
        ]
        for r in b["rows"]
    ]
    head = ["provider", "mode", "samples", "commit", "p95 now", "p95 projected",
            "projected without routepilot", "cost projected", "cost without"]  # fmt: skip
    source = "interface counters (SNMP)" if b["source"] == "snmp" else "flows"
    return (
        "<h3>This billing period, as billed</h3>"
        + _table(head, rows, numeric_from=2)
        + f'<p class="note">From {source}, {b["sample_s"]:g}-second samples; projected to the '
        "period's end with the recent samples repeating, with and without routepilot's moves "
        f"(projected saving: {money(_saving(b))}).</p>"
    )


def _saving(b: dict) -> float | None:
    if b["projected_total"] is None or b["projected_total_without"] is None:
        return None
    return b["projected_total_without"] - b["projected_total"]


def _moves(r: dict) -> str:
    rows = [
        [
            escape(m["prefix"]),
            escape(m["reason"]),
            f"{escape(m['from'])} → {escape(m['to'])}",
            when(m["start"]),
            f"{(m['end'] - m['start']) / 60:.0f} min",
            bps(m["traffic_bps"]),
            f"{ms(m['rtt_default_ms'])} → {ms(m['rtt_chosen_ms'])}",
            f"{pct(m['loss_default'])} → {pct(m['loss_chosen'])}",
            "decision" if m["estimated"] else f"{m['minutes_measured']:.1f} min",
        ]
        for m in r["moves"]
    ]
    head = [
        "prefix",
        "reason",
        "default → chosen",
        "from (UTC)",
        "for",
        "traffic",
        "RTT default → chosen",
        "loss default → chosen",
        "basis",
    ]
    return "<h2>Moves with the most traffic</h2>" + (
        _table(head, rows, numeric_from=5) if rows else "<p>None.</p>"
    )


def render_html(report: dict) -> str:
    """The whole page."""
    p = report["period"]
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>routepilot report {escape(p['since_iso'])} – {escape(p['until_iso'])}</title>"
        f"<style>{CSS}</style></head><body>"
        "<h1>routepilot performance report</h1>"
        f'<p class="sub">{when(p["since"])} – {when(p["until"])} UTC '
        f"({span(p['seconds'])}) · generated {escape(report['generated'])} "
        f"by routepilot {escape(report['version'])}</p>"
        + _summary(report)
        + _benefit(report)
        + _reasons(report)
        + _outages(report)
        + _incidents(report)
        + _providers(report)
        + _cost(report)
        + _moves(report)
        + '<h2>How this is computed</h2><p class="note">The counterfactual is what BGP\'s '
        "default provider measured, minute by minute, for the same prefix while routepilot "
        "sent it elsewhere; each minute is weighted by the prefix's traffic at the time of the "
        "move and by the share of the minute the move covered. Nothing is extrapolated: minutes "
        "without a rollup for both providers are left "
        "out.</p></body></html>"
    )
