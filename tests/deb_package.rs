//! The Debian package (`[package.metadata.deb]` in Cargo.toml, `debian/`,
//! docs/packaging.md), built by `cargo deb` from the debug build this test run already
//! made (`--profile dev --no-build --strip --no-dbgsym`: no release build just for
//! this), checked three ways:
//!
//! - the man page: `debian/vestibule.8` is what `debian/manpage.sh` makes of this
//!   binary's `-h` and `-V` (`VESTIBULE_BLESS=1` rewrites it), and groff has nothing
//!   to say about it;
//! - `lintian` reports neither errors nor warnings;
//! - installed on this machine with dpkg and purged again (also when a check fails):
//!   the files where `dpkg -L` says, the conffiles, the owners of the log and state
//!   directories, the default site enabled, the systemd drop-in chosen by the host's
//!   systemd version, nothing started, `vestibule -t` passing on the installed tree;
//!   then the installed binary run as the unit runs it (its `ExecStart`, under its
//!   `CapabilityBoundingSet` with `setpriv`) on a loopback port with a site dropped in
//!   `conf.d/`: it serves, its workers are `www-data`, the master logs no error,
//!   `logrotate -f` on the installed logrotate file rotates the access log and the
//!   `postrotate` USR1 makes the next request land in the new file, and
//!   `vestibule -s quit` stops master and workers. Port 80 is never bound.
//!
//! Root, dpkg and cargo-deb are needed (and lintian, logrotate, groff for their parts);
//! without one the test prints what it skipped. The install also skips when vestibule
//! is installed or `/etc/vestibule` exists, which it would otherwise take over and
//! purge. tests/run.sh installs all of them, and runs as root in CI.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{free_port, read_lossy, signal, wait_until};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const BIN: &str = "/usr/sbin/vestibule";
const UNIT: &str = "/lib/systemd/system/vestibule.service";
const DROP_IN: &str = "/lib/systemd/system/vestibule.service.d/systemd-252.conf";
const LOG_DIR: &str = "/var/log/vestibule";
const STATE_DIR: &str = "/var/lib/vestibule";
/// The test's own site, dropped where the shipped main file includes `*.conf`.
const TEST_SITE: &str = "/etc/vestibule/conf.d/deb-package-test.conf";

