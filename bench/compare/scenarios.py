"""The scenarios, and how each one is run: both servers, alternately, round by round."""

import dataclasses
from dataclasses import dataclass

from . import load, procs
from .servers import NAMES, Server


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    # "load" (wrk), "idle" (idle keep-alive clients), "reload", or "handshake" (new
    # TLS connections from bench/tls_client)
    kind: str
    path: str
    conns: int
    access_log: bool = False
    needs_app: bool = False
    # The TLS address (configs.tls_servers): "" for plain HTTP, "ecdsa", "rsa", or
    # "ids" (ECDSA, TLS 1.2 session ids, no tickets).
    tls: str = ""
    tls_version: str = "1.3"  # handshake scenarios: the one version the client offers
    resume: bool = False  # handshake scenarios: offer the last session (or a ticket)
    # handshake scenarios: what the client offers. "" as OpenSSL 3.0 clients (X25519;
    # AES-256-GCM-SHA384 first); "browser" as Chrome and Firefox (X25519MLKEM768 first;
    # AES-128-GCM-SHA256 first).
    offer: str = ""
    # The compression scenarios: the client asks for gzip (`--only gzip` runs them).
    gzip: bool = False
    # The HTTP/2 scenarios (`--only h2`): h2load instead of wrk, with this many
    # concurrent streams per connection; `h1` has h2load speak HTTP/1.1 instead (the
    # page-load comparison); `page` cycles through a page and its assets.
    h2_streams: int = 0
    h1: bool = False
    page: bool = False


TLS_PORTS = {"ecdsa": "tls_ecdsa", "rsa": "tls_rsa", "ids": "tls12_ids"}
# Concurrent new connections in the handshake scenarios.
HANDSHAKE_CONNS = 16


IO_DRIVERS = set()  # what vestibule's workers said they use

SCENARIOS = [
    Scenario("proxy-c1", "proxy, keep-alive, 1 connection", "load", "/", 1),
    Scenario("proxy-c50", "proxy, keep-alive, 50 connections", "load", "/", 50),
    Scenario("proxy-params-c50", "proxy with the guide's proxy_params, 50 connections",
             "load", "/params/", 50),
    Scenario("proxy-c200", "proxy, keep-alive, 200 connections", "load", "/", 200),
    Scenario("proxy-c50-log", "proxy, keep-alive, 50 conn., access log on", "load", "/", 50,
             access_log=True),
    Scenario("proxy-fresh-c50", "proxy, new upstream connection per request, 50 conn.",
             "load", "/fresh/", 50),
    Scenario("gunicorn-c10", "Gunicorn + Flask upstream, 10 connections", "load", "/app/", 10,
             needs_app=True),
    Scenario("static-1k", "static 1 KiB, 50 connections", "load", "/static/1k.bin", 50),
    # proxy_cache: a 4 KiB page stored once, then served from the cache's file.
    Scenario("cache-hit-4k", "cached 4 KiB page (proxy_cache HIT), 50 connections", "load",
             "/cached/page", 50),
    Scenario("static-1k-log", "static 1 KiB, 50 conn., access log on", "load",
             "/static/1k.bin", 50, access_log=True),
    Scenario("static-64k", "static 64 KiB, 50 connections", "load", "/static/64k.bin", 50),
    Scenario("static-1m", "static 1 MiB, 10 connections", "load", "/static/1m.bin", 10),
    Scenario("idle-10k", "memory with idle keep-alive connections", "idle", "/", 0),
    Scenario("reload", "requests failed during 10 reloads, 50 conn.", "reload", "/", 50),
    # TLS (`--only tls` runs these): the same upstream and files over HTTPS, and
    # new connections per CPU-second.
    Scenario("tls-proxy-c50", "HTTPS proxy, keep-alive, 50 connections", "load", "/", 50,
             tls="ecdsa"),
    Scenario("tls-static-1m", "HTTPS static 1 MiB, 10 connections", "load", "/static/1m.bin", 10,
             tls="ecdsa"),
    Scenario("tls-full-ecdsa", "TLS 1.3 full handshakes, ECDSA P-256", "handshake", "",
             HANDSHAKE_CONNS, tls="ecdsa"),
    Scenario("tls-full-rsa", "TLS 1.3 full handshakes, RSA-2048", "handshake", "",
             HANDSHAKE_CONNS, tls="rsa"),
    Scenario("tls-full-browser", "TLS 1.3 full handshakes, ECDSA, offered as browsers do",
             "handshake", "", HANDSHAKE_CONNS, tls="ecdsa", offer="browser"),
    Scenario("tls-resume-tickets", "TLS 1.3 resumed with tickets (ECDSA)", "handshake", "",
             HANDSHAKE_CONNS, tls="ecdsa", resume=True),
    # Compression (`--only gzip`): a 64 KiB HTML page compressed per request, at
    # nginx's default level and at the level deployment guides write.
    Scenario("gzip-64k-l1", "gzip 64 KiB HTML, gzip_comp_level 1, 50 connections", "load",
             "/gzip1/64k.html", 50, gzip=True),
    Scenario("gzip-64k-l6", "gzip 64 KiB HTML, gzip_comp_level 6, 50 connections", "load",
             "/gzip6/64k.html", 50, gzip=True),
    Scenario("tls-resume-ids", "TLS 1.2 resumed by session id (ECDSA)", "handshake", "",
             HANDSHAKE_CONNS, tls="ids", tls_version="1.2", resume=True),
    # HTTP/2 (`--only h2`): h2load over TLS, 50 connections × 10 streams.
    Scenario("h2-proxy-c50x10", "HTTP/2 proxy, 50 connections × 10 streams", "load", "/", 50,
             tls="ecdsa", h2_streams=10),
    Scenario("h2-static-1k", "HTTP/2 static 1 KiB, 50 connections × 10 streams", "load",
             "/static/1k.bin", 50, tls="ecdsa", h2_streams=10),
    # A page load: one HTML page and its 30 assets, over one HTTP/2 connection (all
    # streams at once) and over HTTP/1.1 with 6 connections, as browsers open; req/s
    # divided by 31 is pages/s.
    Scenario("page-h2", "page load (HTML + 30 assets), HTTP/2, 1 connection", "load",
             "/static/page/", 1, tls="ecdsa", h2_streams=31, page=True),
    Scenario("page-h1", "page load (HTML + 30 assets), HTTP/1.1, 6 connections", "load",
             "/static/page/", 6, tls="ecdsa", h2_streams=1, h1=True, page=True),
]

