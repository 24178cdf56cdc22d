"""Markdown report: short enough for a PR comment, complete enough to act on."""

from __future__ import annotations

from typing import Any, Sequence

from .compare import Change
from .table import POWER_MODE_NAMES, Run, accuracy_flag, speedups, stability_flags

__all__ = ["render_markdown", "fmt_ms", "bound_text"]


def fmt_ms(v: float | None) -> str:
    if v is None:
        return "–"
    digits = 3 if abs(v) < 1 else 2 if abs(v) < 10 else 1 if abs(v) < 100 else 0
    return f"{v:.{digits}f}"


def _cell(v: Any) -> str:
    return str(v).replace("|", "\\|").replace("\n", " ")


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return lines


def _clusters(dev: dict[str, Any]) -> str:
    parts = []
    for c in dev["cpu_clusters"]:
        freq = f" @ {c['max_freq_khz'] / 1e6:.2f} GHz" if c.get("max_freq_khz") else ""
        parts.append(f"{c['name']} {len(c['cores'])}×{freq}")
    return ", ".join(parts) or "–"


def bound_text(aff: dict[str, Any] | None) -> str:
    """Where the threads ran: the cores, or why they were not bound (e.g. qemu-user cannot pin)."""
    if not aff:
        return "–"
    if not aff["applied"]:
        return "not bound" + (f" ({aff['note']})" if aff.get("note") else "")
    return ",".join(map(str, aff["cores"])) + (f" ({'/'.join(aff['clusters'])})" if aff["clusters"] else "")


def _env_line(run: Run) -> str:
    first = run.rows[0].rec
    ed = first["edgeclas"]
    commit = (ed["git_commit"] or "unknown")[:10] + (" (dirty)" if ed["git_dirty"] else "")
    return f"edgeclas {ed['version']} @ {commit}"


def render_markdown(run: Run, changes: list[Change] | None = None, compare_name: str | None = None) -> str:
    n_ok, n_err = len(run.ok_rows), len(run.error_rows)
    out = [
        f"## edgeclas bench: `{run.path.name}`",
        "",
        f"{len(run.rows)} cell(s): {n_ok} ok, {n_err} failed · {_env_line(run)}",
        "",
    ]
    if changes is not None:
        regressions = [c for c in changes if c.verdict == "regression"]
        out += [f"**{len(regressions)} regression(s) beyond noise** vs `{compare_name}`" if regressions
                else f"No regression beyond noise vs `{compare_name}`.", ""]

    if run.torn:
        out += [f"⚠ {run.torn}. `edgeclas bench --resume` sets them aside and runs those cells again.", ""]
    out += ["### Devices", ""]
    out += _table(
        ["device", "serial", "SoC", "ABI", "Android", "kernel", "CPU clusters"],
        [[d["model"] or "–", d["serial"], d["soc"] or "–", d["abi"] or "–", d["android_version"] or "–",
          d["kernel"] or "–", _clusters(d)] for d in run.devices()],
    )
    builds = {(r.rec["build"]["engine"], r.rec["build"]["engine_version"], r.rec["build"]["compiler"])
              for r in run.rows}
    out += ["", "Builds: " + "; ".join(f"{e} {v or '?'} ({c or 'compiler unknown'})" for e, v, c in sorted(builds, key=str))]

    out += ["", "### Latency (ms, lower is better)", ""]
    rows = []
    for r in run.ok_rows:
        lat, acc = r.lat, r.rec["accuracy"]
        assert lat is not None
        std = f" ± {fmt_ms(lat['std'])}" if lat["std"] is not None else ""
        rss = r.rec["peak_rss_kb"]
        aff = r.rec["affinity"]
        acc_s = "–" if not acc else f"{acc['top1_agreement']:.0%} / {acc['max_abs_dprob']:.1e}"
        rows.append([
            r.device, r.model, r.engine, r.threads, POWER_MODE_NAMES.get(r.power_mode, r.power_mode),
            fmt_ms(r.p50), fmt_ms(lat["p90"]), fmt_ms(lat["p99"]), fmt_ms(lat["mean"]) + std, fmt_ms(lat["min"]),
            fmt_ms(lat["trimmed_mean"]), fmt_ms(lat["init"]), fmt_ms(lat["first"]),
            f"{rss / 1024:.1f} MiB" if rss else "–",
            bound_text(aff),
            ("⚠ " if accuracy_flag(r) else "") + acc_s,
        ])
    out += _table(["device", "model", "engine", "threads", "power mode", "p50", "p90", "p99", "mean ± std", "min",
                   "trimmed", "init", "first", "peak RSS", "bound to", "top-1 agree / max Δprob"], rows)
    flagged = [r for r in run.ok_rows if accuracy_flag(r)]
    if flagged:
        out += ["", f"⚠ {len(flagged)} cell(s) disagree with the host reference: fast but possibly wrong."]
    unstable = [(r, stability_flags(r)) for r in run.ok_rows if stability_flags(r)]
    if unstable:
        out += ["", "Less trustworthy cells (raise --repeats, add --cooldown, close other apps):", ""]
        out += [f"- {r.device} {r.label()}: {'; '.join(f)}" for r, f in unstable]

    sp = speedups(run)
    if any(len(v) > 1 for v in sp.values()):
        out += ["", "### Speed-up vs threads (p50 of the fewest threads / p50)", ""]
        rows = [[dev, model, engine, POWER_MODE_NAMES.get(pm, pm),
                 ", ".join(f"{t}: {s:.2f}×" for t, _, s in pts)]
                for (dev, model, engine, pm), pts in sp.items() if len(pts) > 1]
        out += _table(["device", "model", "engine", "power mode", "threads: speed-up"], rows)

    if run.error_rows:
        out += ["", "### Failed cells", ""]
        out += _table(["device", "cell", "error", "hint"],
                      [[r.device, r.label(), f"{r.rec['error']['type']}: {r.rec['error']['message']}",
                        r.rec["error"]["hint"] or ""] for r in run.error_rows])

    if changes is not None:
        out += ["", f"### Change vs `{compare_name}` (p50)", ""]
        marks = {"regression": "🔴 regression", "improvement": "🟢 improvement"}
        out += _table(
            ["device", "model", "engine", "threads", "power mode", "old", "new", "change", "p", "verdict"],
            [[c.device, c.model, c.engine, c.threads, POWER_MODE_NAMES.get(c.power_mode, c.power_mode),
              fmt_ms(c.old_p50), fmt_ms(c.new_p50), f"{c.change:+.1%}" if c.change is not None else "–",
              f"{c.p_value:.1g}" if c.p_value is not None else "–", marks.get(c.verdict, c.verdict)]
             for c in changes],
        )
    out.append("")
    return "\n".join(out)
