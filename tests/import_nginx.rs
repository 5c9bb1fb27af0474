//! `vestibule --import-nginx`, through the real binary: Debian's stock `/etc/nginx`
//! (imported, then served), every configuration of the corpus (`tests/corpus/`) laid
//! out as an nginx tree, a tree with `include` globs and symlinked sites, a
//! destination that exists and a source that does not. An imported tree must pass
//! `vestibule -t` with the nginx tree deleted: nothing in the copy may still point
//! into it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::tls::{Ca, Key};
use common::{free_port, read_lossy, wait_until, Client};

const STOCK: &str = "/etc/nginx";

fn vestibule(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .args(args)
        .output()
        .unwrap()
}

/// `vestibule --import-nginx SOURCE --into DEST [extra]`: (exit 0?, stdout, stderr).
fn import(source: &Path, dest: &Path, extra: &[&str]) -> (bool, String, String) {
    let mut args = vec![
        "--import-nginx",
        source.to_str().unwrap(),
        "--into",
        dest.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let out = vestibule(&args);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `vestibule -t -c MAIN`: (exit 0?, stderr).
fn test_config(main: &Path) -> (bool, String) {
    let out = vestibule(&["-t", "-c", main.to_str().unwrap()]);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The lines of one group of the report (after its heading, up to the blank line).
fn group<'a>(report: &'a str, heading: &str) -> Vec<&'a str> {
    report
        .lines()
        .skip_while(|l| !l.starts_with(heading))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect()
}

/// The names in a directory, sorted.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Every path under `dir`, relative, sorted (symlinks not followed).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        for e in std::fs::read_dir(dir.join(&rel)).unwrap() {
            let e = e.unwrap();
            let rel = rel.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                todo.push(rel.clone());
            }
            out.push(rel);
        }
    }
    out.sort();
    out
}

fn stock_present() -> bool {
    if Path::new(STOCK).join("nginx.conf").is_file() {
        return true;
    }
    eprintln!("{STOCK}/nginx.conf is absent: skipped (bash tests/run.sh installs nginx-light)");
    false
}

