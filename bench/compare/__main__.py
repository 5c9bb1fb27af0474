"""Vestibule against nginx, side by side: `bash bench/run.sh` runs this.

    python -m compare [--quick] [--rounds N] [--seconds S] [--only KEY,KEY] [--docs]
    python -m compare --from-json target/bench/results.json --docs   # report again

Starts a fixed-response upstream, then for each scenario vestibule and nginx with the
same generated configuration, and measures them alternately, round by round. Writes
raw results and a Markdown report under target/bench/ and, with --docs, the results
section of docs/performance.md and docs/performance.png.
"""

import argparse
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import time

from . import procs, report, servers
from .scenarios import IO_DRIVERS, RUNNERS, SCENARIOS, run_seconds, select

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args():
    p = argparse.ArgumentParser(prog="bench/run.sh", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 1 round, 2 s a scenario")
    p.add_argument("--rounds", type=int, help="A,B rounds per scenario (default 5)")
    p.add_argument("--seconds", type=int, help="wrk run length (default 10)")
    p.add_argument("--idle-conns", type=int, default=10000, help="idle keep-alive clients")
    p.add_argument("--only", help="comma-separated scenario keys, or `tls` for every "
                   "TLS scenario: " + ", ".join(s.key for s in SCENARIOS))
    p.add_argument("--docs", action="store_true",
                   help="write docs/performance.md and .png (default for a full run)")
    p.add_argument("--no-docs", action="store_true", help="never touch docs/")
    p.add_argument("--out", help="raw results and report (default target/bench, "
                   "target/bench/quick with --quick)")
    p.add_argument("--python", default=sys.executable, help="the venv with Gunicorn")
    p.add_argument("--from-json", metavar="FILE",
                   help="measure nothing: redo the report from a results.json (with --docs: docs/)")
    o = p.parse_args()
    o.out = o.out or f"{REPO}/target/bench" + ("/quick" if o.quick else "")
    o.rounds = o.rounds or (1 if o.quick else 5)
    o.seconds = o.seconds or (2 if o.quick else 10)
    o.write_docs = (o.docs or not (o.quick or o.from_json)) and not o.no_docs
    return o


def raise_nofile():
    """10,000 idle clients need their descriptors in this process."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def on_signal(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def measure(opts, chosen):
    """Run the chosen scenarios; returns (meta, results) and saves them as JSON."""
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    raise_nofile()
    started = time.time()
    procs.PID_FILE = os.environ.get("BENCH_PID_FILE", f"{opts.out}/pids")
    open(procs.PID_FILE, "w").close()
    binary = os.environ.get("VESTIBULE_BIN") or f"{REPO}/target/release/vestibule"
    meta = report.machine_and_versions(REPO, binary)
    meta["loadavg_start"] = open("/proc/loadavg").read().split()[:3]
    results = {}
    with tempfile.TemporaryDirectory(prefix="vestibule-bench-") as tmp:
        shutil.rmtree(f"{opts.out}/logs", ignore_errors=True)
        env = servers.Env(REPO, tmp, f"{opts.out}/logs")
        try:
            servers.start_upstream(env)
            app = None
            for sc in chosen:
                if sc.needs_app and app is None:
                    app = servers.start_gunicorn(env, opts.python)
                each = "" if sc.kind == "idle" else f", {run_seconds(sc, opts)} s each"
                print(f"== {sc.key}: {sc.title} ({opts.rounds} round"
                      f"{'s' if opts.rounds > 1 else ''}{each})", flush=True)
                try:
                    results[sc.key] = RUNNERS[sc.kind](sc, env, opts)
                except (RuntimeError, OSError) as e:
                    print(f"  FAILED: {e}", flush=True)
                    results[sc.key] = {"error": str(e)}
                report.print_ratios(sc, results[sc.key])
        finally:
            procs.stop_all()
    meta["loadavg_end"] = open("/proc/loadavg").read().split()[:3]
    meta["wall_seconds"] = round(time.time() - started)
    meta["rounds"], meta["seconds"] = opts.rounds, opts.seconds
    meta["idle_conns"] = opts.idle_conns
    meta["io_driver"] = sorted(IO_DRIVERS)
    meta["command"] = os.environ.get("BENCH_COMMAND", "python -m compare " + " ".join(sys.argv[1:]))
    with open(f"{opts.out}/results.json", "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    print(f"\nsaved {opts.out}/results.json and logs/ (the servers' error logs)")
    return meta, results


def render(opts, chosen, meta, results):
    mds = report.markdown(meta, chosen, results)
    pngs = report.charts(chosen, results, opts.out)
    with open(f"{opts.out}/results.md", "w") as f:
        f.write("\n".join(mds.values()))
    made = [os.path.basename(p) for p in pngs.values() if p]
    print(f"\nwrote {opts.out}/results.md" + (f" and {', '.join(made)}" if made else ""))
    if opts.write_docs:
        report.write_docs(REPO, mds, pngs)
        print("updated docs/performance.md" + "".join(f", docs/{m}" for m in made))


def main():
    opts = parse_args()
    os.makedirs(opts.out, exist_ok=True)
    if opts.from_json:
        with open(opts.from_json) as f:
            saved = json.load(f)
        chosen = [s for s in SCENARIOS if s.key in saved["results"]]
        render(opts, chosen, saved["meta"], saved["results"])
        return
    chosen = select(opts.only)
    if not chosen:
        sys.exit(f"no scenario matches --only {opts.only}")
    meta, results = measure(opts, chosen)
    render(opts, chosen, meta, results)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt as e:
        procs.stop_all()
        sys.exit(f"interrupted ({e}); every process this run started is stopped")