# The page-load scenarios' files (configs.write_static_files writes them).
PAGE = ["/static/page/index.html"] + [f"/static/page/asset{i}.css" for i in range(30)]


def select(only):
    """The scenarios `--only` names: keys, or `tls` for every TLS scenario."""
    if not only:
        return list(SCENARIOS)
    names = only.split(",")
    return [s for s in SCENARIOS if s.key in names or ("tls" in names and s.tls
            and not s.h2_streams) or ("gzip" in names and s.gzip)
            or ("h2" in names and s.h2_streams)]


def run_seconds(sc, opts):
    """A reload run is long enough for 10 reloads that nginx completes."""
    return max(opts.seconds, 5) if sc.kind == "reload" else opts.seconds


def _check_alive(server):
    if not server.alive():
        raise RuntimeError(
            f"{server.name} exited during the run (status {server.proc.returncode});"
            f" error log:\n{server.error_log()[-3000:]}")


def _port(server, sc):
    return server.ports[TLS_PORTS[sc.tls]] if sc.tls else server.port


def _wrk(server, sc, seconds):
    if sc.h2_streams:
        uris = PAGE if sc.page else [sc.path]
        return load.h2load(_port(server, sc), uris, sc.conns, sc.h2_streams, seconds, sc.h1)
    return load.wrk(_port(server, sc), sc.path, sc.conns, seconds,
                    "https" if sc.tls else "http",
                    ["Accept-Encoding: gzip"] if sc.gzip else [])


def _measured_wrk(server, sc, seconds):
    """One wrk run with the server's CPU time and peak RSS around it."""
    user0, sys0 = procs.cpu_split(server.pid)
    procs.reset_peak_rss(server.pid)
    machine0 = procs.machine_busy_seconds()
    r = _wrk(server, sc, seconds)
    machine = procs.machine_busy_seconds() - machine0
    user1, sys1 = procs.cpu_split(server.pid)
    cpu = user1 - user0 + sys1 - sys0
    r["user_us_per_req"] = (user1 - user0) * 1e6 / max(r["requests"], 1)
    r["sys_us_per_req"] = (sys1 - sys0) * 1e6 / max(r["requests"], 1)
    r["peak_rss_kib"] = procs.memory_kib(server.pid, "VmHWM")
    _check_alive(server)
    r["cpu_s"] = cpu
    r["cpu_util"] = cpu / r["seconds"]
    r["cpu_us_per_req"] = cpu * 1e6 / max(r["requests"], 1)
    # Both CPUs, wrk and the upstream included: on loopback the receiver's packet
    # processing is charged to whichever CPU sends, so for large files this, not the
    # server's own CPU time, is the fair cost per byte (docs/performance.md).
    r["machine_us_per_req"] = machine * 1e6 / max(r["requests"], 1)
    return r


def _pair(sc, env, tag=None):
    return {n: Server(n, env, sc.access_log, tag or sc.key, tls=bool(sc.tls)) for n in NAMES}


def _stop(servers):
    for s in servers.values():
        s.stop()
        if s.name == "vestibule" and s.io_driver():
            IO_DRIVERS.add(s.io_driver())


def _warm(servers, sc):
    for s in servers.values():
        if sc.kind == "handshake":
            _handshakes(s, sc, 1)
        else:
            _wrk(s, dataclasses.replace(sc, conns=max(sc.conns, 1)), 1)


