"""Self-contained HTML report: inline CSS, plots as embedded base64 PNG, no script, no network.

Plots: latency per device and cell (p50 bars with p50–p90 whiskers), the distribution of every
cell's timed runs, speed-up against threads (with the ideal line), and with ``--compare`` the change
per cell coloured by verdict.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any, Sequence

from .compare import Change
from .markdown import bound_text, fmt_ms
from .table import POWER_MODE_NAMES, Run, accuracy_flag, speedups, stability_flags

__all__ = ["render_html"]

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ddd;padding-bottom:.2em}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}th,td{border:1px solid #ddd;padding:3px 7px;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}tr.err td{background:#fff3f3}.warn{color:#b00;font-weight:600}
.reg{background:#fde2e2}.imp{background:#e2f6e2}.meta{color:#555}figure{margin:1em 0}figcaption{color:#555;font-size:12px}
img{max-width:100%;height:auto;border:1px solid #eee}.scroll{overflow-x:auto}
"""


def _e(v: Any) -> str:
    return html.escape(str(v), quote=True)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], left: int = 1, row_class: Sequence[str] = ()) -> str:
    th = "".join(f'<th class="l">{_e(h)}</th>' if i < left else f"<th>{_e(h)}</th>" for i, h in enumerate(header))
    body = []
    for j, row in enumerate(rows):
        cls = f' class="{row_class[j]}"' if j < len(row_class) and row_class[j] else ""
        tds = "".join(f'<td class="l">{_e(c)}</td>' if i < left else f"<td>{_e(c)}</td>" for i, c in enumerate(row))
        body.append(f"<tr{cls}>{tds}</tr>")
    return f'<div class="scroll"><table><thead><tr>{th}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _bound_short(aff: dict[str, Any] | None) -> str:
    """The cores, or "not bound" (the reason is printed once below the table)."""
    if not aff:
        return "–"
    return bound_text(aff) if aff["applied"] else "not bound"


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(b64: str, alt: str, caption: str) -> str:
    return f'<figure><img alt="{_e(alt)}" src="data:image/png;base64,{b64}"><figcaption>{_e(caption)}</figcaption></figure>'


def _plots(run: Run, changes: list[Change] | None) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")  # no display; never opens a window
    import matplotlib.pyplot as plt

    out: list[str] = []
    ok = run.ok_rows
    devices = list(dict.fromkeys(r.device for r in ok))
    if ok:
        fig, axes = plt.subplots(len(devices), 1, figsize=(10, 2.8 * len(devices) + 0.6), squeeze=False)
        for ax, dev in zip(axes[:, 0], devices):
            rows = [r for r in ok if r.device == dev]
            p50 = [r.p50 for r in rows]
            up = [max(0.0, (r.p90 or 0) - (r.p50 or 0)) for r in rows]
            ax.bar(range(len(rows)), p50, color="#4c78a8", yerr=[[0] * len(rows), up], capsize=4, ecolor="#333")
            ax.set_xticks(range(len(rows)), [r.label() for r in rows], rotation=20, ha="right", fontsize=8)
            ax.set_ylabel("latency ms")
            ax.set_title(dev, fontsize=10)
        fig.suptitle("p50 latency per cell (whisker: p90)", fontsize=11)
        out.append(_figure(_png(fig), "latency bars", "Bars: median latency; whiskers reach the 90th percentile."))

    with_samples = [r for r in ok if r.samples]
    if with_samples:
        fig, ax = plt.subplots(figsize=(10, 0.35 * len(with_samples) + 1.5))
        ax.boxplot([r.samples for r in with_samples], orientation="horizontal", whis=(1, 99), showfliers=True)
        ax.set_yticks(range(1, len(with_samples) + 1), [f"{r.device}: {r.label()}" for r in with_samples], fontsize=8)
        ax.set_xlabel("latency ms (box: p25–p75, whiskers: p1–p99)")
        ax.set_title("distribution of timed runs per cell", fontsize=11)
        out.append(_figure(_png(fig), "latency distributions", "Every timed run of every cell."))

    sp = {g: pts for g, pts in speedups(run).items() if len(pts) > 1}
    if sp:
        fig, ax = plt.subplots(figsize=(7, 4))
        max_t = max(t for pts in sp.values() for t, _, _ in pts)
        min_t = min(pts[0][0] for pts in sp.values())
        for (dev, model, engine, pm), pts in sp.items():
            ax.plot([t for t, _, _ in pts], [s for _, _, s in pts], marker="o",
                    label=f"{dev} {model} {engine} {POWER_MODE_NAMES.get(pm, pm)}")
        ax.plot([min_t, max_t], [1, max_t / min_t], ls="--", color="#999", label="ideal")
        ax.set_xlabel("threads")
        ax.set_ylabel("speed-up vs fewest threads")
        ax.legend(fontsize=7)
        ax.set_title("speed-up vs threads", fontsize=11)
        out.append(_figure(_png(fig), "speed-up vs threads", "p50 with the fewest threads divided by p50."))

    measured = [c for c in (changes or []) if c.change is not None]
    if measured:
        colors = {"regression": "#d62728", "improvement": "#2ca02c"}
        fig, ax = plt.subplots(figsize=(10, 0.35 * len(measured) + 1.5))
        ax.barh(range(len(measured)), [c.change * 100 for c in measured],
                color=[colors.get(c.verdict, "#999") for c in measured])
        ax.set_yticks(range(len(measured)),
                      [f"{c.model} {c.engine} t{c.threads} {POWER_MODE_NAMES.get(c.power_mode, c.power_mode)}"
                       for c in measured], fontsize=8)
        ax.axvline(0, color="#333", lw=0.8)
        ax.set_xlabel("p50 change % (positive = slower)")
        ax.set_title("change per cell (red: regression beyond noise, green: improvement)", fontsize=11)
        out.append(_figure(_png(fig), "change per cell", "Grey bars are within noise."))
    return out


