"""Load: wrk runs, idle keep-alive clients, and a load while the server reloads.

Every loop here is bounded in time and in count; every target is 127.0.0.1.
"""

import asyncio
import json
import os
import signal
import subprocess
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LOAD_CPU = 1  # wrk and the upstreams; the server under test has CPU 0


def wrk(port, path, conns, seconds, scheme="http", headers=()):
    """One wrk run (one thread, pinned to LOAD_CPU). Returns the numbers wrk's
    `done` callback printed (wrk_report.lua), with rps and errors added. With
    `scheme="https"` wrk speaks TLS through its OpenSSL (no certificate check)."""
    argv = [
        "taskset", "-c", str(LOAD_CPU), "wrk", "-t1", f"-c{conns}", f"-d{seconds}s",
        "--timeout", "5s", "-s", f"{HERE}/wrk_report.lua",
        *[a for h in headers for a in ("-H", h)],
        f"{scheme}://127.0.0.1:{port}{path}",
    ]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH-JSON "):
            r = json.loads(line[len("BENCH-JSON "):])
            r["seconds"] = r["duration_us"] / 1e6
            r["rps"] = r["requests"] / r["seconds"]
            r["socket_errors"] = r["connect"] + r["read"] + r["write"] + r["timeout"]
            r["non_2xx"] = r["status"]
            return r
    raise RuntimeError(f"wrk printed no result (exit {out.returncode}): {out.stderr.strip()}")


def h2load(port, uris, conns, streams, seconds, h1=False):
    """One h2load run (nghttp2-client, pinned to LOAD_CPU) over TLS: `conns`
    connections with `streams` concurrent streams each (HTTP/2), or with `h1` as many
    HTTP/1.1 connections, cycling through `uris` (paths) for `seconds`. Returns what
    `wrk` returns: requests, seconds, bytes, rps, p50_us and p99_us (from h2load's
    per-request log), non_2xx and socket_errors."""
    import tempfile
    with tempfile.TemporaryDirectory(prefix="h2load-") as tmp:
        listing, log = f"{tmp}/uris", f"{tmp}/requests.log"
        with open(listing, "w") as f:
            f.write("".join(f"https://127.0.0.1:{port}{u}\n" for u in uris))
        argv = ["taskset", "-c", str(LOAD_CPU), "h2load", "-c", str(conns),
                "-m", str(1 if h1 else streams), "-D", str(seconds), "--warm-up-time", "1",
                "-i", listing, f"--log-file={log}", *(["--h1"] if h1 else [])]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
        text = out.stdout
        r = {"requests": 0, "bytes": 0, "seconds": float(seconds), "non_2xx": 0,
             "socket_errors": 0}
        for line in text.splitlines():
            words = line.replace(",", " ").split()
            if line.startswith("finished in"):
                r["seconds"] = float(words[2].rstrip("s"))
            elif line.startswith("requests:"):
                r["requests"] = int(words[words.index("succeeded") - 1])
                r["socket_errors"] = int(words[words.index("errored") - 1]) + int(
                    words[words.index("timeout") - 1])
            elif line.startswith("status codes:"):
                r["non_2xx"] = sum(int(words[words.index(k) - 1]) for k in ("4xx", "5xx"))
            elif line.startswith("traffic:"):
                r["bytes"] = int(words[2].strip("()"))
        if not r["requests"]:
            raise RuntimeError(f"h2load served nothing on port {port} (exit {out.returncode}): "
                               f"{out.stderr.strip() or text[-1500:]}")
        latencies = []
        with open(log) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3:
                    latencies.append(int(parts[2]))
        latencies.sort()
        pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0
        r["p50_us"], r["p99_us"] = pick(0.50), pick(0.99)
        r["rps"] = r["requests"] / r["seconds"]
        return r


# The most handshakes one run of the TLS client may make; runs end on time well before.
HANDSHAKE_COUNT_LIMIT = 5_000_000


def handshakes(client, port, cas, conns, seconds, version="1.3", resume=False, browser=False):
    """New TLS connections to 127.0.0.1:port for `seconds` (and at most
    HANDSHAKE_COUNT_LIMIT) from `conns` threads of bench/tls_client, pinned to
    LOAD_CPU: each a handshake, close_notify and the server's close. `browser` offers
    groups and suites in browsers' order. Returns the client's counts (handshakes,
    resumed, failed, seconds, version, suite, group)."""
    argv = [
        "taskset", "-c", str(LOAD_CPU), client, "--addr", f"127.0.0.1:{port}",
        *[a for ca in cas for a in ("--ca", ca)],
        "--version", version, "--resume", "on" if resume else "off",
        "--conns", str(conns), "--count", str(HANDSHAKE_COUNT_LIMIT), "--seconds", str(seconds),
        *(["--groups", "default", "--suites", "aes128-first"] if browser else []),
    ]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    for line in out.stdout.splitlines():
        if line.startswith("BENCH-JSON "):
            r = json.loads(line[len("BENCH-JSON "):])
            r["rate"] = r["handshakes"] / r["seconds"]
            return r
    raise RuntimeError(f"tls-handshakes printed no result (exit {out.returncode}): "
                       f"{out.stderr.strip()}")


def reload_under_load(port, path, conns, seconds, master_pid, reloads):
    """wrk for `seconds` while the master gets SIGHUP `reloads` times, evenly spaced
    inside the run. Returns wrk's result with `reloads_sent`."""
    box = {}

    def run():
        try:
            box["result"] = wrk(port, path, conns, seconds)
        except Exception as e:  # reported by the caller
            box["error"] = e

    t = threading.Thread(target=run)
    t.start()
    gap = seconds / (reloads + 1)
    sent = 0
    for _ in range(reloads):
        time.sleep(gap)
        if not t.is_alive():
            break
        os.kill(master_pid, signal.SIGHUP)
        sent += 1
    t.join(timeout=seconds + 90)
    if "error" in box:
        raise box["error"]
    if "result" not in box:
        raise RuntimeError("wrk did not finish during the reload run")
    box["result"]["reloads_sent"] = sent
    return box["result"]


async def _one_idle_client(port, path, opened, failures, gate):
    async with gate:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), timeout=10)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await asyncio.wait_for(reader.readexactly(length), timeout=10)
            if not head.startswith(b"HTTP/1.1 200"):
                failures.append(head.split(b"\r\n", 1)[0])
            opened.append(writer)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError) as e:
            failures.append(repr(e))


async def _idle(port, path, count, measure):
    opened, failures = [], []
    gate = asyncio.Semaphore(500)  # connections being opened at once
    await asyncio.gather(*(
        _one_idle_client(port, path, opened, failures, gate) for _ in range(count)))
    await asyncio.sleep(1.0)  # let the server settle (buffers released, logs written)
    measured = measure()
    for w in opened:
        w.close()
    return len(opened), failures, measured


def idle_clients(port, path, count, measure):
    """Open `count` keep-alive connections, one request each, keep them open, call
    `measure()` while they are idle, then close them. Returns (open, failures, m)."""
    return asyncio.run(_idle(port, path, count, measure))