def run_load(sc, env, opts):
    servers = _pair(sc, env)
    try:
        for s in servers.values():
            s.start()
        _warm(servers, sc)
        runs = {n: [] for n in NAMES}
        for i in range(opts.rounds):
            for n in NAMES:
                runs[n].append(_measured_wrk(servers[n], sc, opts.seconds))
            print(f"  round {i + 1}: " + ", ".join(
                f"{n} {runs[n][-1]['rps']:.0f} req/s {runs[n][-1]['cpu_us_per_req']:.1f} us CPU/req"
                for n in NAMES), flush=True)
        return runs
    finally:
        _stop(servers)


def _idle_once(name, sc, env, opts, i):
    """A fresh server: its idle worker RSS, then RSS with opts.idle_conns clients."""
    server = Server(name, env, sc.access_log, f"{sc.key}-{i}")
    server.start()
    try:
        load.wrk(server.port, sc.path, 1, 1)
        workers = procs.worker_pids(server.pid)
        worker_kib = sum(procs.memory_kib(w, "VmRSS") for w in workers) / max(len(workers), 1)
        before_kib = procs.memory_kib(server.pid, "VmRSS")
        opened, failures, with_kib = load.idle_clients(
            server.port, sc.path, opts.idle_conns,
            lambda: procs.memory_kib(server.pid, "VmRSS"))
        _check_alive(server)
        return {
            "worker_idle_kib": worker_kib,
            "total_idle_kib": before_kib,
            "total_with_conns_kib": with_kib,
            "conns_open": opened,
            "conns_failed": len(failures),
            "failures_sample": [str(f) for f in failures[:5]],
        }
    finally:
        _stop({name: server})


def run_idle(sc, env, opts):
    runs = {n: [] for n in NAMES}
    for i in range(opts.rounds):
        for n in NAMES:
            runs[n].append(_idle_once(n, sc, env, opts, i))
        print(f"  round {i + 1}: " + ", ".join(
            f"{n} {runs[n][-1]['total_with_conns_kib'] / 1024:.1f} MiB with "
            f"{runs[n][-1]['conns_open']} idle" for n in NAMES), flush=True)
    return runs


def run_reload(sc, env, opts):
    servers = _pair(sc, env)
    seconds = run_seconds(sc, opts)
    try:
        for s in servers.values():
            s.start()
        _warm(servers, sc)
        runs = {n: [] for n in NAMES}
        for i in range(opts.rounds):
            for n in NAMES:
                s = servers[n]
                r = load.reload_under_load(s.port, sc.path, sc.conns, seconds, s.pid, 10)
                _check_alive(s)
                runs[n].append(r)
            print(f"  round {i + 1}: " + ", ".join(
                f"{n} {runs[n][-1]['non_2xx']} non-2xx {runs[n][-1]['socket_errors']} socket errors"
                f" in {runs[n][-1]['requests']} requests" for n in NAMES), flush=True)
        return runs
    finally:
        _stop(servers)


def _handshakes(server, sc, seconds):
    env = server.env
    certs = env.certs()
    return load.handshakes(env.tls_client, _port(server, sc),
                           [certs["ecdsa_ca"], certs["rsa_ca"]], sc.conns, seconds,
                           sc.tls_version, sc.resume, sc.offer == "browser")


def _measured_handshakes(server, sc, seconds):
    """One run of new TLS connections with the server's CPU time around it."""
    user0, sys0 = procs.cpu_split(server.pid)
    machine0 = procs.machine_busy_seconds()
    r = _handshakes(server, sc, seconds)
    machine = procs.machine_busy_seconds() - machine0
    user1, sys1 = procs.cpu_split(server.pid)
    cpu = user1 - user0 + sys1 - sys0
    _check_alive(server)
    n = max(r["handshakes"], 1)
    r["user_us_per_req"] = (user1 - user0) * 1e6 / n
    r["sys_us_per_req"] = (sys1 - sys0) * 1e6 / n
    r["cpu_s"] = cpu
    r["cpu_util"] = cpu / r["seconds"]
    r["hs_per_cpu_s"] = r["handshakes"] / cpu if cpu > 0 else None
    r["cpu_us_per_hs"] = cpu * 1e6 / n
    r["machine_us_per_hs"] = machine * 1e6 / n
    r["resumed_share"] = r["resumed"] / n
    return r


def run_handshakes(sc, env, opts):
    servers = _pair(sc, env)
    try:
        for s in servers.values():
            s.start()
        _warm(servers, sc)
        runs = {n: [] for n in NAMES}
        for i in range(opts.rounds):
            for n in NAMES:
                runs[n].append(_measured_handshakes(servers[n], sc, opts.seconds))
            print(f"  round {i + 1}: " + ", ".join(
                f"{n} {runs[n][-1]['rate']:.0f} handshakes/s "
                f"{runs[n][-1]['cpu_us_per_hs']:.1f} us CPU each, "
                f"{runs[n][-1]['resumed_share'] * 100:.0f} % resumed, "
                f"{runs[n][-1]['failed']} failed" for n in NAMES), flush=True)
        return runs
    finally:
        _stop(servers)


RUNNERS = {"load": run_load, "idle": run_idle, "reload": run_reload,
           "handshake": run_handshakes}
