"""The Flask app the end-to-end tests run under Gunicorn, behind vestibule.

It is the app of the deployment guides (`gunicorn --bind 127.0.0.1:8000 app:app`), with
Werkzeug's ProxyFix trusting one proxy for X-Forwarded-For, -Proto and -Host, as a
Flask app behind nginx is configured. Each endpoint shows the tests one thing as Flask
sees it:

    /                 hello
    /echo[/...]       JSON: method, path, query, headers, remote_addr, scheme, host,
                      url_root, body length and sha256, form fields
    /prefix/...       the same (target of `proxy_pass http://.../prefix/`)
    /redirect         redirect(url_for("hello"))             (relative Location)
    /redirect/external redirect(url_for("hello", _external=True))
    /slow?s=N         sleeps N seconds, then answers
    /big?n=BYTES      a deterministic body: byte i is i % 251
    /stream?n=N&gate=PATH
                      a generator (chunked from Gunicorn); with gate, the pieces after
                      the first wait until the file PATH exists (at most 20 s)
    /status/<code>    an empty response with that status
    /cookies          two Set-Cookie headers and a header with a long value
    /health?dir=DIR   a health endpoint: 503 while DIR/down-PORT exists (PORT: the
                      one this Gunicorn listens on), else 200 "ok" with
                      X-Health: yes; counts its probes in DIR/probes-PORT
    /static           the app's own answer: nginx sends "/static" (no slash) here,
                      not to `location /static/`
    /counted/<name>?dir=DIR&...
                      a view that counts its calls in DIR/calls-<name> (one line
                      each) and answers "call N of <name>" (padded to `size`
                      bytes), with the response shaped by the query: status,
                      cc (Cache-Control), expires (seconds from now, may be
                      negative), xae (X-Accel-Expires), cookie=1 (a Set-Cookie),
                      vary, etag, lm (Last-Modified, Unix seconds), s (sleep
                      seconds first), slow=PATH (sleep 3 s first while PATH
                      exists), fail=PATH (answer 500 while PATH exists);
                      a request whose If-None-Match is the etag gets 304
"""

import hashlib
import os
import time
from email.utils import formatdate

from flask import Flask, Response, jsonify, redirect, request, url_for
from werkzeug.middleware.proxy_fix import ProxyFix

app = Flask(__name__, static_folder=None)
app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@app.route("/")
def hello():
    return "Hello from Flask\n"


@app.route("/echo", methods=ALL_METHODS)
@app.route("/echo/<path:rest>", methods=ALL_METHODS)
@app.route("/prefix/", methods=ALL_METHODS)
@app.route("/prefix/<path:rest>", methods=ALL_METHODS)
def echo(rest=None):
    body = request.get_data(cache=True)
    return jsonify(
        {
            "method": request.method,
            "path": request.path,
            "full_path": request.full_path,
            "raw_uri": request.environ.get("RAW_URI", ""),
            "query": request.query_string.decode("latin-1"),
            "args": {k: request.args.getlist(k) for k in request.args},
            "headers": [[k, v] for k, v in request.headers.items()],
            "remote_addr": request.remote_addr,
            "scheme": request.scheme,
            "host": request.host,
            "url_root": request.url_root,
            "content_type": request.content_type,
            "body_len": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
            "form": {k: request.form.getlist(k) for k in request.form},
            "json": request.get_json(silent=True),
        }
    )


@app.route("/redirect")
def go_home():
    return redirect(url_for("hello"))


@app.route("/redirect/external")
def go_home_external():
    return redirect(url_for("hello", _external=True))


@app.route("/slow")
def slow():
    seconds = min(float(request.args.get("s", "1")), 30.0)
    time.sleep(seconds)
    return f"slept {seconds}\n"


PATTERN = bytes(range(251))


def pattern(n):
    whole, part = divmod(n, len(PATTERN))
    return PATTERN * whole + PATTERN[:part]


@app.route("/big")
def big():
    n = int(request.args.get("n", "1000000"))
    return Response(pattern(n), mimetype="application/octet-stream")


@app.route("/stream")
def stream():
    n = int(request.args.get("n", "3"))
    gate = request.args.get("gate")

    def pieces():
        for i in range(n):
            if i > 0 and gate:
                deadline = time.monotonic() + 20
                while not os.path.exists(gate) and time.monotonic() < deadline:
                    time.sleep(0.02)
            yield f"piece {i}\n"

    return Response(pieces(), mimetype="text/plain")


@app.route("/status/<int:code>", methods=ALL_METHODS)
def status(code):
    return Response(b"", status=code)


@app.route("/cookies")
def cookies():
    r = Response("two cookies\n", mimetype="text/plain")
    r.set_cookie("session", "abc123", httponly=True)
    r.set_cookie("theme", "dark")
    r.headers["X-Long"] = "v" * 2000
    return r


@app.route("/health")
def health():
    directory = request.args.get("dir", "")
    port = request.environ.get("SERVER_PORT", "")
    if directory:
        with open(os.path.join(directory, f"probes-{port}"), "a") as f:
            f.write(f"{request.headers.get('Host', '')} {request.headers.get('User-Agent', '')}\n")
        if os.path.exists(os.path.join(directory, f"down-{port}")):
            return Response("down\n", status=503)
    return Response("ok\n", headers={"X-Health": "yes"})


@app.route("/static")
def static_without_slash():
    return "flask answered /static\n"


@app.route("/counted/<name>", methods=ALL_METHODS)
def counted(name):
    a = request.args
    directory = a.get("dir", "/tmp")
    with open(os.path.join(directory, f"calls-{name}"), "a") as f:
        f.write(f"{request.method} {request.full_path} {request.headers.get('If-None-Match', '')}\n")
    with open(os.path.join(directory, f"calls-{name}")) as f:
        n = sum(1 for _ in f)
    if a.get("s"):
        time.sleep(min(float(a["s"]), 30.0))
    if a.get("slow") and os.path.exists(a["slow"]):
        time.sleep(3)
    if a.get("etag") and request.headers.get("If-None-Match") == f'"{a["etag"]}"':
        headers = {"ETag": f'"{a["etag"]}"'}
        if a.get("cc304"):
            headers["Cache-Control"] = a["cc304"]
        return Response(status=304, headers=headers)
    status = int(a.get("status", "200"))
    fail = a.get("fail")
    if fail and os.path.exists(fail):
        status = 500
    body = f"call {n} of {name}\n"
    size = int(a.get("size", "0"))
    if size > len(body):
        body += "x" * (size - len(body) - 1) + "\n"
    r = Response(body, status=status, mimetype="text/plain")
    if a.get("cc"):
        r.headers["Cache-Control"] = a["cc"]
    if a.get("expires"):
        r.headers["Expires"] = formatdate(time.time() + float(a["expires"]), usegmt=True)
    if a.get("xae"):
        r.headers["X-Accel-Expires"] = a["xae"]
    if a.get("cookie"):
        r.set_cookie("session", str(n))
    if a.get("vary"):
        r.headers["Vary"] = a["vary"]
    if a.get("etag"):
        r.headers["ETag"] = f'"{a["etag"]}"'
    if a.get("ar"):
        r.headers["Accept-Ranges"] = a["ar"]
    if a.get("lm"):
        r.headers["Last-Modified"] = formatdate(float(a["lm"]), usegmt=True)
    return r
