"""Starting and stopping the processes the harness owns, and reading /proc.

Every process is started here, remembered by PID, and stopped by that PID only
(`stop_all` runs at exit and on SIGINT/SIGTERM). CPU time and memory are read from
/proc for a server's whole process tree (master and workers).
"""

import os
import signal
import socket
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
STARTED = []  # every Popen this harness created, newest last
PID_FILE = None  # also listed here, one PID a line, for bench/run.sh's exit trap


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(argv, cpu, log_path, env=None):
    """Start `argv` pinned to `cpu` (taskset), output to `log_path`."""
    log = open(log_path, "ab")
    p = subprocess.Popen(
        ["taskset", "-c", str(cpu), *argv],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
        start_new_session=True,  # a Ctrl-C in the terminal reaches only the harness
    )
    log.close()
    STARTED.append(p)
    if PID_FILE:
        with open(PID_FILE, "a") as f:
            f.write(f"{p.pid}\n")
    return p


def wait_http(port, path="/", deadline_s=20.0):
    """Wait until 127.0.0.1:port answers an HTTP request on `path` (any status)."""
    end = time.monotonic() + deadline_s
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode()
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(request)
                if s.recv(16).startswith(b"HTTP/1."):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"nothing answered HTTP on 127.0.0.1:{port} within {deadline_s} s")


def stop(p, grace_s=5.0):
    """QUIT (graceful for nginx and vestibule), then TERM, then KILL: by PID only."""
    if p.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGQUIT, grace_s), (signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        try:
            os.kill(p.pid, sig)
        except ProcessLookupError:
            return
        try:
            p.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def stop_all():
    for p in reversed(STARTED):
        stop(p, grace_s=2.0)


def _children_map():
    """ppid -> [pid] for every process now in /proc."""
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kids.setdefault(int(fields[1]), []).append(int(name))
    return kids


def tree(root_pid):
    """root_pid and all its descendants."""
    kids = _children_map()
    out, todo = [], [root_pid]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def _stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_seconds(root_pid):
    """utime+stime of every process in the tree (all threads, live and exited), plus
    the root's cutime+cstime (workers it has reaped, e.g. after an nginx reload)."""
    return sum(cpu_split(root_pid))


def cpu_split(root_pid):
    """(user, kernel) seconds of the tree, counted as `cpu_seconds` counts them."""
    user = system = 0
    for pid in tree(root_pid):
        try:
            f = _stat(pid)
        except OSError:
            continue
        # Fields after the ")": state is [0]; utime [11], stime [12], cutime [13], cstime [14].
        user += int(f[11])
        system += int(f[12])
        if pid == root_pid:
            user += int(f[13])
            system += int(f[14])
    return user / CLK_TCK, system / CLK_TCK


def machine_busy_seconds():
    """CPU time of the whole machine (all CPUs) spent on anything but idle, I/O wait
    and steal: user, nice, system, irq and softirq from the first line of /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / CLK_TCK


def _status_kib(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def memory_kib(root_pid, key):
    """Sum of /proc/PID/status `key` (VmRSS, VmHWM) over the tree, in KiB."""
    total = 0
    for pid in tree(root_pid):
        try:
            total += _status_kib(pid, key)
        except OSError:
            continue
    return total


def worker_pids(root_pid):
    return [pid for pid in tree(root_pid) if pid != root_pid]


def reset_peak_rss(root_pid):
    """Start VmHWM afresh for every process in the tree (`5` to clear_refs, Linux
    4.0+). Returns False where the kernel refuses, then VmHWM is since start."""
    ok = True
    for pid in tree(root_pid):
        try:
            with open(f"/proc/{pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            ok = False
    return ok
