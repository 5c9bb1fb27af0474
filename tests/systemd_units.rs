//! The shipped units pass `systemd-analyze verify` (with the unit's binary path
//! pointed at the one just built): `vestibule.service` (Type=notify-reload) and
//! `vestibule.socket` with an analyzer of systemd 253 or later, and the service with
//! its `systemd-252.conf` drop-in with the host's own analyzer. tests/run.sh provides
//! both (`tests/tools/systemd-analyze-253.sh`, `VESTIBULE_SYSTEMD_ANALYZE`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::process::{Command, Output};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Copies `systemd/<name>` into `dir` with the binary path of this build.
fn install(dir: &Path, name: &str) {
    let text = std::fs::read_to_string(format!("{ROOT}/systemd/{name}")).unwrap();
    let target = dir.join(name);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(
        target,
        text.replace("/usr/sbin/vestibule", env!("CARGO_BIN_EXE_vestibule")),
    )
    .unwrap();
}

fn major_version(analyzer: &str) -> u32 {
    let out = Command::new(analyzer).arg("--version").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{analyzer} --version: {text}"))
}

/// An analyzer that knows Type=notify-reload.
fn analyzer_253() -> String {
    let analyzer = std::env::var("VESTIBULE_SYSTEMD_ANALYZE").unwrap_or_else(|_| {
        let out = Command::new("bash")
            .arg(format!("{ROOT}/tests/tools/systemd-analyze-253.sh"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    });
    assert!(
        major_version(&analyzer) >= 253,
        "{analyzer} is older than 253"
    );
    analyzer
}

fn verify(analyzer: &str, unit: &Path) -> Output {
    Command::new(analyzer)
        .arg("verify")
        .arg(unit)
        .output()
        .expect("systemd-analyze (bash tests/run.sh provides it)")
}

#[test]
fn vestibule_service_verifies_as_notify_reload() {
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), "vestibule.service");
    let out = verify(&analyzer_253(), &dir.path().join("vestibule.service"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("vestibule."), "{stderr}");
    let unit = std::fs::read_to_string(dir.path().join("vestibule.service")).unwrap();
    assert!(unit.lines().any(|l| l == "Type=notify-reload"), "{unit}");
}

#[test]
fn vestibule_socket_verifies_beside_its_service() {
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), "vestibule.service");
    install(dir.path(), "vestibule.socket");
    let out = verify(&analyzer_253(), &dir.path().join("vestibule.socket"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("vestibule."), "{stderr}");
}

/// On the host's systemd: with 252 or older the drop-in turns the unit into
/// Type=notify with a SIGHUP ExecReload, and the only complaint is the unknown type
/// the drop-in replaces. A broken copy of the drop-in is reported, so it is read.
#[test]
fn service_with_the_systemd_252_drop_in_verifies_on_the_host() {
    let host_version = major_version("systemd-analyze");
    let dir = tempfile::tempdir().unwrap();
    install(dir.path(), "vestibule.service");
    install(dir.path(), "vestibule.service.d/systemd-252.conf");
    let unit = dir.path().join("vestibule.service");
    let out = verify("systemd-analyze", &unit);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("vestibule."))
        .filter(|l| !(host_version < 253 && l.contains("Failed to parse service type")))
        .collect();
    assert!(complaints.is_empty(), "{stderr}");

    // The drop-in is really loaded: a bad command in it is reported.
    let drop_in = dir.path().join("vestibule.service.d/systemd-252.conf");
    let text = std::fs::read_to_string(&drop_in).unwrap();
    std::fs::write(&drop_in, text.replace("/bin/kill", "relative/kill")).unwrap();
    let out = verify("systemd-analyze", &unit);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("systemd-252.conf"), "{stderr}");
}
