"""A scripted HTTP/2 client for tests/http2_*.rs: well-formed requests with exact
fields, and the attacks and malformed frames a browser never sends.

    client.py [--tls] [--wait SECONDS] PORT MODE [ARGS...]

It prints one JSON object: the responses by stream id (status, headers, body length,
sha256, the first 4 KiB of the body), the streams the server reset (with the error
code), the GOAWAY it sent (code, last stream id), whether the server closed the
connection, how many frames this client sent, and the PING acknowledgements it got.
Frames are written with the `h2` package where it can write them, by hand (`frame`)
where the attack needs bytes no conforming library produces.
"""

import hashlib
import json
import socket
import ssl
import struct
import sys
import time

import hpack

import h2.config
import h2.connection
import h2.events
import h2.settings

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = (
    0x0, 0x1, 0x2, 0x3, 0x4, 0x6, 0x7, 0x8, 0x9)
END_STREAM, END_HEADERS = 0x1, 0x4


def frame(kind, flags, stream, payload=b""):
    n = len(payload)
    return struct.pack(">BHBBI", n >> 16, n & 0xFFFF, kind, flags, stream) + payload


class Client:
    def __init__(self, port, tls, settings=None):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            ctx.set_alpn_protocols(["h2"])
            sock = ctx.wrap_socket(sock, server_hostname="localhost")
            assert sock.selected_alpn_protocol() == "h2", sock.selected_alpn_protocol()
        self.sock = sock
        self.authority = "localhost:%d" % port
        config = h2.config.H2Configuration(
            client_side=True,
            header_encoding=None,
            validate_outbound_headers=False,
            normalize_outbound_headers=False,
            validate_inbound_headers=False,
        )
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.flush()
        self.responses = {}
        self.resets = {}
        self.goaway = None
        self.closed = False
        self.pings_acked = 0
        self.frames_sent = 0
        self.raw_goaway = None
        self.error = None
        # The server's frames, read again from the raw bytes: the h2 package stops
        # at the first GOAWAY, while a graceful one lets the open streams go on.
        self.raw = b""
        self.raw_started = False
        self.hpack = hpack.Decoder()
        self.hpack.max_allowed_table_size = 65536
        self.block = {}
        self.raw_responses = {}
        self.goaways = []

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def send_raw(self, data, count=1):
        self.frames_sent += count
        try:
            self.sock.sendall(data)
            return True
        except OSError:
            self.closed = True
            return False

    def headers(self, path, method="GET", extra=(), end_stream=True, authority=None):
        sid = self.conn.get_next_available_stream_id()
        fields = [
            (b":method", method.encode()),
            (b":scheme", b"https"),
            (b":authority", (authority or self.authority).encode()),
            (b":path", path.encode()),
        ] + [(k.encode() if isinstance(k, str) else k, v.encode() if isinstance(v, str) else v)
             for k, v in extra]
        self.conn.send_headers(sid, fields, end_stream=end_stream)
        self.frames_sent += 1
        self.flush()
        return sid

    def read(self, until, stop=lambda c: False, poll=0.2):
        """Reads events until the deadline, the server closes, or `stop(self)`;
        with `poll` 0, only what has already arrived."""
        self.sock.settimeout(poll if poll > 0 else 0.0)
        while time.time() < until and not self.closed and not stop(self):
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, BlockingIOError, ssl.SSLWantReadError):
                if poll == 0:
                    break
                continue
            except (OSError, ssl.SSLError):
                self.closed = True
                break
            if not data:
                self.closed = True
                break
            self.scan_goaway(data)
            if self.error:
                events = []
            else:
                try:
                    events = self.conn.receive_data(data)
                except Exception as e:  # the server broke the protocol (or we did)
                    self.error = repr(e)
                    events = []
            for ev in events:
                self.on(ev)
            try:
                self.flush()
            except OSError:
                self.closed = True

    def scan_goaway(self, data):
        """Follows the server's frames in the raw bytes."""
        self.raw += data
        while len(self.raw) >= 9:
            length = int.from_bytes(self.raw[:3], "big")
            if len(self.raw) < 9 + length:
                break
            kind, flags = self.raw[3], self.raw[4]
            sid = int.from_bytes(self.raw[5:9], "big") & 0x7FFFFFFF
            payload = self.raw[9:9 + length]
            self.raw = self.raw[9 + length:]
            if kind == GOAWAY and length >= 8:
                last, code = struct.unpack(">II", payload[:8])
                self.goaways.append({"code": code, "last_stream": last & 0x7FFFFFFF})
                self.raw_goaway = self.goaways[-1]
            elif kind in (HEADERS, CONTINUATION):
                if kind == HEADERS:
                    if flags & 0x8:  # PADDED
                        pad = payload[0]
                        payload = payload[1:len(payload) - pad]
                    if flags & 0x20:  # PRIORITY
                        payload = payload[5:]
                    self.block[sid] = b""
                self.block[sid] = self.block.get(sid, b"") + payload
                if flags & END_HEADERS:
                    try:
                        fields = self.hpack.decode(self.block.pop(sid), raw=True)
                    except Exception as e:
                        self.error = repr(e)
                        fields = []
                    r = self.raw_responses.setdefault(sid, {"body": b""})
                    for k, v in fields:
                        if k == b":status":
                            r["status"] = int(v)
                    r.setdefault("headers", [(k.decode(), v.decode("latin-1")) for k, v in fields])
                if flags & END_STREAM and kind == HEADERS:
                    self.raw_responses.setdefault(sid, {"body": b""})["ended"] = True
            elif kind == DATA and sid:
                r = self.raw_responses.setdefault(sid, {"body": b""})
                body = payload
                if flags & 0x8:
                    body = payload[1:len(payload) - payload[0]]
                r["body"] += body
                if flags & END_STREAM:
                    r["ended"] = True
            elif kind == RST_STREAM and length == 4:
                self.resets.setdefault(sid, int.from_bytes(payload, "big"))

    def on(self, ev):
        if isinstance(ev, h2.events.ResponseReceived):
            r = self.responses.setdefault(ev.stream_id, {"body": b""})
            r["headers"] = [(k.decode(), v.decode("latin-1")) for k, v in ev.headers]
            r["status"] = int(dict(ev.headers)[b":status"])
        elif isinstance(ev, h2.events.DataReceived):
            r = self.responses.setdefault(ev.stream_id, {"body": b""})
            r["body"] += ev.data
            self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            self.responses.setdefault(ev.stream_id, {"body": b""})["ended"] = True
        elif isinstance(ev, h2.events.StreamReset):
            self.resets[ev.stream_id] = int(ev.error_code)
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.goaway = {"code": int(ev.error_code), "last_stream": ev.last_stream_id}
        elif isinstance(ev, h2.events.PingAckReceived):
            self.pings_acked += 1

    def report(self, **extra):
        if self.error:
            # The package gave up (after a GOAWAY): the raw frames tell the rest.
            self.responses = self.raw_responses
        out = {
            "responses": {
                str(sid): {
                    "status": r.get("status"),
                    "headers": r.get("headers", []),
                    "ended": r.get("ended", False),
                    "body_len": len(r["body"]),
                    "sha256": hashlib.sha256(r["body"]).hexdigest(),
                    "body": r["body"][:4096].decode("latin-1"),
                }
                for sid, r in self.responses.items()
            },
            "resets": {str(k): v for k, v in self.resets.items()},
            "goaway": self.raw_goaway or self.goaway,
            "goaways": self.goaways,
            "client_error": self.error,
            "closed": self.closed,
            "frames_sent": self.frames_sent,
            "pings_acked": self.pings_acked,
        }
        out.update(extra)
        print(json.dumps(out))