fn run(cmd: &str, args: &[&str]) -> Output {
    Command::new(cmd)
        .args(args)
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Whether `cmd` runs at all.
fn have(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// `cargo deb` on the debug build into `out`, with Debian revision `revision`; `None`
/// (with the reason printed) when cargo-deb is missing.
fn build_deb(out: &Path, revision: u32) -> Option<PathBuf> {
    if !have(&cargo(), &["deb", "--version"]) {
        eprintln!("skipped: no cargo-deb (tests/run.sh runs `cargo install cargo-deb`)");
        return None;
    }
    // cargo-deb strips the binary into a fixed place under target/: one build at a
    // time, or a parallel one packages a half-written file.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let built = Command::new(cargo())
        .current_dir(ROOT)
        .args([
            "deb",
            "--profile",
            "dev",
            "--no-build",
            "--fast",
            "--strip",
            "--no-dbgsym",
            "-q",
        ])
        .arg(format!("--deb-revision={revision}"))
        .arg("-o")
        .arg(out)
        .output()
        .unwrap();
    assert!(built.status.success(), "cargo deb: {}", text(&built));
    let deb = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("cargo deb wrote no .deb");
    let version = run("dpkg-deb", &["-f", deb.to_str().unwrap(), "Version"]);
    assert_eq!(
        String::from_utf8_lossy(&version.stdout).trim(),
        format!("{}-{revision}", env!("CARGO_PKG_VERSION"))
    );
    Some(deb)
}

#[test]
fn man_page_is_the_help_text() {
    let out = run(
        "sh",
        &[
            &format!("{ROOT}/debian/manpage.sh"),
            env!("CARGO_BIN_EXE_vestibule"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let generated = String::from_utf8(out.stdout).unwrap();
    let shipped_path = format!("{ROOT}/debian/vestibule.8");
    if std::env::var_os("VESTIBULE_BLESS").is_some() {
        std::fs::write(&shipped_path, &generated).unwrap();
    }
    let shipped = std::fs::read_to_string(&shipped_path).unwrap();
    assert!(
        shipped == generated,
        "debian/vestibule.8 is not what debian/manpage.sh makes of `vestibule -h`: \
         run VESTIBULE_BLESS=1 cargo test --test deb_package man_page"
    );
    // Every option line of -h is an entry of the page.
    let help = run(env!("CARGO_BIN_EXE_vestibule"), &["-h"]);
    let help = text(&help);
    let options: Vec<&str> = help
        .lines()
        .filter_map(|l| l.strip_prefix("  -"))
        .filter_map(|l| l.split(':').nth(1))
        .map(str::trim)
        .collect();
    assert!(options.len() >= 10, "{help}");
    for description in options {
        assert!(
            shipped.contains(&description.replace('-', "\\-")),
            "{description}"
        );
    }
    if have("groff", &["-v"]) {
        let checked = run("groff", &["-man", "-Tutf8", "-ww", "-z", &shipped_path]);
        assert!(
            checked.status.success() && checked.stderr.is_empty(),
            "{}",
            text(&checked)
        );
    } else {
        eprintln!("skipped the groff check: no groff");
    }
}

#[test]
fn lintian_reports_nothing() {
    if !have("lintian", &["--version"]) {
        eprintln!("skipped: no lintian (tests/run.sh installs it with apt)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(deb) = build_deb(dir.path(), 1) else {
        return;
    };
    let out = run("lintian", &[deb.to_str().unwrap()]);
    let report = text(&out);
    let tags: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with("E:") || l.starts_with("W:"))
        .collect();
    assert!(tags.is_empty(), "{report}");
    assert!(out.status.success(), "{report}");
}

/// Purges the package and puts back what was there before, whatever happened.
struct Installed {
    master: Option<Child>,
    /// `/var/log/vestibule` and `/var/lib/vestibule` as found (mode, uid, gid), when
    /// they existed: other tests' masters make them. Purge removes them; they are
    /// made again, empty, with their old owners and mode.
    found: Vec<(&'static str, u32, u32, u32)>,
}

impl Drop for Installed {
    fn drop(&mut self) {
        if let Some(mut master) = self.master.take() {
            let pid = i32::try_from(master.id()).unwrap();
            let workers = common::child_pids(pid);
            signal(pid, libc::SIGKILL);
            let _ = master.wait();
            for w in workers {
                signal(w, libc::SIGKILL);
            }
        }
        let _ = std::fs::remove_file(TEST_SITE);
        if is_installed() {
            let _ = dpkg(&["--purge", "vestibule"]);
        }
        for (dir, mode, uid, gid) in &self.found {
            if std::fs::create_dir_all(dir).is_ok() {
                let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(*mode));
                let _ = std::os::unix::fs::chown(dir, Some(*uid), Some(*gid));
            }
        }
    }
}

fn is_installed() -> bool {
    let out = run("dpkg-query", &["-W", "-f=${Status}", "vestibule"]);
    String::from_utf8_lossy(&out.stdout).contains("installed")
}

/// dpkg, waiting (bounded) while another process holds the dpkg lock.
fn dpkg(args: &[&str]) -> Output {
    for _ in 0..120 {
        let out = run("dpkg", args);
        if out.status.success() || !text(&out).contains("lock") {
            return out;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("dpkg {args:?}: the dpkg lock stayed taken for a minute");
}

/// The processes running `path`.
fn running(path: &str) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            std::fs::read_link(e.path().join("exe")).is_ok_and(|exe| exe == Path::new(path))
        })
        .filter_map(|e| e.file_name().to_string_lossy().parse().ok())
        .collect()
}

fn uid_of(pid: i32) -> Option<u32> {
    read_lossy(Path::new(&format!("/proc/{pid}/status")))
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next()?.parse().ok())
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: deb.test\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    Some(response)
}

/// `owner:group mode` of a path, as `ls` would show the ids.
fn owner_mode(path: &str) -> (String, String, u32) {
    let meta = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let name = |db: &str, id: u32| {
        let out = run("getent", &[db, &id.to_string()]);
        String::from_utf8_lossy(&out.stdout)
            .split(':')
            .next()
            .unwrap_or_default()
            .to_string()
    };
    (
        name("passwd", meta.uid()),
        name("group", meta.gid()),
        meta.mode() & 0o7777,
    )
}

#[test]
fn package_installs_serves_rotates_and_purges() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: installing a package needs root (CI runs tests/run.sh as root)");
        return;
    }
    if !have("dpkg", &["--version"]) {
        eprintln!("skipped: no dpkg");
        return;
    }
    if is_installed() || Path::new("/etc/vestibule").exists() {
        eprintln!(
            "skipped: vestibule is installed or /etc/vestibule exists here; \
             the test would take it over and purge it"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(deb) = build_deb(dir.path(), 1) else {
        return;
    };
    let mut guard = Installed {
        master: None,
        found: [LOG_DIR, STATE_DIR]
            .into_iter()
            .filter_map(|d| {
                let m = std::fs::metadata(d).ok()?;
                Some((d, m.mode() & 0o7777, m.uid(), m.gid()))
            })
            .collect(),
    };
    let already_running = running(BIN);

    // Installed: the maintainer scripts succeed without systemd as PID 1 and start
    // nothing.
    let out = dpkg(&["-i", deb.to_str().unwrap()]);
    assert!(out.status.success(), "dpkg -i: {}", text(&out));
    assert_eq!(
        running(BIN),
        already_running,
        "the package started vestibule"
    );

    // The files are where dpkg -L says, the ones that must be there among them.
    let listed = run("dpkg", &["-L", "vestibule"]);
    let listed = String::from_utf8_lossy(&listed.stdout).into_owned();
    for path in listed.lines() {
        assert!(
            Path::new(path).exists(),
            "dpkg -L lists {path}, not on disk"
        );
    }
    let expected = [
        BIN,
        "/etc/vestibule/vestibule.conf",
        "/etc/vestibule/proxy_params",
        "/etc/vestibule/mime.types",
        "/etc/vestibule/sites-available/default",
        "/etc/vestibule/snippets/snakeoil.conf",
        "/etc/logrotate.d/vestibule",
        UNIT,
        "/lib/systemd/system/vestibule.socket",
        "/usr/share/vestibule/systemd/systemd-252.conf",
        "/usr/share/man/man8/vestibule.8.gz",
        "/usr/share/doc/vestibule/copyright",
        "/usr/share/doc/vestibule/changelog.Debian.gz",
    ];
    for path in expected {
        assert!(
            listed.lines().any(|l| l == path),
            "dpkg -L lacks {path}:\n{listed}"
        );
    }
    // Every file under /etc is a conffile.
    let conffiles = run("dpkg-query", &["-W", "-f=${Conffiles}", "vestibule"]);
    let conffiles = String::from_utf8_lossy(&conffiles.stdout).into_owned();
    for path in expected.iter().filter(|p| p.starts_with("/etc/")) {
        assert!(
            conffiles
                .lines()
                .any(|l| l.split_whitespace().next() == Some(path)),
            "{path} is not a conffile:\n{conffiles}"
        );
    }
    assert_eq!(
        std::fs::read_to_string("/etc/vestibule/vestibule.conf").unwrap(),
        std::fs::read_to_string(format!("{ROOT}/conf/vestibule.conf")).unwrap()
    );

    // What postinst made: owners as nginx-common's, the default site, conf.d, the
    // drop-in for a systemd without Type=notify-reload.
    assert_eq!(owner_mode(LOG_DIR), ("root".into(), "adm".into(), 0o755));
    for log in ["access.log", "error.log"] {
        assert_eq!(
            owner_mode(&format!("{LOG_DIR}/{log}")),
            ("www-data".into(), "adm".into(), 0o640)
        );
    }
    assert_eq!(owner_mode(STATE_DIR), ("root".into(), "root".into(), 0o755));
    assert_eq!(
        std::fs::read_link("/etc/vestibule/sites-enabled/default").unwrap(),
        Path::new("/etc/vestibule/sites-available/default")
    );
    assert!(Path::new("/etc/vestibule/conf.d").is_dir());
    // No systemctl at all counts as old: postinst installs the drop-in then.
    let systemd = Command::new("systemctl")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let version: Option<u32> = systemd
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok());
    let needs_drop_in = version.is_none_or(|v| v < 253);
    assert_eq!(
        std::fs::metadata(DROP_IN).is_ok(),
        needs_drop_in,
        "drop-in for {systemd:?}"
    );

    // The installed tree passes -t as shipped, read from disk (not the built-ins).
    let t = run(BIN, &["-t"]);
    assert!(t.status.success(), "{}", text(&t));
    assert!(
        text(&t).contains("configuration file /etc/vestibule/vestibule.conf test is successful"),
        "{}",
        text(&t)
    );
    let dump = String::from_utf8_lossy(&run(BIN, &["-T"]).stdout).into_owned();
    let read: Vec<&str> = dump
        .lines()
        .filter_map(|l| l.strip_prefix("# configuration file "))
        .collect();
    assert_eq!(
        read,
        [
            "/etc/vestibule/vestibule.conf:",
            "/etc/vestibule/mime.types:",
            "/etc/vestibule/sites-enabled/default:",
            "/etc/vestibule/proxy_params:",
        ]
    );

    // Run as the unit runs it, on loopback instead of the default site's port 80.
    let unit = std::fs::read_to_string(UNIT).unwrap();
    let value = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("{key} in {UNIT}"))
            .to_string()
    };
    assert_eq!(value("ExecStart="), format!("{BIN} -g \"daemon off;\""));
    let bounding: Vec<String> = value("CapabilityBoundingSet=")
        .split_whitespace()
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase()))
        .collect();
    let bounding = format!("-all,{}", bounding.join(","));
    std::fs::remove_file("/etc/vestibule/sites-enabled/default").unwrap();
    let port = free_port();
    std::fs::write(
        TEST_SITE,
        format!(
            "server {{\n    listen 127.0.0.1:{port};\n    location / {{ return 200 \"packaged\\n\"; }}\n}}\n"
        ),
    )
    .unwrap();
    guard.master = Some(
        Command::new("setpriv")
            .args(["--bounding-set", &bounding, BIN, "-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let served = wait_until(Duration::from_secs(20), || {
        get(port, "/before-rotation").is_some_and(|r| r.ends_with("packaged\n"))
    });
    assert!(
        served,
        "no answer on {port}: {}",
        read_lossy(Path::new("/var/log/vestibule/error.log"))
    );
    let master = i32::try_from(guard.master.as_ref().unwrap().id()).unwrap();
    let workers = common::child_pids(master);
    assert!(!workers.is_empty());
    let www_data: u32 = String::from_utf8_lossy(&run("id", &["-u", "www-data"]).stdout)
        .trim()
        .parse()
        .unwrap();
    for w in &workers {
        assert_eq!(uid_of(*w), Some(www_data), "worker {w}");
    }
    let access = format!("{LOG_DIR}/access.log");
    assert!(wait_until(Duration::from_secs(10), || read_lossy(
        Path::new(&access)
    )
    .contains("GET /before-rotation")));

    // logrotate with the installed file: rotated, and the postrotate's USR1 makes the
    // workers write the next request to the new file.
    if have("logrotate", &["--version"]) {
        let state = dir.path().join("logrotate.state");
        let rotated = run(
            "logrotate",
            &[
                "-f",
                "-s",
                state.to_str().unwrap(),
                "/etc/logrotate.d/vestibule",
            ],
        );
        assert!(rotated.status.success(), "{}", text(&rotated));
        assert!(read_lossy(Path::new(&format!("{access}.1"))).contains("GET /before-rotation"));
        assert_eq!(
            owner_mode(&access),
            ("www-data".into(), "adm".into(), 0o640)
        );
        let reopened = wait_until(Duration::from_secs(10), || {
            let _ = get(port, "/after-rotation");
            read_lossy(Path::new(&access)).contains("GET /after-rotation")
        });
        // (A request sent before the USR1 reached a worker may be in the rotated file.)
        assert!(reopened, "the workers kept writing the rotated file");
    } else {
        eprintln!("skipped the rotation: no logrotate (tests/run.sh installs it with apt)");
    }

    // Nothing the master does needed more than the unit's capabilities.
    let errors = read_lossy(Path::new(&format!("{LOG_DIR}/error.log")));
    for level in ["[error]", "[emerg]", "[alert]", "[crit]"] {
        assert!(!errors.contains(level), "{errors}");
    }
    let body = owner_mode(&format!("{STATE_DIR}/body"));
    assert_eq!((body.0.as_str(), body.2), ("www-data", 0o700));

    // `-s quit` stops master and workers (the master may signal www-data's workers).
    let quit = run(BIN, &["-s", "quit"]);
    assert!(quit.status.success(), "{}", text(&quit));
    let mut child = guard.master.take().unwrap();
    let stopped = wait_until(Duration::from_secs(15), || {
        child.try_wait().ok().flatten().is_some()
    });
    if !stopped {
        guard.master = Some(child);
        panic!("the master did not stop on QUIT");
    }
    assert!(
        wait_until(Duration::from_secs(10), || workers
            .iter()
            .all(|w| !Path::new(&format!("/proc/{w}")).exists())),
        "workers left after QUIT"
    );

    // Upgraded to a later revision, then rolled back by installing the first .deb
    // again: the operator's edit of a conffile and the site they disabled are kept.
    let conf = "/etc/vestibule/vestibule.conf";
    let edited = format!("{}# edited by the operator\n", read_lossy(Path::new(conf)));
    std::fs::write(conf, &edited).unwrap();
    let later_dir = dir.path().join("later");
    let later = build_deb(&later_dir, 2).unwrap();
    for (deb, version) in [(&later, "2"), (&deb, "1")] {
        let out = dpkg(&["-i", deb.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "dpkg -i {}: {}",
            deb.display(),
            text(&out)
        );
        let installed = run("dpkg-query", &["-W", "-f=${Version}", "vestibule"]);
        assert_eq!(
            String::from_utf8_lossy(&installed.stdout),
            format!("{}-{version}", env!("CARGO_PKG_VERSION"))
        );
        assert_eq!(read_lossy(Path::new(conf)), edited);
        assert!(std::fs::symlink_metadata("/etc/vestibule/sites-enabled/default").is_err());
        assert_eq!(owner_mode(LOG_DIR), ("root".into(), "adm".into(), 0o755));
        let t = run(BIN, &["-t", "-q"]);
        assert!(t.status.success(), "{}", text(&t));
    }
    assert_eq!(
        running(BIN),
        already_running,
        "an upgrade started vestibule"
    );

    // Purged: nothing of it is left.
    std::fs::remove_file(TEST_SITE).unwrap();
    let out = dpkg(&["--purge", "vestibule"]);
    assert!(out.status.success(), "dpkg --purge: {}", text(&out));
    assert!(!is_installed());
    for path in listed.lines().filter(|p| !p.ends_with('/')) {
        let p = Path::new(path);
        assert!(
            p.is_dir() && !path.contains("vestibule") || !p.exists(),
            "{path} left after purge"
        );
    }
    for path in [
        "/etc/vestibule",
        LOG_DIR,
        STATE_DIR,
        DROP_IN,
        "/usr/share/vestibule",
    ] {
        assert!(
            std::fs::symlink_metadata(path).is_err(),
            "{path} left after purge"
        );
    }
}
