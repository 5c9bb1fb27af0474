"""A scripted upstream that misbehaves in one chosen way, for tests/proxy_faults.rs.

    python3 fake_upstream.py MODE

binds 127.0.0.1 on a free port, prints the port on a line of its own, then for every
connection reads one request head (and a Content-Length body) and does MODE:

    garbage            answers a status line that is not HTTP, then closes
    close_before_head  closes without a byte
    reset_before_head  resets the connection (RST) without a byte
    oversized_head     a valid status line, then 64 KiB of headers without an end
    hang               never answers (closes when the peer does, at most 60 s)
    trickle_head       a correct 200, its head one byte every 100 ms
    reset_mid_body     Content-Length 1000000, 100000 bytes of body, then a reset (RST)
    close_mid_body     Content-Length 1000000, 100000 bytes of body, then a close (FIN)
    stall_mid_body     Content-Length 1000000, 100000 bytes of body, then nothing
                       (closes when the peer does, at most 60 s)
    close_mid_chunked  chunked: two chunks, then a close without the last chunk
    bad_chunk          chunked: a chunk whose data is not followed by CRLF, then more
                       chunks and the last one, as if the framing went on; the
                       connection stays open (closes when the peer does, at most 60 s)
    cl_and_te          Content-Length and Transfer-Encoding: chunked in one response
    two_lengths        two different Content-Length headers
    close_delimited    no length, no chunking: the body ends when the connection does
    ok                 a correct 200 with Content-Length (to show the setup works)
    by_path            the mode named by the last segment of the request path
                       (GET /faults/garbage), so one process serves every fault

Each connection is served on its own thread; the process runs until it is killed.
"""

import socket
import struct
import sys
import threading
import time

HEAD_LIMIT = 64 * 1024
BODY_BYTES = 100_000
DECLARED = 1_000_000


def read_request(conn):
    data = b""
    conn.settimeout(30)
    while b"\r\n\r\n" not in data:
        if len(data) > HEAD_LIMIT:
            return None
        piece = conn.recv(65536)
        if not piece:
            return None
        data += piece
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        piece = conn.recv(65536)
        if not piece:
            break
        rest += piece
    return head


def body_bytes(n):
    return bytes(i % 251 for i in range(n))


def reset(conn):
    """SO_LINGER with a zero timeout: close() sends RST instead of FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def wait_for_peer_close(conn):
    """Holds the connection without sending until the peer closes (at most 60 s)."""
    conn.settimeout(60)
    while conn.recv(4096):
        pass


def mode_of(head):
    """by_path: the last path segment of the request line, without the query."""
    target = head.split(b"\r\n", 1)[0].split(b" ")[1]
    return target.split(b"?", 1)[0].rsplit(b"/", 1)[-1].decode("ascii", "replace")


def serve(conn, mode):
    try:
        head = read_request(conn)
        if head is None:
            return
        if mode == "by_path":
            mode = mode_of(head)
        if mode == "garbage":
            conn.sendall(b"HTTX/9.9 two hundred NOT-OK\r\nX-Garbage: yes\r\n\r\ngarbage body\n")
        elif mode == "close_before_head":
            pass
        elif mode == "reset_before_head":
            reset(conn)
        elif mode == "oversized_head":
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            line = b"X-Filler: " + b"f" * 1000 + b"\r\n"
            for _ in range(64):
                conn.sendall(line)
            time.sleep(5)
        elif mode == "hang":
            wait_for_peer_close(conn)
        elif mode == "trickle_head":
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n":
                conn.sendall(bytes([byte]))
                time.sleep(0.1)
            conn.sendall(b"trickled")
        elif mode in ("reset_mid_body", "close_mid_body", "stall_mid_body"):
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                + b"Content-Length: %d\r\n\r\n" % DECLARED
            )
            conn.sendall(body_bytes(BODY_BYTES))
            if mode == "stall_mid_body":
                wait_for_peer_close(conn)
            time.sleep(0.2)
            if mode == "reset_mid_body":
                reset(conn)
        elif mode == "bad_chunk":
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
                b"6\r\nfirst\nXX7\r\nsecond\n\r\n0\r\n\r\n"
            )
            wait_for_peer_close(conn)
        elif mode == "close_mid_chunked":
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
                b"6\r\nfirst\n\r\n7\r\nsecond\n\r\n"
            )
            time.sleep(0.2)
        elif mode == "cl_and_te":
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n0\r\n\r\n"
            )
        elif mode == "two_lengths":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")
        elif mode == "close_delimited":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n")
            conn.sendall(body_bytes(BODY_BYTES))
        elif mode == "ok":
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n")
        else:
            sys.stderr.write(f"unknown mode {mode}\n")
    except OSError:
        pass
    finally:
        conn.close()


def main():
    mode = sys.argv[1]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    print(listener.getsockname()[1], flush=True)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, mode), daemon=True).start()


if __name__ == "__main__":
    main()
