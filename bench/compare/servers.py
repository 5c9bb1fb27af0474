"""The servers: the two under test (vestibule and nginx, pinned to CPU 0), the
fixed-response upstream (a separate nginx) and Gunicorn + Flask (CPU 1)."""

import os
import re
import shutil
import subprocess

from . import configs, procs

SUT_CPU = 0
LOAD_CPU = 1
NAMES = ("vestibule", "nginx")


class Env:
    """Paths and ports shared by a whole run."""

    def __init__(self, repo, tmp, logs):
        self.repo = repo
        self.tmp = tmp
        self.logs = logs  # error logs are kept here after each server stops
        os.makedirs(logs, exist_ok=True)
        # VESTIBULE_BIN: another build to measure (an older commit, another allocator).
        self.vestibule = os.environ.get("VESTIBULE_BIN") or f"{repo}/target/release/vestibule"
        self.static_dir = f"{tmp}/static"
        self.ports = {
            "upstream_keepalive": procs.free_port(),
            "upstream_close": procs.free_port(),
            "upstream_default": procs.free_port(),
            "app": procs.free_port(),
        }
        configs.write_static_files(self.static_dir)
        # The TLS scenarios' load generator (bench/tls_client, built by bench/run.sh).
        self.tls_client = os.environ.get("TLS_CLIENT_BIN") or \
            f"{repo}/target/tls-client/release/tls-handshakes"
        self._certs = None

    def certs(self):
        """The TLS certificates (configs.write_tls_certs), made on first use."""
        if self._certs is None:
            self._certs = configs.write_tls_certs(f"{self.tmp}/certs")
        return self._certs


def _argv(name, env, d, conf):
    if name == "vestibule":
        return [env.vestibule, "-p", d, "-c", conf, "-e", "stderr", "-g", "daemon off;"]
    return ["nginx", "-p", d, "-c", conf, "-e", "stderr", "-g", "daemon off; master_process on;"]


class Server:
    """One server under test, started afresh from its generated directory."""

    def __init__(self, name, env, access_log, tag, tls=False):
        self.name = name
        self.env = env
        self.tag = tag
        self.logs = env.logs
        self.dir = f"{env.tmp}/{tag}/{name}"
        self.port = procs.free_port()
        ports = dict(env.ports, listen=self.port)
        certs = None
        if tls:
            ports.update(tls_ecdsa=procs.free_port(), tls_rsa=procs.free_port(),
                         tls12_ids=procs.free_port())
            certs = env.certs()
        self.ports = ports
        self.conf = configs.write_sut_dir(
            self.dir, ports, access_log, env.static_dir, certs)
        self.argv = _argv(name, env, self.dir, self.conf)
        check = subprocess.run(
            [*self.argv[:-2], "-t"], capture_output=True, text=True, timeout=30)
        if check.returncode != 0:
            raise RuntimeError(f"{name} -t refused {self.conf}:\n{check.stderr}")
        self.proc = None

    def start(self):
        self.proc = procs.start(self.argv, SUT_CPU, f"{self.dir}/stderr.log")
        procs.wait_http(self.port, "/static/1k.bin")
        return self

    @property
    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc is not None:
            procs.stop(self.proc)
            if self.proc.returncode not in (0, None):
                print(f"  note: {self.name} exited with status {self.proc.returncode}")
        for src in ("error.log", "stderr.log"):
            if os.path.exists(f"{self.dir}/{src}"):
                shutil.copyfile(f"{self.dir}/{src}", f"{self.logs}/{self.tag}-{self.name}-{src}")

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def io_driver(self):
        """vestibule logs `worker process N started, io driver: X` (notice)."""
        found = re.findall(r"io driver: (\S+)", self.error_log())
        return found[-1] if found else None

    def error_log(self):
        try:
            with open(f"{self.dir}/error.log", errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def start_upstream(env):
    d = f"{env.tmp}/upstream"
    os.makedirs(d, exist_ok=True)
    conf = f"{d}/upstream.conf"
    with open(conf, "w") as f:
        f.write(configs.upstream_config(d, env.ports))
    with open(f"{d}/page4k.html", "wb") as f:
        f.write(configs.PAGE_4K)
    argv = ["nginx", "-p", d, "-c", conf, "-e", "stderr", "-g", "daemon off; master_process on;"]
    p = procs.start(argv, LOAD_CPU, f"{d}/stderr.log")
    procs.wait_http(env.ports["upstream_keepalive"])
    procs.wait_http(env.ports["upstream_close"])
    procs.wait_http(env.ports["upstream_default"])
    return p


def start_gunicorn(env, python):
    """tests/apps/app.py under Gunicorn's sync workers, as the deployment guides run it."""
    gunicorn = os.path.join(os.path.dirname(python), "gunicorn")
    argv = [
        gunicorn, "--workers", "2", "--bind", f"127.0.0.1:{env.ports['app']}",
        "--chdir", f"{env.repo}/tests/apps", "app:app",
    ]
    p = procs.start(argv, LOAD_CPU, f"{env.tmp}/gunicorn.log")
    procs.wait_http(env.ports["app"])
    return p
