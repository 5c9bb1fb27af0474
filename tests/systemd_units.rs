//! The shipped units pass `systemd-analyze verify` (with the unit's binary path
//! pointed at the one just built). tests/run.sh installs systemd's tools if missing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

#[test]
fn vestibule_service_verifies() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/systemd/vestibule.service"
    ))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vestibule.service");
    std::fs::write(
        &path,
        unit.replace("/usr/sbin/vestibule", env!("CARGO_BIN_EXE_vestibule")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (bash tests/run.sh installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let complaints: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("vestibule.service"))
        .collect();
    assert!(complaints.is_empty(), "{stderr}");
}

#[test]
fn vestibule_socket_verifies_beside_its_service() {
    let dir = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    for name in ["vestibule.service", "vestibule.socket"] {
        let text = std::fs::read_to_string(format!("{root}/systemd/{name}")).unwrap();
        std::fs::write(
            dir.path().join(name),
            text.replace("/usr/sbin/vestibule", env!("CARGO_BIN_EXE_vestibule")),
        )
        .unwrap();
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(dir.path().join("vestibule.socket"))
        .output()
        .expect("systemd-analyze (bash tests/run.sh installs it)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("vestibule."), "{stderr}");
}
