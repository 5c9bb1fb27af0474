"""Ratios (vestibule / nginx, paired by round), the Markdown report and the chart."""

import datetime
import os
import re
import statistics
import subprocess

START = "<!-- bench:results:start -->"
END = "<!-- bench:results:end -->"
# The TLS scenarios have their own section and chart in docs/performance.md.
TLS_START = "<!-- bench:tls:start -->"
TLS_END = "<!-- bench:tls:end -->"
# And the compression scenarios.
GZIP_START = "<!-- bench:gzip:start -->"
GZIP_END = "<!-- bench:gzip:end -->"
H2_START = "<!-- bench:h2:start -->"
H2_END = "<!-- bench:h2:end -->"

# (metric, label, better when the ratio is lower)
METRICS = [
    ("rps", "req/s", False),
    ("p50_us", "p50", True),
    ("p99_us", "p99", True),
    ("cpu_us_per_req", "CPU / request", True),
    ("machine_us_per_req", "machine CPU / request", True),
    ("peak_rss_kib", "peak RSS", True),
]
# The same for the handshake scenarios (bench/tls_client).
HS_METRICS = [
    ("hs_per_cpu_s", "handshakes per server CPU-second", False),
    ("rate", "handshakes/s", False),
    ("cpu_us_per_hs", "CPU / handshake", True),
    ("machine_us_per_hs", "machine CPU / handshake", True),
]
LABELS = {m: label for m, label, _ in METRICS + HS_METRICS}

# The targets of issue 7 on the median ratio: (metric, "<=" or ">=", bound).
TARGETS = {
    "proxy-c50": [("cpu_us_per_req", "<=", 0.67), ("rps", ">=", 1.0), ("p99_us", "<=", 1.0)],
    "proxy-c200": [("cpu_us_per_req", "<=", 0.67), ("rps", ">=", 1.0), ("p99_us", "<=", 1.0)],
    "static-1k": [("cpu_us_per_req", "<=", 0.8)],
    # The cache issue's: at least nginx's requests per CPU-second on a HIT.
    "cache-hit-4k": [("cpu_us_per_req", "<=", 1.0)],
    # Same bytes per request, so CPU per byte has the ratio of CPU per request. On
    # loopback the server's own CPU time includes the client's receive processing
    # whenever the server's send delivers the packets (docs/performance.md), so the
    # fair figure is the whole machine's.
    "static-1m": [("rps", ">=", 1.0), ("machine_us_per_req", "<=", 1.0)],
    # The TLS issue's targets.
    "tls-proxy-c50": [("cpu_us_per_req", "<=", 0.8)],
    # The HTTP/2 issue's targets.
    "h2-proxy-c50x10": [("cpu_us_per_req", "<=", 0.8)],
    "h2-static-1k": [("cpu_us_per_req", "<=", 0.8)],
    "tls-full-ecdsa": [("hs_per_cpu_s", ">=", 1.5)],
    "tls-full-rsa": [("hs_per_cpu_s", ">=", 1.5)],
    "tls-resume-tickets": [("hs_per_cpu_s", ">=", 1.5)],
    "tls-resume-ids": [("hs_per_cpu_s", ">=", 1.5)],
}
# A resumption scenario measures nothing unless (nearly) every handshake resumed.
MIN_RESUMED_SHARE = 0.99
IDLE_TOTAL_TARGET_MIB = 64