#[test]
fn debians_stock_tree_imports_whole_and_passes() {
    if !stock_present() {
        return;
    }
    let before = std::fs::read(Path::new(STOCK).join("nginx.conf")).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("vestibule");
    let (ok, report, stderr) = import(Path::new(STOCK), &dest, &[]);
    assert!(ok, "{report}\n{stderr}");
    assert_eq!(
        std::fs::read(Path::new(STOCK).join("nginx.conf")).unwrap(),
        before
    );

    // Everything is copied, nginx.conf under vestibule's name.
    let want: Vec<PathBuf> = walk(Path::new(STOCK))
        .into_iter()
        .map(|p| match p.to_str() {
            Some("nginx.conf") => PathBuf::from("vestibule.conf"),
            _ => p,
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut got = walk(&dest);
    got.sort();
    let mut want = want;
    want.sort();
    assert_eq!(got, want);
    assert_eq!(
        std::fs::read(dest.join("mime.types")).unwrap(),
        std::fs::read(Path::new(STOCK).join("mime.types")).unwrap()
    );

    let main = std::fs::read_to_string(dest.join("vestibule.conf")).unwrap();
    let d = dest.display();
    for line in [
        format!("include {d}/modules-enabled/*.conf;"),
        format!("include {d}/sites-enabled/*;"),
        format!("include {d}/mime.types;"),
        "pid /run/vestibule.pid;".to_string(),
        "access_log /var/log/vestibule/access.log;".to_string(),
        "error_log /var/log/vestibule/error.log;".to_string(),
    ] {
        assert!(main.contains(&line), "no {line:?} in:\n{main}");
    }
    assert!(!main.contains("include /etc/nginx"), "{main}");
    // The site's link now points into the copy; the module's stays where it was.
    assert_eq!(
        std::fs::read_link(dest.join("sites-enabled/default")).unwrap(),
        dest.join("sites-available/default")
    );
    for link in names(&dest.join("modules-enabled")) {
        let target = std::fs::read_link(dest.join("modules-enabled").join(&link)).unwrap();
        assert_eq!(
            target,
            std::fs::read_link(Path::new(STOCK).join("modules-enabled").join(&link)).unwrap()
        );
    }

    assert_eq!(
        group(&report, "must change"),
        Vec::<&str>::new(),
        "{report}"
    );
    let no_effect = group(&report, "accepted without effect");
    assert!(
        no_effect
            .iter()
            .any(|l| l.contains("\"types_hash_max_size\" has no effect in vestibule")),
        "{report}"
    );
    let honoured = group(&report, "honoured").join(" ");
    for name in ["listen ×2", "try_files", "server_name", "root", "gzip"] {
        assert!(honoured.contains(name), "{name} not honoured:\n{report}");
    }
    assert!(
        !honoured.contains("types_hash_max_size") && !honoured.contains("text/html"),
        "{report}"
    );
    assert!(report.contains("(symlink)"), "{report}");
    assert!(
        report.ends_with(&format!(
            "configuration file {d}/vestibule.conf test is successful\n"
        )),
        "{report}"
    );
    // The same verdict as -t.
    let (ok, stderr) = test_config(&dest.join("vestibule.conf"));
    assert!(ok, "{stderr}");
}

/// A child process we started, killed and reaped when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let pid = i32::try_from(self.0.id()).unwrap();
        common::signal(pid, libc::SIGQUIT);
        let exited = wait_until(Duration::from_secs(5), || {
            self.0.try_wait().ok().flatten().is_some()
        });
        if !exited {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The stock tree as if installed at another place, its runtime paths and port
/// moved into the test's directory; imported, then run: the default site answers.
#[test]
fn the_imported_stock_tree_serves_its_default_site() {
    if !stock_present() {
        return;
    }
    let page = Path::new("/var/www/html/index.nginx-debian.html");
    if !page.is_file() {
        eprintln!("{} is absent: skipped", page.display());
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("nginx");
    let status = Command::new("cp")
        .arg("-a")
        .arg(STOCK)
        .arg(&src)
        .status()
        .unwrap();
    assert!(status.success());
    let port = free_port();
    let edit = |rel: &str, pairs: &[(&str, String)]| {
        let path = src.join(rel);
        let mut text = std::fs::read_to_string(&path).unwrap();
        for (from, to) in pairs {
            assert!(text.contains(from), "{from:?} not in {rel}");
            text = text.replace(from, to);
        }
        std::fs::write(&path, text).unwrap();
    };
    let t = tmp.path().display().to_string();
    edit(
        "nginx.conf",
        &[
            ("/etc/nginx", src.display().to_string()),
            ("/run/nginx.pid", format!("{t}/vestibule.pid")),
            ("/var/log/nginx", t.clone()),
        ],
    );
    edit(
        "sites-available/default",
        &[
            (
                "listen 80 default_server;",
                format!("listen 127.0.0.1:{port} default_server;"),
            ),
            ("listen [::]:80 default_server;", String::new()),
        ],
    );
    std::fs::remove_file(src.join("sites-enabled/default")).unwrap();
    symlink(
        src.join("sites-available/default"),
        src.join("sites-enabled/default"),
    )
    .unwrap();

    let dest = tmp.path().join("vestibule");
    let (ok, report, stderr) = import(&src, &dest, &[]);
    assert!(ok, "{report}\n{stderr}");
    std::fs::remove_dir_all(&src).unwrap();

    let output = std::fs::File::create(tmp.path().join("output.log")).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .args(["-g", "daemon off;", "-c"])
        .arg(dest.join("vestibule.conf"))
        .stdin(Stdio::null())
        .stdout(output.try_clone().unwrap())
        .stderr(output)
        .spawn()
        .unwrap();
    let _running = Running(child);
    let up = wait_until(common::START_DEADLINE, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(
        up,
        "vestibule did not listen:\n{}\n{}",
        read_lossy(&tmp.path().join("output.log")),
        read_lossy(&tmp.path().join("error.log"))
    );
    let mut client = Client::connect(port);
    client.send(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let response = client.read_response(false);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(
        response.body,
        std::fs::read(page).unwrap(),
        "not the stock index page"
    );
}

// ---------------------------------------------------------------------------------
// The corpus

/// Debian's stock `nginx.conf` for a tree at `@TREE@`, with its runtime paths as
/// Debian has them (the import moves them to vestibule's).
const STOCK_MAIN: &str = "user www-data;
worker_processes auto;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log;
events { worker_connections 768; }
http {
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include @TREE@/mime.types;
    default_type application/octet-stream;
    ssl_protocols TLSv1.2 TLSv1.3;
    access_log /var/log/nginx/access.log;
    gzip on;
    include @TREE@/conf.d/*.conf;
    include @TREE@/sites-enabled/*;
}
";

/// The files the corpus names (`@DIR@/...`), laid out inside the tree so that the
/// import must carry them over.
fn lay_out(tree: &Path, ca: &Ca) {
    let subdirs = [
        "certs",
        "log",
        "run",
        "cache",
        "srv/site",
        "srv/downloads",
        "conf.d",
        "sites-available",
        "sites-enabled",
    ];
    common::corpus::lay_out(tree, ca, &subdirs);
}

/// Lays the corpus file `name` out as an nginx tree at `tree`: the site in
/// `sites-available/`, enabled by an absolute symlink, under the stock main file; a
/// file with its own `events` block is the main file.
fn corpus_tree(tree: &Path, name: &str, ca: &Ca) {
    lay_out(tree, ca);
    let t = tree.display().to_string();
    let text =
        std::fs::read_to_string(common::repo_dir().join(format!("tests/corpus/{name}.conf")))
            .unwrap()
            .replace("@DIR@", &t);
    if text.lines().any(|l| l.starts_with("events")) {
        std::fs::write(tree.join("nginx.conf"), text).unwrap();
        return;
    }
    std::fs::write(tree.join("sites-available").join(name), text).unwrap();
    symlink(
        tree.join("sites-available").join(name),
        tree.join("sites-enabled").join(name),
    )
    .unwrap();
    std::fs::write(tree.join("nginx.conf"), STOCK_MAIN.replace("@TREE@", &t)).unwrap();
}

/// What the import says about each corpus file that does not load, as in
/// tests/corpus.rs: a fragment of the must-change line, and what the report must also
/// say (what to do; the module's other directives, which `-t` does not repeat).
/// None since the cache came (18-microcache was the last).
const REFUSED: &[(&str, &str, &[&str])] = &[];

#[test]
fn every_corpus_file_imports_and_the_copy_stands_alone() {
    let corpus = common::repo_dir().join("tests/corpus");
    let files: Vec<String> = names(&corpus)
        .into_iter()
        .filter_map(|n| n.strip_suffix(".conf").map(str::to_string))
        .collect();
    assert_eq!(files.len(), 35, "the corpus has 35 files");
    let ca = Ca::new("Import Test CA");
    let tmp = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    for name in &files {
        let tree = tmp.path().join(name).join("nginx");
        std::fs::create_dir_all(&tree).unwrap();
        corpus_tree(&tree, name, &ca);
        let dest = tmp.path().join(name).join("vestibule");
        let (ok, report, stderr) = import(&tree, &dest, &[]);
        let must_change = group(&report, "must change");
        // The copy must not lean on the tree: it goes before the copy is checked.
        std::fs::remove_dir_all(&tree).unwrap();
        let (t_ok, t_stderr) = test_config(&dest.join("vestibule.conf"));
        if ok != t_ok {
            wrong.push(format!(
                "{name}: the import and -t disagree:\n{report}\n{t_stderr}"
            ));
        }
        let key = dest.join("certs/privkey.pem");
        let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
        if mode != 0o600 {
            wrong.push(format!("{name}: the key's mode is {mode:o}"));
        }
        match REFUSED.iter().find(|(n, ..)| n == name) {
            None if ok && must_change.is_empty() => {}
            None => wrong.push(format!("{name} does not import:\n{report}\n{stderr}")),
            Some(_) if ok => wrong.push(format!("{name} passes now: drop it from REFUSED")),
            Some((_, line, also)) => {
                let all_say = !must_change.is_empty()
                    && must_change
                        .iter()
                        .filter(|l| !l.trim_start().starts_with("->"))
                        .filter(|l| !l.trim_start().starts_with("then run"))
                        .all(|l| l.contains(line) || l.ends_with(": remove it too"));
                let honoured = group(&report, "honoured").join(" ");
                if !all_say
                    || also.iter().any(|a| !report.contains(a))
                    || honoured.contains("proxy_cache")
                    || !dest.join("vestibule.conf").is_file()
                {
                    wrong.push(format!(
                        "{name}: not reported as {line:?} / {also:?}:\n{report}"
                    ));
                }
                if !report.ends_with("test failed\n") {
                    wrong.push(format!("{name}: no failed verdict:\n{report}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n\n"));
}

// ---------------------------------------------------------------------------------
// Trees built for one behaviour

/// A tree with relative and absolute `include` globs, sites enabled by absolute,
/// relative and outside-pointing symlinks, an htpasswd and a certificate under the
/// tree, a comment naming the tree and a binary file.
#[test]
fn globs_symlinked_sites_and_files_under_the_tree_carry_over() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("nginx");
    let outside = tmp.path().join("elsewhere");
    for sub in [
        "conf.d",
        "snippets",
        "sites-available",
        "sites-enabled",
        "ssl",
    ] {
        std::fs::create_dir_all(tree.join(sub)).unwrap();
    }
    std::fs::create_dir_all(&outside).unwrap();
    let t = tree.display().to_string();
    let ca = Ca::new("Glob Test CA");
    let leaf = ca.issue(&["c.example"], Key::Ecdsa);
    std::fs::write(
        tree.join("ssl/c.pem"),
        format!("{}{}", leaf.cert_pem, ca.pem()),
    )
    .unwrap();
    std::fs::write(tree.join("ssl/c.key"), &leaf.key_pem).unwrap();
    std::fs::write(
        tree.join(".htpasswd"),
        "user:$apr1$0pLAqFaL$Yw1ybAZ1RG0QxrN5R4U5e/\n",
    )
    .unwrap();
    let binary: Vec<u8> = (0..=255u8).collect();
    std::fs::write(tree.join("blob.bin"), &binary).unwrap();
    std::fs::write(
        tree.join("nginx.conf"),
        format!(
            "# this tree lives in {t}/ (the comment stays)\n\
             pid {t}/run.pid;\n\
             events {{}}\n\
             http {{\n    include conf.d/*.conf;\n    include \"{t}/sites-enabled/*\";\n}}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        tree.join("conf.d/log.conf"),
        format!("access_log {t}/access.log;\n"),
    )
    .unwrap();
    std::fs::write(
        tree.join("snippets/auth.conf"),
        format!("auth_basic \"staff\";\nauth_basic_user_file {t}/.htpasswd;\n"),
    )
    .unwrap();
    std::fs::write(
        tree.join("sites-available/a"),
        format!(
            "server {{\n    listen 127.0.0.1:8081;\n    server_name a.example;\n    location / {{ include {t}/snippets/*.conf; return 200; }}\n}}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        tree.join("sites-available/c"),
        format!(
            "server {{\n    listen 127.0.0.1:8443 ssl;\n    server_name c.example;\n    ssl_certificate {t}/ssl/c.pem;\n    ssl_certificate_key '{t}/ssl/c.key';\n}}\n"
        ),
    )
    .unwrap();
    // Not enabled, still configuration: rewritten too.
    std::fs::write(
        tree.join("sites-available/unused"),
        format!("server {{ root {t}/www; }}\n"),
    )
    .unwrap();
    std::fs::write(
        outside.join("b"),
        "server {\n    listen 127.0.0.1:8082;\n    server_name b.example;\n    root /var/www;\n}\n",
    )
    .unwrap();
    symlink(tree.join("sites-available/a"), tree.join("sites-enabled/a")).unwrap();
    symlink(outside.join("b"), tree.join("sites-enabled/b")).unwrap();
    symlink("../sites-available/c", tree.join("sites-enabled/c")).unwrap();
    // Relative, out of the tree: from the copy it would lead elsewhere.
    symlink("../../elsewhere/b", tree.join("sites-available/b-relative")).unwrap();

    let dest = tmp.path().join("vestibule");
    // The main file may be named instead of its directory.
    let (ok, report, stderr) = import(&tree.join("nginx.conf"), &dest, &[]);
    assert!(ok, "{report}\n{stderr}");
    let d = dest.display().to_string();

    let read = |rel: &str| std::fs::read_to_string(dest.join(rel)).unwrap();
    assert_eq!(
        read("vestibule.conf"),
        format!(
            "# this tree lives in {t}/ (the comment stays)\n\
             pid {d}/run.pid;\n\
             events {{}}\n\
             http {{\n    include conf.d/*.conf;\n    include \"{d}/sites-enabled/*\";\n}}\n"
        )
    );
    assert_eq!(
        read("conf.d/log.conf"),
        format!("access_log {d}/access.log;\n")
    );
    assert!(read("snippets/auth.conf").contains(&format!("auth_basic_user_file {d}/.htpasswd;")));
    assert!(read("sites-available/c").contains(&format!("ssl_certificate_key '{d}/ssl/c.key';")));
    assert_eq!(
        read("sites-available/unused"),
        format!("server {{ root {d}/www; }}\n")
    );
    assert_eq!(std::fs::read(dest.join("blob.bin")).unwrap(), binary);
    assert_eq!(read(".htpasswd"), read_lossy(&tree.join(".htpasswd")));

    let link = |name: &str| std::fs::read_link(dest.join("sites-enabled").join(name)).unwrap();
    assert_eq!(link("a"), dest.join("sites-available/a"));
    assert_eq!(link("b"), outside.join("b"), "a link out of the tree stays");
    assert_eq!(link("c"), PathBuf::from("../sites-available/c"));
    assert_eq!(
        std::fs::read_link(dest.join("sites-available/b-relative")).unwrap(),
        outside.join("b"),
        "a relative link out of the tree is made absolute"
    );

    // The copy stands alone, and every site in it loads.
    std::fs::remove_dir_all(&tree).unwrap();
    let (ok, stderr) = test_config(&dest.join("vestibule.conf"));
    assert!(ok, "{stderr}");
    let honoured = group(&report, "honoured").join(" ");
    for name in [
        "server ×3",
        "auth_basic_user_file",
        "ssl_certificate",
        "access_log",
    ] {
        assert!(honoured.contains(name), "{name} not honoured:\n{report}");
    }
    assert!(
        report.contains(&format!(
            "{d}/sites-available/c:4: {t}/ssl/c.pem -> {d}/ssl/c.pem"
        )),
        "{report}"
    );
}

#[test]
fn an_existing_destination_is_kept_unless_forced() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("nginx");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("nginx.conf"), "events {}\nhttp {}\n").unwrap();
    let dest = tmp.path().join("vestibule");
    std::fs::create_dir_all(&dest).unwrap();
    std::fs::write(dest.join("mine.conf"), "# the user's\n").unwrap();

    let (ok, report, stderr) = import(&tree, &dest, &[]);
    assert!(!ok);
    assert_eq!(report, "");
    assert!(
        stderr.contains(&format!(
            "[emerg] \"{}\" exists: import into another directory with --into DIR, or pass --force",
            dest.display()
        )),
        "{stderr}"
    );
    assert_eq!(names(&dest), ["mine.conf"]);
    assert_eq!(names(tmp.path()), ["nginx", "vestibule"], "no staging left");

    let (ok, report, stderr) = import(&tree, &dest, &["--force"]);
    assert!(ok, "{report}\n{stderr}");
    assert_eq!(names(&dest), ["vestibule.conf"]);
    let entries = names(tmp.path());
    assert_eq!(entries.len(), 3, "{entries:?}");
    let kept = entries
        .iter()
        .find(|n| n.starts_with("vestibule.before-import-"))
        .unwrap();
    assert_eq!(names(&tmp.path().join(kept)), ["mine.conf"]);
    assert!(report.contains(&format!("is kept as {}", tmp.path().join(kept).display())));
}

#[test]
fn a_missing_or_wrong_source_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("vestibule");
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let cases: &[(&Path, String)] = &[
        (
            &tmp.path().join("absent"),
            format!(
                "[emerg] cannot import \"{}\": No such file or directory",
                tmp.path().join("absent").display()
            ),
        ),
        (
            &empty,
            format!("[emerg] \"{}\" holds no nginx.conf", empty.display()),
        ),
    ];
    for (source, want) in cases {
        let (ok, report, stderr) = import(source, &dest, &[]);
        assert!(!ok && report.is_empty(), "{report}");
        assert!(stderr.contains(want.as_str()), "{stderr}");
        assert_eq!(names(tmp.path()), ["empty"], "nothing written");
    }
    // A destination inside the tree would copy itself.
    std::fs::write(empty.join("nginx.conf"), "events {}\n").unwrap();
    let (ok, _, stderr) = import(&empty, &empty.join("v"), &[]);
    assert!(!ok);
    assert!(stderr.contains("overlap"), "{stderr}");
    assert_eq!(names(&empty), ["nginx.conf"]);
}

#[test]
fn help_names_the_import() {
    let out = vestibule(&["-h"]);
    let help = String::from_utf8_lossy(&out.stderr);
    assert!(
        help.contains("vestibule --import-nginx dir [--into dir] [--force]"),
        "{help}"
    );
}

/// A copy that fails part way (here: more files than an nginx tree has, the copy's
/// bound) leaves neither the destination nor its staging directory behind.
#[test]
fn a_copy_that_fails_part_way_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let tree = tmp.path().join("nginx");
    let many = tree.join("many");
    std::fs::create_dir_all(&many).unwrap();
    std::fs::write(tree.join("nginx.conf"), "events {}\n").unwrap();
    for i in 0..10_001 {
        std::fs::write(many.join(i.to_string()), "").unwrap();
    }
    let dest = tmp.path().join("vestibule");
    let (ok, report, stderr) = import(&tree, &dest, &[]);
    assert!(!ok && report.is_empty(), "{report}");
    assert!(
        stderr.contains("more than 10000 files under")
            && stderr.contains(&format!("(nothing was written to \"{}\")", dest.display())),
        "{stderr}"
    );
    assert_eq!(names(tmp.path()), ["nginx"], "nothing written");
}
