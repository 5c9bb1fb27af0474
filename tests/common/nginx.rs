//! The reference: nginx itself (`/usr/sbin/nginx`, Debian's 1.22), run on a loopback
//! port in a temp prefix with the same server blocks a test gives vestibule, so a test
//! can ask both the same question and require the same answer. When nginx is not
//! installed the tests still check vestibule against the answers written in them
//! (which were nginx's when they were written) and say that nginx was skipped.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{
    free_port, read_lossy, stop_child, tail, wait_until, Client, Response, START_DEADLINE,
};

/// Where the reference binary is.
pub const NGINX: &str = "/usr/sbin/nginx";

/// A running nginx, stopped on drop.
#[derive(Debug)]
pub struct Nginx {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

/// The main context and http block around the test's server blocks: one process, in
/// the foreground, everything under the temp prefix.
const CONFIG_TEMPLATE: &str = "\
daemon off;
master_process off;
worker_processes 1;
pid @DIR@/nginx.pid;
error_log @DIR@/error.log notice;
events { worker_connections 64; }
http {
    access_log @DIR@/access.log;
    client_body_temp_path @DIR@/client_body_temp;
    proxy_temp_path @DIR@/proxy_temp;
@SERVERS@
}
";

impl Nginx {
    /// Whether nginx is installed here.
    pub fn available() -> bool {
        Path::new(NGINX).exists()
    }

    /// Starts nginx with `servers` (`@PORT@` and `@DIR@` filled in as for
    /// vestibule), or `None` when nginx is not installed. `prepare` runs on the temp
    /// directory before nginx starts (files the configuration names).
    pub fn start(servers: &str, prepare: impl Fn(&Path)) -> Option<Nginx> {
        if !Nginx::available() {
            eprintln!("{NGINX} is not installed: the nginx side of this test is skipped");
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("vestibule-nginx-")
            .tempdir()
            .unwrap();
        prepare(dir.path());
        let port = free_port();
        let conf = CONFIG_TEMPLATE
            .replace("@SERVERS@", servers)
            .replace("@PORT@", &port.to_string())
            .replace("@DIR@", &dir.path().display().to_string());
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, &conf).unwrap();
        let output = std::fs::File::create(dir.path().join("output.log")).unwrap();
        let mut child = Command::new(NGINX)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(output.try_clone().unwrap())
            .stderr(output)
            .spawn()
            .unwrap();
        let mut exited = false;
        let ready = wait_until(START_DEADLINE, || {
            if child.try_wait().ok().flatten().is_some() {
                exited = true;
                return true;
            }
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        if !ready || exited {
            stop_child(&mut child, Duration::from_secs(2), false);
            panic!(
                "nginx did not start\n--- config:\n{conf}\n--- output:\n{}\n--- error.log:\n{}",
                read_lossy(&dir.path().join("output.log")),
                read_lossy(&dir.path().join("error.log"))
            );
        }
        Some(Nginx { child, port, dir })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The process id (nginx runs as one process here: `master_process off`).
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Whether nginx has exited (reaped here).
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    pub fn error_log(&self) -> String {
        read_lossy(&self.path("error.log"))
    }

    /// Sends `raw` on a new connection and reads one response.
    pub fn request(&self, raw: &[u8]) -> Response {
        let mut c = Client::connect(self.port);
        c.send(raw);
        c.read_response(raw.starts_with(b"HEAD "))
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        stop_child(&mut self.child, Duration::from_secs(3), false);
        if std::thread::panicking() {
            eprintln!(
                "--- nginx error.log ({}):\n{}",
                self.dir.path().display(),
                tail(&self.error_log(), 30)
            );
        }
    }
}