def render_html(run: Run, changes: list[Change] | None = None, compare_name: str | None = None) -> str:
    ed = run.rows[0].rec["edgeclas"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>edgeclas bench: {_e(run.path.name)}</title><style>{_CSS}</style></head><body>",
        f"<h1>edgeclas bench: {_e(run.path.name)}</h1>",
        f'<p class="meta">{len(run.rows)} cell(s): {len(run.ok_rows)} ok, {len(run.error_rows)} failed · '
        f"edgeclas {_e(ed['version'])} @ {_e((ed['git_commit'] or 'unknown')[:10])}"
        f"{' (dirty)' if ed['git_dirty'] else ''}</p>",
    ]
    if changes is not None:
        n = sum(c.verdict == "regression" for c in changes)
        cls = "warn" if n else "meta"
        parts.append(f'<p class="{cls}">{n} regression(s) beyond noise vs {_e(compare_name)}</p>')

    if run.torn:
        parts.append(f'<p class="warn">{_e(run.torn)}. <code>edgeclas bench --resume</code> sets them aside and '
                     "runs those cells again.</p>")
    parts.append("<h2>Devices</h2>")
    parts.append(_table(
        ["device", "serial", "SoC", "ABI", "Android", "kernel", "CPU clusters"],
        [[d["model"] or "–", d["serial"], d["soc"] or "–", d["abi"] or "–", d["android_version"] or "–",
          d["kernel"] or "–",
          ", ".join(f"{c['name']}: cores {','.join(map(str, c['cores']))}"
                    + (f" @ {c['max_freq_khz'] / 1e6:.2f} GHz" if c.get("max_freq_khz") else "")
                    for c in d["cpu_clusters"]) or "–"]
         for d in run.devices()], left=7))

    parts.append("<h2>Latency (ms)</h2>")
    rows, classes = [], []
    for r in run.ok_rows:
        lat, acc = r.lat, r.rec["accuracy"]
        assert lat is not None
        rss = r.rec["peak_rss_kb"]
        rows.append([
            r.device, r.model, r.engine, r.threads, POWER_MODE_NAMES.get(r.power_mode, r.power_mode),
            fmt_ms(r.p50), fmt_ms(lat["p90"]), fmt_ms(lat["p99"]), fmt_ms(lat["mean"]), fmt_ms(lat["std"]),
            fmt_ms(lat["min"]), fmt_ms(lat["max"]), fmt_ms(lat["trimmed_mean"]), fmt_ms(lat["init"]),
            fmt_ms(lat["first"]), lat["n"], f"{rss / 1024:.1f}" if rss else "–",
            _bound_short(r.rec["affinity"]),
            f"{acc['top1_agreement']:.0%}" if acc else "–", f"{acc['max_abs_dprob']:.1e}" if acc else "–",
        ])
        classes.append("reg" if accuracy_flag(r) else "")
    parts.append(_table(["device", "model", "engine", "threads", "power mode", "p50", "p90", "p99", "mean", "std", "min",
                         "max", "trimmed", "init", "first", "runs", "peak RSS MiB", "bound to", "top-1 agree", "max Δprob"],
                        rows, left=3, row_class=classes))
    notes = sorted({r.rec["affinity"]["note"] for r in run.ok_rows
                    if r.rec["affinity"] and not r.rec["affinity"]["applied"] and r.rec["affinity"]["note"]})
    if notes:
        parts.append(f'<p class="meta">Threads not bound to cores: {_e("; ".join(notes))}</p>')
    unstable = [(r, stability_flags(r)) for r in run.ok_rows if stability_flags(r)]
    if unstable:
        parts.append('<p class="warn">Less trustworthy cells (raise --repeats, add --cooldown, close other apps):</p><ul>'
                     + "".join(f"<li>{_e(r.device)} {_e(r.label())}: {_e('; '.join(f))}</li>" for r, f in unstable)
                     + "</ul>")
    if any(classes):
        parts.append('<p class="warn">Highlighted cells disagree with the host reference (fast but possibly wrong).</p>')

    parts.append("<h2>Plots</h2>")
    parts.extend(_plots(run, changes))

    if run.error_rows:
        parts.append("<h2>Failed cells</h2>")
        parts.append(_table(["device", "cell", "error", "hint"],
                            [[r.device, r.label(), f"{r.rec['error']['type']}: {r.rec['error']['message']}",
                              r.rec["error"]["hint"] or ""] for r in run.error_rows],
                            left=4, row_class=["err"] * len(run.error_rows)))

    if changes is not None:
        parts.append(f"<h2>Change vs {_e(compare_name)}</h2>")
        cls = {"regression": "reg", "improvement": "imp"}
        parts.append(_table(
            ["device", "model", "engine", "threads", "power mode", "old p50", "new p50", "change", "p", "verdict"],
            [[c.device, c.model, c.engine, c.threads, POWER_MODE_NAMES.get(c.power_mode, c.power_mode),
              fmt_ms(c.old_p50), fmt_ms(c.new_p50), f"{c.change:+.1%}" if c.change is not None else "–",
              f"{c.p_value:.1g}" if c.p_value is not None else "–", c.verdict] for c in changes],
            left=3, row_class=[cls.get(c.verdict, "") for c in changes]))
    parts.append("</body></html>\n")
    return "\n".join(parts)
