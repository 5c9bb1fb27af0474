"""The upstream and the client of tests/tools/valgrind.sh, standard library only.

    python3 valgrind_load.py upstream PORT_FILE        # serves until killed
    python3 valgrind_load.py client PORT REQUESTS DEADLINE_SECONDS

The upstream answers every GET with a body whose length the path names
(/bytes/N) and every POST with the length and a checksum of what it read. The client
spreads REQUESTS over a few keep-alive connections through vestibule (proxied GETs
and POSTs of sizes around the allocator's classes, and static files), checks every
answer, and exits non-zero on a wrong answer, a failed request or the deadline.
"""

import hashlib
import http.client
import os
import http.server
import sys
import threading
import time

CONNECTIONS = 4
# Sizes around the allocator's size classes (16 B ... 16 KiB) and past them.
SIZES = [0, 1, 15, 17, 100, 1000, 1025, 4096, 5000, 16384, 16385, 70000]


def body_of(n):
    return bytes((i * 7 + 3) % 251 for i in range(n))


class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _send(self, body):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        n = int(self.path.rsplit("/", 1)[-1]) if self.path.startswith("/bytes/") else 0
        self._send(body_of(n))

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(length)
        self._send(f"{len(data)} {hashlib.sha256(data).hexdigest()}".encode())


def upstream(port_file):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    server.daemon_threads = True
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    # Renamed into place once complete, so the script never reads half a number.
    os.replace(port_file + ".tmp", port_file)
    server.serve_forever()


def one_request(conn, i):
    """The i-th request of a connection: (method, path, body, check)."""
    size = SIZES[i % len(SIZES)]
    kind = i % 5
    if kind == 0:
        data = body_of(size)
        expected = f"{len(data)} {hashlib.sha256(data).hexdigest()}".encode()
        conn.request("POST", "/proxy/post", body=data)
    elif kind == 1:
        expected = open_static(size)
        conn.request("GET", f"/static/{size}.bin")
    else:
        expected = body_of(size)
        conn.request(
            "GET",
            f"/proxy/bytes/{size}",
            headers={"X-Request": "r" * (i % 300), "Accept": "*/*"},
        )
    response = conn.getresponse()
    got = response.read()
    if response.status != 200 or got != expected:
        raise AssertionError(f"request {i}: status {response.status}, {len(got)} bytes")


STATIC = {}


def open_static(size):
    return STATIC[size]


def client(port, requests, deadline_seconds):
    static_dir = os.environ["VALGRIND_STATIC_DIR"]
    for size in SIZES:
        with open(os.path.join(static_dir, f"{size}.bin"), "rb") as f:
            STATIC[size] = f.read()
    deadline = time.monotonic() + deadline_seconds
    done = [0]
    errors = []
    lock = threading.Lock()

    def run(worker):
        share = requests // CONNECTIONS + (1 if worker < requests % CONNECTIONS else 0)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for i in range(share):
                if time.monotonic() > deadline:
                    raise AssertionError("deadline passed")
                one_request(conn, i + worker)
                with lock:
                    done[0] += 1
        except Exception as e:  # reported below; the script fails on it
            errors.append(f"connection {worker}: {e!r}")
        finally:
            conn.close()

    threads = [threading.Thread(target=run, args=(w,)) for w in range(CONNECTIONS)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    print(f"{done[0]} of {requests} requests in {elapsed:.1f} s over {CONNECTIONS} connections")
    for e in errors:
        print(e, file=sys.stderr)
    return 0 if not errors and done[0] == requests else 1


if __name__ == "__main__":
    if sys.argv[1] == "upstream":
        upstream(sys.argv[2])
    else:
        sys.exit(client(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