def flood(c, one, count, deadline):
    """Sends `one` (a frame) `count` times in batches while the server reads."""
    batch = 1000
    sent = 0
    while sent < count and time.time() < deadline:
        if not c.send_raw(one * batch, batch):
            break
        sent += batch
        c.read(time.time() + 1, poll=0)
        if c.closed or c.goaway or c.raw_goaway:
            break
    c.read(time.time() + 2, stop=lambda c: c.closed)
    return sent


def main():
    args = sys.argv[1:]
    tls = "--tls" in args
    args = [a for a in args if a != "--tls"]
    wait = 5.0
    if "--wait" in args:
        at = args.index("--wait")
        wait = float(args[at + 1])
        args = args[:at] + args[at + 2:]
    port, mode, rest = int(args[0]), args[1], args[2:]
    deadline = time.time() + wait
    settings = None
    if mode == "zero_window":
        settings = {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0}
    c = Client(port, tls, settings)
    c.read(time.time() + 0.2)

    if mode == "get":
        # get PATH [NAME VALUE]...
        path, fields = rest[0], list(zip(rest[1::2], rest[2::2]))
        c.headers(path, extra=fields)
        c.read(deadline, stop=lambda c: any(r.get("ended") for r in c.responses.values()) or c.resets)
        c.report()
    elif mode == "post":
        # post PATH BYTES [CONTENT_LENGTH]: the body in 16 KiB DATA frames.
        path, size = rest[0], int(rest[1])
        fields = [("content-length", rest[2])] if len(rest) > 2 else []
        sid = c.headers(path, method="POST", extra=fields, end_stream=False)
        body = bytes(i % 251 for i in range(size))
        sent = 0
        while sent < size and not c.closed and sid not in c.resets:
            window = min(c.conn.local_flow_control_window(sid), 16384, size - sent)
            if window <= 0:
                c.read(time.time() + 0.05)
                continue
            c.conn.send_data(sid, body[sent:sent + window])
            c.frames_sent += 1
            sent += window
            c.flush()
            c.read(time.time() + 1, poll=0)
        if sid not in c.resets and not c.closed:
            c.conn.end_stream(sid)
            c.flush()
        c.read(deadline, stop=lambda c: any(r.get("ended") for r in c.responses.values()) or c.resets)
        c.report(body_sent=sent, body_sha256=hashlib.sha256(body).hexdigest())
    elif mode == "many":
        # many PATH N: N requests at once on the connection.
        path, n = rest[0], int(rest[1])
        for _ in range(n):
            c.headers(path)
        c.read(deadline, stop=lambda c: sum(1 for r in c.responses.values() if r.get("ended")) + len(c.resets) >= n)
        c.report()
    elif mode == "raw_many":
        # raw_many PATH N: N streams in raw HEADERS frames, past any stream limit the
        # server announced (the h2 package would refuse to open them).
        path, n = rest[0], int(rest[1])
        enc = hpack.Encoder()
        out = b""
        for i in range(n):
            block = enc.encode([(b":method", b"GET"), (b":scheme", b"https"),
                                (b":authority", c.authority.encode()), (b":path", path.encode())])
            out += frame(HEADERS, END_STREAM | END_HEADERS, 2 * i + 1, block)
        c.error = "raw"  # the package's state no longer matches: read raw frames
        c.send_raw(out, n)
        c.read(deadline, stop=lambda c: sum(1 for r in c.raw_responses.values() if r.get("ended")) + len(c.resets) >= n)
        c.report()
    elif mode == "rapid_reset":
        # HEADERS then RST_STREAM(CANCEL) at once, N times, in one write.
        n = int(rest[1])
        out = b""
        for _ in range(n):
            sid = c.conn.get_next_available_stream_id()
            c.conn.send_headers(sid, [(b":method", b"GET"), (b":scheme", b"https"),
                                      (b":authority", c.authority.encode()),
                                      (b":path", rest[0].encode())], end_stream=True)
            c.conn.reset_stream(sid, error_code=8)
            out += c.conn.data_to_send()
        c.send_raw(out, 2 * n)
        c.read(deadline, stop=lambda c: c.closed)
        c.report()
    elif mode == "continuation":
        # HEADERS without END_HEADERS, then CONTINUATION frames without end.
        first = frame(HEADERS, END_STREAM, 1, b"\x82\x87\x84" + b"\x00\x01x\x01y")
        c.send_raw(first)
        piece = frame(CONTINUATION, 0, 1, b"\x00\x01x\x01y" * 1000)
        sent = flood(c, piece, int(rest[0]), deadline)
        c.report(continuations_sent=sent)
    elif mode == "hpack_bomb":
        # One big field into the dynamic table, then a block of references to it.
        big = b"x" * 4000
        sid = 1
        literal = b"\x40" + b"\x04bomb" + b"\x7f" + encode_int(len(big) - 127) + big
        refs = b"\xbe" * 16000  # index 62: the field just added, 16000 times
        block = b"\x82\x87\x84" + b"\x41\x09localhost" + literal + refs
        pieces = [block[i:i + 16384] for i in range(0, len(block), 16384)]
        frames = frame(HEADERS, END_STREAM | (END_HEADERS if len(pieces) == 1 else 0), sid, pieces[0])
        for i, part in enumerate(pieces[1:], start=1):
            frames += frame(CONTINUATION, END_HEADERS if i == len(pieces) - 1 else 0, sid, part)
        c.send_raw(frames)
        c.read(deadline, stop=lambda c: c.closed or c.resets or c.responses)
        c.report(decoded_size=len(refs) * (4 + len(big) + 32))
    elif mode in ("ping_flood", "settings_flood", "priority_flood", "window_update_flood"):
        one = {
            "ping_flood": frame(PING, 0, 0, b"\x00" * 8),
            "settings_flood": frame(SETTINGS, 0, 0, b""),
            "priority_flood": frame(PRIORITY, 0, 3, b"\x00\x00\x00\x01\x10"),
            "window_update_flood": frame(WINDOW_UPDATE, 0, 0, b"\x00\x00\x00\x01"),
        }[mode]
        sent = flood(c, one, int(rest[0]), deadline)
        c.report(flood_sent=sent)
    elif mode == "empty_data_flood":
        sid = c.headers(rest[0], method="POST", end_stream=False)
        sent = flood(c, frame(DATA, 0, sid, b""), int(rest[1]), deadline)
        c.report(flood_sent=sent)
    elif mode == "zero_window":
        # A window of 0: the server may send the head, never a body byte.
        sid = c.headers(rest[0])
        c.read(deadline, stop=lambda c: c.resets or c.closed)
        c.report()
    elif mode == "malformed":
        # malformed KIND: one bad request; the stream must be reset.
        kind = rest[0]
        base = [(b":method", b"GET"), (b":scheme", b"https"),
                (b":authority", c.authority.encode()), (b":path", b"/")]
        fields, end, body = {
            "unknown_pseudo": (base + [(b":foo", b"bar")], True, None),
            "uppercase": (base + [(b"X-Upper", b"1")], True, None),
            "te": (base + [(b"te", b"gzip")], True, None),
            "connection": (base + [(b"connection", b"keep-alive")], True, None),
            "upgrade": (base + [(b"upgrade", b"websocket")], True, None),
            "no_path": (base[:3], True, None),
            "pseudo_after_regular": (base[:3] + [(b"x-a", b"1"), (b":path", b"/")], True, None),
            "content_length": ([(b":method", b"POST")] + base[1:] + [(b"content-length", b"10")], False, b"x" * 20),
        }[kind]
        sid = c.conn.get_next_available_stream_id()
        c.frames_sent += 1
        c.conn.send_headers(sid, fields, end_stream=end)
        if body is not None:
            c.conn.send_data(sid, body, end_stream=True)
        c.flush()
        c.read(deadline, stop=lambda c: c.resets or c.closed or c.goaway
               or any(r.get("ended") for r in c.responses.values()))
        c.report()
    elif mode == "sequence":
        # sequence PATH SECONDS: a request, a pause (the test reloads meanwhile), then
        # the same request again on the same connection.
        first = c.headers(rest[0])
        c.read(time.time() + 5, stop=lambda c: c.responses.get(first, {}).get("ended"))
        c.read(time.time() + float(rest[1]))
        second = c.headers(rest[0])
        c.read(deadline, stop=lambda c: c.responses.get(second, {}).get("ended") or c.closed)
        c.report()
    elif mode == "hold":
        # hold PATH SECONDS: a request, then the connection kept open (for shutdown).
        sid = c.headers(rest[0])
        c.read(time.time() + float(rest[1]), stop=lambda c: c.closed)
        c.report()
    else:
        raise SystemExit("unknown mode " + mode)


def encode_int(n):
    out = b""
    while n >= 128:
        out += bytes([(n % 128) + 128])
        n //= 128
    return out + bytes([n])


if __name__ == "__main__":
    main()