def _cmd(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        return (out.stdout + out.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def machine_and_versions(repo, vestibule):
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_gib = int(f.readline().split()[1]) / 2**20
    commit = _cmd(["git", "-C", repo, "rev-parse", "--short", "HEAD"])
    dirty = _cmd(["git", "-C", repo, "status", "--porcelain", "--", "src", "Cargo.toml", "Cargo.lock"])
    return {
        "date": datetime.date.today().isoformat(),
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "kernel": os.uname().release,
        "memory_gib": round(mem_gib),
        "nginx": _cmd(["nginx", "-v"]).replace("nginx version: ", ""),
        "wrk": _cmd(["wrk", "-v"]).splitlines()[0].split(" [")[0],
        "vestibule": _cmd([vestibule, "-v"]).replace("vestibule version: ", ""),
        "commit": commit + (" (with uncommitted changes to src/)" if dirty else ""),
    }


def ratios(runs, metric):
    """vestibule / nginx per round: (min, median, max), or None."""
    pairs = [(v.get(metric), n.get(metric)) for v, n in zip(runs["vestibule"], runs["nginx"])]
    rs = [v / n for v, n in pairs if v is not None and n]
    if not rs:
        return None
    return min(rs), statistics.median(rs), max(rs)


def median(runs, name, metric):
    xs = [r[metric] for r in runs[name] if metric in r]
    return statistics.median(xs) if xs else None


def _fmt_ratio(r):
    return "–" if r is None else f"**{r[1]:.2f}** ({r[0]:.2f}–{r[2]:.2f})"


def _target_text(key, runs):
    checks = TARGETS.get(key)
    if not checks:
        return ""
    parts, met = [], True
    for metric, op, bound in checks:
        r = ratios(runs, metric)
        ok = r is not None and (r[1] <= bound if op == "<=" else r[1] >= bound)
        met &= ok
        parts.append(f"{LABELS[metric]} {op} {bound:g}" + ("" if ok else " ✗"))
    resumed = _resumed_text(runs)
    if resumed:
        return f"measured nothing: {resumed}"
    return ("met: " if met else "not met: ") + ", ".join(parts)


def _resumed_text(runs):
    """Why a resumption run does not count, or ""."""
    low = {n: min((r.get("resumed_share", 1) for r in runs[n]), default=1)
           for n in ("vestibule", "nginx")}
    wanted = any(r.get("resumed", 0) for n in low for r in runs[n])
    bad = [f"{n} resumed only {v * 100:.0f} %" for n, v in low.items()
           if wanted and v < MIN_RESUMED_SHARE]
    return ", ".join(bad)


def print_ratios(sc, runs):
    if "error" in runs:
        return
    if sc.kind == "load":
        print("  vestibule/nginx median (min–max): " + "; ".join(
            f"{label} {_fmt_ratio(ratios(runs, m)).replace('**', '')}" for m, label, _ in METRICS))
        if sc.key in TARGETS:
            print("  target " + _target_text(sc.key, runs))
    elif sc.kind == "handshake":
        print("  vestibule/nginx median (min–max): " + "; ".join(
            f"{label} {_fmt_ratio(ratios(runs, m)).replace('**', '')}" for m, label, _ in HS_METRICS))
        if sc.key in TARGETS:
            print("  target " + _target_text(sc.key, runs))
    elif sc.kind == "idle":
        for n in ("vestibule", "nginx"):
            print(f"  {n}: worker at rest {median(runs, n, 'worker_idle_kib') / 1024:.1f} MiB, "
                  f"total with idle clients {median(runs, n, 'total_with_conns_kib') / 1024:.1f} MiB")
    else:
        for n in ("vestibule", "nginx"):
            print(f"  {n}: {sum(r['non_2xx'] for r in runs[n])} non-2xx, "
                  f"{sum(r['socket_errors'] for r in runs[n])} socket errors, "
                  f"{sum(r['requests'] for r in runs[n])} requests, "
                  f"{sum(r['reloads_sent'] for r in runs[n])} reloads")


def _load_tables(scs, results):
    rows = ["| scenario | " + " | ".join(l for _, l, _ in METRICS) + " | target |",
            "|---|" + "---|" * (len(METRICS) + 1)]
    abs_rows = ["| scenario | req/s v / n | CPU µs per request v / n | machine CPU µs per request v / n "
                "| server CPU busy v / n | MiB/s v / n | errors v / n |", "|---|---|---|---|---|---|---|"]
    for sc in scs:
        runs = results.get(sc.key)
        if sc.kind != "load" or runs is None:
            continue
        if "error" in runs:
            rows.append(f"| {sc.title} | failed: {runs['error'].splitlines()[0]} |")
            continue
        rows.append(f"| {sc.title} | " + " | ".join(
            _fmt_ratio(ratios(runs, m)) for m, _, _ in METRICS) + f" | {_target_text(sc.key, runs)} |")

        def pair(metric, fmt, scale=1.0):
            v, n = median(runs, "vestibule", metric), median(runs, "nginx", metric)
            return f"{fmt.format(v * scale)} / {fmt.format(n * scale)}"

        for r in runs["vestibule"] + runs["nginx"]:
            r["mib_s"] = r["bytes"] / r["seconds"] / 2**20
            r["errors"] = r["non_2xx"] + r["socket_errors"]
        errs = [sum(r["errors"] for r in runs[n]) for n in ("vestibule", "nginx")]
        abs_rows.append(f"| {sc.title} | {pair('rps', '{:.0f}')} | {pair('cpu_us_per_req', '{:.1f}')} "
                        f"| {pair('machine_us_per_req', '{:.1f}')} | {pair('cpu_util', '{:.0f} %', 100)} | {pair('mib_s', '{:.0f}')} "
                        f"| {errs[0]} / {errs[1]} |")
    return "\n".join(rows), "\n".join(abs_rows)


def _idle_table(runs, conns):
    if runs is None:
        return ""
    if "error" in runs:
        return f"Idle connections: failed: {runs['error'].splitlines()[0]}\n"

    def row(label, metric, scale=1 / 1024, fmt="{:.1f}"):
        v, n = median(runs, "vestibule", metric), median(runs, "nginx", metric)
        ratio = f"{v / n:.2f}" if n else "–"
        return f"| {label} | {fmt.format(v * scale)} | {fmt.format(n * scale)} | {ratio} |"

    total = median(runs, "vestibule", "total_with_conns_kib") / 1024
    verdict = "met" if total < IDLE_TOTAL_TARGET_MIB else "not met"
    return "\n".join([
        "| memory (RSS, MiB, median) | vestibule | nginx | ratio |", "|---|---|---|---|",
        row("one worker at rest", "worker_idle_kib"),
        row("master + worker at rest", "total_idle_kib"),
        row(f"master + worker with {conns:,} idle keep-alive clients", "total_with_conns_kib"),
        row("clients held open", "conns_open", 1, "{:.0f}"),
        "",
        f"Target: {conns:,} idle keep-alive connections in less than {IDLE_TOTAL_TARGET_MIB} MiB "
        f"total: {verdict} ({total:.1f} MiB). Idle memory per worker ≤ nginx's: "
        + ("met" if median(runs, "vestibule", "worker_idle_kib") <= median(runs, "nginx", "worker_idle_kib")
           else "not met") + ".", ""])


def _reload_table(runs):
    if runs is None:
        return ""
    if "error" in runs:
        return f"Reloads: failed: {runs['error'].splitlines()[0]}\n"
    lines = ["| 10 reloads (SIGHUP) under load, summed over the rounds | vestibule | nginx |",
             "|---|---|---|"]
    for label, key in (("reloads sent", "reloads_sent"), ("requests answered", "requests"),
                       ("non-2xx responses", "non_2xx"), ("socket errors (connect, read, write, timeout)", "socket_errors")):
        lines.append(f"| {label} | {sum(r[key] for r in runs['vestibule'])} | {sum(r[key] for r in runs['nginx'])} |")
    return "\n".join(lines) + "\n"


def _handshake_tables(scs, results):
    rows = ["| scenario | " + " | ".join(l for _, l, _ in HS_METRICS) + " | target |",
            "|---|" + "---|" * (len(HS_METRICS) + 1)]
    abs_rows = ["| scenario | handshakes per CPU-second v / n | CPU µs per handshake v / n "
                "| handshakes/s v / n | server CPU busy v / n | resumed v / n | failed v / n "
                "| negotiated |", "|---|---|---|---|---|---|---|---|"]
    for sc in scs:
        runs = results.get(sc.key)
        if sc.kind != "handshake" or runs is None:
            continue
        if "error" in runs:
            rows.append(f"| {sc.title} | failed: {runs['error'].splitlines()[0]} |")
            continue
        rows.append(f"| {sc.title} | " + " | ".join(
            _fmt_ratio(ratios(runs, m)) for m, _, _ in HS_METRICS) + f" | {_target_text(sc.key, runs)} |")

        def pair(metric, fmt, scale=1.0):
            v, n = median(runs, "vestibule", metric), median(runs, "nginx", metric)
            return f"{fmt.format(v * scale)} / {fmt.format(n * scale)}"

        failed = [sum(r["failed"] for r in runs[n]) for n in ("vestibule", "nginx")]
        settled = {n: " ".join(runs[n][-1].get(k, "") for k in ("version", "suite", "group"))
                   for n in ("vestibule", "nginx")}
        negotiated = (settled["vestibule"] if settled["vestibule"] == settled["nginx"]
                      else f"v: {settled['vestibule']}; n: {settled['nginx']}")
        abs_rows.append(
            f"| {sc.title} | {pair('hs_per_cpu_s', '{:.0f}')} | {pair('cpu_us_per_hs', '{:.0f}')} "
            f"| {pair('rate', '{:.0f}')} | {pair('cpu_util', '{:.0f} %', 100)} "
            f"| {pair('resumed_share', '{:.0f} %', 100)} | {failed[0]} / {failed[1]} "
            f"| {negotiated.replace('Some(', '').replace(')', '')} |")
    return "\n".join(rows), "\n".join(abs_rows)


def is_h2(sc):
    return bool(getattr(sc, "h2_streams", 0))


def is_tls(sc):
    """The TLS section's scenarios (the HTTP/2 ones, also over TLS, have their own)."""
    return bool(getattr(sc, "tls", "")) and not is_h2(sc)


def is_gzip(sc):
    return bool(getattr(sc, "gzip", False))


def _gzip_markdown(meta, scs, results):
    ratio_table, abs_table = _load_tables(scs, results)
    m = meta
    return f"""{GZIP_START}
### Compression results of {m['date']}: {m['rounds']} rounds, {m['seconds']} s per run

{_header(m)}

Ratios are vestibule / nginx, **median** (min–max) over the rounds:

{ratio_table}

Medians, vestibule / nginx:

{abs_table}
{GZIP_END}
"""


def _h2_markdown(meta, scs, results):
    ratio_table, abs_table = _load_tables(scs, results)
    m = meta
    pages = []
    for n in ("vestibule", "nginx"):
        h2, h1 = results.get("page-h2"), results.get("page-h1")
        if h2 and h1 and "error" not in h2 and "error" not in h1:
            p2, p1 = median(h2, n, "rps") / 31, median(h1, n, "rps") / 31
            pages.append(f"- {n}: {p2:.0f} pages/s over one HTTP/2 connection, {p1:.0f} over "
                         f"six HTTP/1.1 connections ({p2 / p1:.2f}×)")
    page_text = ("\n\nA page (HTML and 30 assets), pages per second:\n\n" + "\n".join(pages)) if pages else ""
    return f"""{H2_START}
### HTTP/2 results of {m['date']}: {m['rounds']} rounds, {m['seconds']} s per run

{_header(m)}

Ratios are vestibule / nginx, **median** (min–max) over the rounds:

{ratio_table}

Medians, vestibule / nginx:

{abs_table}{page_text}
{H2_END}
"""


def _header(m):
    return f"""- Machine: {m['nproc']} × {m['cpu_model']}, {m['memory_gib']} GiB, Linux {m['kernel']}.
  Load average (1, 5, 15 min) {' '.join(m['loadavg_start'])} at the start,
  {' '.join(m['loadavg_end'])} at the end: above 1, other programs ran during the run.
- Versions: vestibule {m['vestibule']}, commit {m['commit']}, io driver
  {', '.join(m.get('io_driver', [])) or '?'}; nginx {m['nginx']}; {m['wrk']}.
- Command: `{m.get('command', 'bash bench/run.sh')}`, {m['wall_seconds']} s."""


def markdown(meta, scs, results):
    """The results sections for the scenarios that ran: {"results": md, "tls": md},
    each only when one of its scenarios is in `results`."""
    out = {}
    plain = [sc for sc in scs if not is_tls(sc) and not is_gzip(sc) and not is_h2(sc)
             and sc.key in results]
    tls = [sc for sc in scs if is_tls(sc) and sc.key in results]
    gzip = [sc for sc in scs if is_gzip(sc) and sc.key in results]
    h2 = [sc for sc in scs if is_h2(sc) and sc.key in results]
    if plain:
        out["results"] = _plain_markdown(meta, plain, results)
    if gzip:
        out["gzip"] = _gzip_markdown(meta, gzip, results)
    if h2:
        out["h2"] = _h2_markdown(meta, h2, results)
    if tls:
        out["tls"] = _tls_markdown(meta, tls, results)
    return out


def _tls_markdown(meta, scs, results):
    m = meta
    ratio_table, abs_table = _load_tables(scs, results)
    hs_ratio, hs_abs = _handshake_tables(scs, results)
    load = any(sc.kind == "load" for sc in scs)
    hs = any(sc.kind == "handshake" for sc in scs)
    parts = [f"""{TLS_START}
### TLS results of {m['date']}: {m['rounds']} rounds, {m['seconds']} s per run

{_header(m)}

Ratios are vestibule / nginx, **median** (min–max) over the rounds."""]
    if load:
        parts.append(f"""HTTPS under wrk (below 1 means vestibule used less, or served less):

{ratio_table}

{abs_table}""")
    if hs:
        parts.append(f"""New connections (above 1 means vestibule made more handshakes per CPU-second):

{hs_ratio}

Medians, vestibule / nginx (server CPU busy: the server's CPU time over the run's
length; "negotiated" is what the client settled in the last round, version, suite
and key exchange group, "none" for a TLS 1.2 resumption):

{hs_abs}""")
    split = ["| scenario | vestibule: user + kernel µs | nginx: user + kernel µs | user ratio | kernel ratio |",
             "|---|---|---|---|---|"]
    for sc in scs:
        runs = results.get(sc.key)
        if not runs or "error" in runs:
            continue
        u = {n: median(runs, n, "user_us_per_req") for n in ("vestibule", "nginx")}
        k = {n: median(runs, n, "sys_us_per_req") for n in ("vestibule", "nginx")}
        if None in u.values() or None in k.values():
            continue
        split.append(f"| {sc.title} | {u['vestibule']:.1f} + {k['vestibule']:.1f} "
                     f"| {u['nginx']:.1f} + {k['nginx']:.1f} "
                     f"| {_fmt_ratio(ratios(runs, 'user_us_per_req'))} "
                     f"| {_fmt_ratio(ratios(runs, 'sys_us_per_req'))} |")
    parts.append("Where the server's CPU went, per request or handshake (`utime` and `stime` "
                 "from /proc, medians; ratios per round):\n\n" + "\n".join(split))
    parts.append(f"""![vestibule / nginx over TLS](performance-tls.png)
{TLS_END}
""")
    return "\n\n".join(parts)


def _plain_markdown(meta, scs, results):
    ratio_table, abs_table = _load_tables(scs, results)
    m = meta
    return f"""{START}
### Results of {m['date']}: {m['rounds']} rounds, {m['seconds']} s per run

{_header(m)}

Ratios are vestibule / nginx, **median** (min–max) over the rounds; below 1 means
vestibule used less (or, for req/s, served less).

{ratio_table}

Medians, vestibule / nginx (server CPU busy: the server's CPU time over the run's
length; near 100 % means CPU 0 was the limit):

{abs_table}

{_idle_table(results.get('idle-10k'), m['idle_conns'])}
{_reload_table(results.get('reload'))}
![vestibule / nginx per scenario](performance.png)
{END}
"""


# Per kind: (CPU per unit of work, work per second) metrics for the chart.
CHART_METRICS = {"load": ("cpu_us_per_req", "rps"), "handshake": ("cpu_us_per_hs", "rate")}


def charts(scs, results, out_dir):
    """{"results": png, "tls": png} for the sections that have scenarios."""
    out = {}
    plain = [sc for sc in scs if not is_tls(sc) and not is_gzip(sc) and not is_h2(sc)]
    tls = [sc for sc in scs if is_tls(sc)]
    h2 = [sc for sc in scs if is_h2(sc)]
    if any(sc.key in results for sc in h2):
        out["h2"] = chart(h2, results, f"{out_dir}/performance-h2.png")
    if any(sc.key in results for sc in plain):
        out["results"] = chart(plain, results, f"{out_dir}/performance.png")
    if any(sc.key in results for sc in tls):
        out["tls"] = chart(tls, results, f"{out_dir}/performance-tls.png", tls=True)
    return out


def chart(scs, results, path, tls=False):
    """Bars of the CPU/request and req/s ratios per load scenario (with `tls`, also
    CPU/handshake and handshakes/s per handshake scenario). None without
    matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is missing: no chart")
        return None
    rows = [(sc.key, results[sc.key], sc.kind) for sc in scs
            if sc.kind in CHART_METRICS and sc.key in results and "error" not in results[sc.key]]
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(8, 4.4) if tls else (11, 4.8), dpi=100)
    width = 0.38
    labels = (("CPU per request (handshake)", "requests (handshakes) per second") if tls
              else ("CPU per request", "requests per second"))
    for j, (label, color) in enumerate(zip(labels, ("#4c72b0", "#dd8452"))):
        meds, lo, hi = [], [], []
        for _, runs, kind in rows:
            r = ratios(runs, CHART_METRICS[kind][j]) or (0, 0, 0)
            meds.append(r[1])
            lo.append(r[1] - r[0])
            hi.append(r[2] - r[1])
        xs = [i + (j - 0.5) * width for i in range(len(rows))]
        ax.bar(xs, meds, width, yerr=[lo, hi], capsize=3, label=label, color=color)
    label = ("CPU target (per handshake: 1 / 1.5 of nginx's)" if tls
             else "CPU per request target")
    for i, (key, _, _) in enumerate(rows):  # the CPU targets, over their bars
        for metric, op, bound in TARGETS.get(key, []):
            if metric == "hs_per_cpu_s" and op == ">=":
                metric, bound = "cpu_us_per_req", 1 / bound  # as CPU per handshake
            if metric == "cpu_us_per_req" and bound < 1:
                ax.hlines(bound, i - width, i, colors="#c44e52", linestyles="dashed", linewidth=2,
                          zorder=3, label=label)
                label = None
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(rows)), [k for k, _, _ in rows], rotation=25, ha="right")
    ax.set_ylabel("vestibule / nginx (median, min–max)")
    ax.set_title("vestibule relative to nginx over TLS: below 1 = less CPU per request or handshake"
                 if tls else
                 "vestibule relative to nginx: below 1 = less CPU per request / fewer requests")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


MARKERS = {"results": (START, END), "tls": (TLS_START, TLS_END),
           "gzip": (GZIP_START, GZIP_END), "h2": (H2_START, H2_END)}
DOC_PNG = {"results": "performance.png", "tls": "performance-tls.png",
           "h2": "performance-h2.png"}


def write_docs(repo, mds, pngs):
    """Replaces each section of docs/performance.md that ran, and its chart."""
    doc = f"{repo}/docs/performance.md"
    with open(doc) as f:
        text = f.read()
    for section, md in mds.items():
        start, end = MARKERS[section]
        if start not in text or end not in text:
            raise RuntimeError(f"{doc} has no {start} ... {end} section to replace")
        text = re.sub(re.escape(start) + ".*?" + re.escape(end) + "\n?", lambda _: md, text,
                      flags=re.S)
        png = pngs.get(section)
        if png:
            with open(png, "rb") as src, open(f"{repo}/docs/{DOC_PNG[section]}", "wb") as dst:
                dst.write(src.read())
    with open(doc, "w") as f:
        f.write(text)
