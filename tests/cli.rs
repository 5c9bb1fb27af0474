//! The binary's command line, run as a user runs it: the guide's Debian-style layout
//! under `-t`, the info lines for tuning directives, `-T` dumping each file once, `-q`, `-g`, `-e`, `-v`/`-V`/`-h`, and `-s`
//! signalling a real process through a real pid file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

fn vestibule(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .args(args)
        .output()
        .expect("run vestibule")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const GUIDE_SITE: &str = "server {
listen 80;
server_name example.com www.example.com;
location /static/ {
alias STATIC/;
}
location / {
include proxy_params;
proxy_pass http://127.0.0.1:8000;
proxy_redirect off;
}
}
";

/// /etc/vestibule as the guide sets up /etc/nginx: a main file including
/// `sites-enabled/*`, the site in `sites-available/`, enabled by a symlink.
fn debian_layout(dir: &Path) -> std::path::PathBuf {
    let static_dir = dir.join("www/static");
    std::fs::create_dir_all(&static_dir).unwrap();
    std::fs::create_dir_all(dir.join("sites-available")).unwrap();
    std::fs::create_dir_all(dir.join("sites-enabled")).unwrap();
    std::fs::create_dir_all(dir.join("conf.d")).unwrap();
    let main = dir.join("vestibule.conf");
    std::fs::write(
        &main,
        "worker_processes auto;\nevents { worker_connections 768; }\nhttp {\n    include mime.types;\n    include conf.d/*.conf;\n    include sites-enabled/*;\n}\n",
    )
    .unwrap();
    let site = dir.join("sites-available/flaskapp");
    std::fs::write(
        &site,
        GUIDE_SITE.replace("STATIC", static_dir.to_str().unwrap()),
    )
    .unwrap();
    std::os::unix::fs::symlink(&site, dir.join("sites-enabled/flaskapp")).unwrap();
    main
}

#[test]
fn test_flag_accepts_the_guides_layout() {
    let dir = tempfile::tempdir().unwrap();
    let main = debian_layout(dir.path());
    let out = vestibule(&["-t", "-c", main.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "vestibule: the configuration file {0} syntax is ok\nvestibule: configuration file {0} test is successful\n",
            main.display()
        )
    );
    let quiet = vestibule(&["-tq", "-c", main.to_str().unwrap()]);
    assert!(quiet.status.success());
    assert_eq!(stderr(&quiet), "", "-q prints nothing on success");
}

#[test]
fn tuning_directives_are_listed_at_info_level_unless_quiet() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("vestibule.conf");
    std::fs::write(
        &main,
        "events { worker_connections 768; }\nhttp {\n    types_hash_max_size 2048;\n    server_names_hash_bucket_size 64;\n    server { listen 127.0.0.1:8080; }\n}\n",
    )
    .unwrap();
    let out = vestibule(&["-t", "-c", main.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stderr(&out),
        format!(
            "vestibule: [info] \"types_hash_max_size\" has no effect in vestibule in {0}:3\n\
             vestibule: [info] \"server_names_hash_bucket_size\" has no effect in vestibule in {0}:4\n\
             vestibule: the configuration file {0} syntax is ok\n\
             vestibule: configuration file {0} test is successful\n",
            main.display()
        )
    );
    let quiet = vestibule(&["-tq", "-c", main.to_str().unwrap()]);
    assert!(quiet.status.success());
    assert_eq!(stderr(&quiet), "", "-q leaves out the info lines too");
}

#[test]
fn broken_include_reports_its_own_path_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let main = debian_layout(dir.path());
    let site = dir.path().join("sites-available/flaskapp");
    std::fs::write(
        &site,
        GUIDE_SITE.replace("proxy_redirect off;", "proxy_redirect off"),
    )
    .unwrap();
    let out = vestibule(&["-t", "-c", main.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    // The site is read through the sites-enabled symlink, so that is the path named.
    let enabled = dir.path().join("sites-enabled/flaskapp");
    assert_eq!(
        stderr(&out),
        format!(
            "vestibule: [emerg] unexpected \"}}\" in {}:11\nvestibule: configuration file {} test failed\n",
            enabled.display(),
            main.display()
        )
    );
}

#[test]
fn dump_prints_every_file_once_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let main = debian_layout(dir.path());
    // A second site that also includes proxy_params: it is still dumped once.
    let other = "server {\n    listen 8081;\n    location / { include proxy_params; proxy_pass http://127.0.0.1:8000; }\n}\n";
    std::fs::write(dir.path().join("conf.d/other.conf"), other).unwrap();
    std::fs::write(
        dir.path().join("proxy_params"),
        "proxy_set_header Host $host; # on disk\n",
    )
    .unwrap();
    let out = vestibule(&["-T", "-c", main.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dump = String::from_utf8(out.stdout).unwrap();
    let d = dir.path().display();
    let site = std::fs::read_to_string(dir.path().join("sites-available/flaskapp")).unwrap();
    let expected = format!(
        "# configuration file {d}/vestibule.conf:\n{main}\n# configuration file {d}/mime.types (built in: not on disk):\n{mime}\n# configuration file {d}/conf.d/other.conf:\n{other}\n# configuration file {d}/proxy_params:\nproxy_set_header Host $host; # on disk\n\n# configuration file {d}/sites-enabled/flaskapp:\n{site}\n",
        main = std::fs::read_to_string(&main).unwrap(),
        mime = vestibule::config::builtin::MIME_TYPES,
    );
    assert_eq!(dump, expected);
    assert_eq!(dump.matches("/proxy_params:").count(), 1);
}

#[test]
fn command_line_directives_and_their_errors() {
    let dir = tempfile::tempdir().unwrap();
    let main = debian_layout(dir.path());
    let ok = vestibule(&[
        "-t",
        "-c",
        main.to_str().unwrap(),
        "-g",
        "daemon off; worker_rlimit_nofile 1024;",
    ]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let bad = vestibule(&["-t", "-c", main.to_str().unwrap(), "-g", "demon off;"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        stderr(&bad)
            .starts_with("vestibule: [emerg] unknown directive \"demon\" in command line\n"),
        "{}",
        stderr(&bad)
    );
    let dup = vestibule(&[
        "-t",
        "-c",
        main.to_str().unwrap(),
        "-g",
        "worker_processes 2;",
    ]);
    assert!(stderr(&dup).contains(&format!(
        "\"worker_processes\" directive is duplicate in {}:1",
        main.display()
    )));
}

#[test]
fn error_log_option_also_receives_the_errors() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("bad.conf");
    std::fs::write(&conf, "http { bogus; }\n").unwrap();
    let log = dir.path().join("early.log");
    let out = vestibule(&[
        "-t",
        "-c",
        conf.to_str().unwrap(),
        "-e",
        log.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logged, stderr(&out));
    assert!(logged.contains("unknown directive \"bogus\""));
}

#[test]
fn version_and_help() {
    let v = vestibule(&["-v"]);
    assert!(v.status.success());
    assert_eq!(
        stderr(&v),
        format!(
            "vestibule version: vestibule/{}\n",
            env!("CARGO_PKG_VERSION")
        )
    );
    let big_v = vestibule(&["-V"]);
    assert!(big_v.status.success() && big_v.stdout.is_empty());
    let big_v = stderr(&big_v);
    assert!(big_v.starts_with(&format!(
        "vestibule version: vestibule/{}\nconfiguration language: nginx/",
        env!("CARGO_PKG_VERSION")
    )));
    for line in [
        "TLS SNI support enabled\n",
        " --with-http_ssl_module ",
        "default configuration file: /etc/vestibule/vestibule.conf\n",
    ] {
        assert!(big_v.contains(line), "{line:?} in {big_v}");
    }
    assert!(!big_v.contains("nginx version:"), "{big_v}");
    let h = vestibule(&["-h"]);
    assert!(h.status.success());
    assert!(stderr(&h)
        .contains("-s signal     : send signal to a master process: stop, quit, reopen, reload"));
    let bad = vestibule(&["-x"]);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(stderr(&bad), "vestibule: invalid option: \"x\"\n");
}

/// The binary run through a symlink named `nginx`, as a package installing vestibule as
/// an alternative for nginx ships it, and as certbot's `--nginx-ctl` runs it.
fn as_nginx(dir: &Path, args: &[&str]) -> Output {
    let link = dir.join("nginx");
    if !link.exists() {
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_vestibule"), &link).unwrap();
    }
    Command::new(&link)
        .args(args)
        .output()
        .expect("run vestibule as nginx")
}

/// certbot's nginx plugin (2.1, `configurator.py`) runs `nginx -c FILE -V` and reads
/// standard error only: the version with `nginx version: ([^/]+)/([0-9\.]*)`, then
/// ` --with-http_ssl_module`, `TLS SNI support enabled` and `built with OpenSSL
/// ([^ ]+) ` (whose version, at least 1.0.2l, lets it turn session tickets off).
#[test]
fn as_nginx_dash_v_says_what_certbot_reads() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, "events {}\nhttp {}\n").unwrap();
    let out = as_nginx(dir.path(), &["-c", conf.to_str().unwrap(), "-V"]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "certbot ignores stdout");
    let text = stderr(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        format!(
            "nginx version: nginx/1.25.5 (vestibule/{})",
            env!("CARGO_PKG_VERSION")
        )
    );
    assert!(
        lines[1].starts_with("built with OpenSSL 1.1.1 (compatible; AWS-LC ")
            && lines[1].contains("rustls"),
        "{}",
        lines[1]
    );
    assert_eq!(lines[2], "TLS SNI support enabled");
    assert!(
        lines[3].starts_with("configure arguments: "),
        "{}",
        lines[3]
    );
    assert!(
        lines[3].contains(" --with-http_ssl_module "),
        "{}",
        lines[3]
    );
    assert!(lines[3].contains(" --conf-path=/etc/vestibule/vestibule.conf "));
    assert_eq!(lines.len(), 4, "{text}");
    // `-v`: the version line alone, in nginx's form.
    let v = as_nginx(dir.path(), &["-v"]);
    assert!(v.status.success());
    assert_eq!(stderr(&v), format!("{}\n", lines[0]));
    // Everything else is the same program: `-t` is vestibule's.
    let t = as_nginx(dir.path(), &["-c", conf.to_str().unwrap(), "-t"]);
    assert!(t.status.success(), "{}", stderr(&t));
}

#[test]
fn missing_default_configuration_tests_the_built_in_one() {
    if Path::new("/etc/vestibule/vestibule.conf").exists() {
        // An installed configuration is what -t must test then; covered elsewhere.
        return;
    }
    let out = vestibule(&["-t"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).starts_with(
        "vestibule: [notice] \"/etc/vestibule/vestibule.conf\" does not exist, using the built-in configuration"
    ));
}

/// `-s reload` reads the pid file named by the configuration and sends SIGHUP. The
/// master is not part of this issue, so a real `sleep` process stands in for it: HUP's
/// default action ends it, which shows the signal arrived.
#[test]
fn signal_option_sends_the_signal_to_the_pid_in_the_pid_file() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("vestibule.pid");
    let conf = dir.path().join("v.conf");
    std::fs::write(&conf, format!("pid {};\nhttp {{}}\n", pid_file.display())).unwrap();

    let missing = vestibule(&["-s", "reload", "-c", conf.to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(stderr(&missing).starts_with(&format!(
        "vestibule: [error] open() \"{}\" failed (2: No such file or directory)",
        pid_file.display()
    )));

    for (signal, number) in [
        ("reload", libc::SIGHUP),
        ("stop", libc::SIGTERM),
        ("quit", libc::SIGQUIT),
        ("reopen", libc::SIGUSR1),
    ] {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        std::fs::write(&pid_file, format!("{}\n", child.id())).unwrap();
        let out = vestibule(&["-s", signal, "-c", conf.to_str().unwrap()]);
        assert!(out.status.success(), "{signal}: {}", stderr(&out));
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "{signal}: process still running");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert_eq!(status.signal(), Some(number), "{signal}");
    }

    std::fs::write(&pid_file, "2147483646\n").unwrap();
    let gone = vestibule(&["-s", "reload", "-c", conf.to_str().unwrap()]);
    assert_eq!(gone.status.code(), Some(1));
    assert_eq!(
        stderr(&gone),
        "vestibule: [error] kill(2147483646, 1) failed (3: No such process)\n"
    );
}

/// `-s reload` loads the whole configuration first, certificates included, and signals
/// nothing when it does not load: exit 1 with the reason. certbot relies on it (a
/// non-zero reload makes it start the server itself, then roll its edits back).
#[test]
fn reload_of_a_configuration_that_does_not_load_signals_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pid_file = d.join("v.pid");
    let pair = |name: &str| {
        let k = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        std::fs::write(d.join(format!("{name}.pem")), k.cert.pem()).unwrap();
        std::fs::write(d.join(format!("{name}.key")), k.key_pair.serialize_pem()).unwrap();
    };
    pair("a");
    pair("b");
    std::fs::write(d.join("garbage.pem"), "not a certificate\n").unwrap();
    let conf = d.join("v.conf");
    let tls = |cert: &str, key: &str, extra: &str| {
        format!(
            "pid {};\nhttp {{\n{extra}server {{ listen 127.0.0.1:1 ssl; ssl_certificate {}; ssl_certificate_key {}; }}\n}}\n",
            pid_file.display(),
            d.join(cert).display(),
            d.join(key).display()
        )
    };
    let cases = [
        (
            tls("a.pem", "a.key", "no_such_directive on;\n"),
            "unknown directive \"no_such_directive\"",
        ),
        (
            tls("none.pem", "a.key", ""),
            "open() failed (2: No such file or directory)",
        ),
        (
            tls("garbage.pem", "a.key", ""),
            "no \"BEGIN CERTIFICATE\" block",
        ),
        (tls("a.pem", "b.key", ""), "does not match the certificate"),
        (
            tls("a.pem", "garbage.pem", ""),
            "cannot load certificate key",
        ),
    ];
    for (text, reason) in cases {
        std::fs::write(&conf, &text).unwrap();
        // A stand-in master: HUP's default action would end it.
        let mut master = Command::new("sleep").arg("30").spawn().unwrap();
        std::fs::write(&pid_file, format!("{}\n", master.id())).unwrap();
        let out = vestibule(&["-s", "reload", "-c", conf.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{reason}: {}", stderr(&out));
        assert!(stderr(&out).contains(reason), "{reason}: {}", stderr(&out));
        std::thread::sleep(Duration::from_millis(100));
        assert!(master.try_wait().unwrap().is_none(), "{reason}: signalled");
        master.kill().unwrap();
        master.wait().unwrap();
    }
    // The same configuration with a good pair is signalled.
    std::fs::write(&conf, tls("a.pem", "a.key", "")).unwrap();
    let mut master = Command::new("sleep").arg("30").spawn().unwrap();
    std::fs::write(&pid_file, format!("{}\n", master.id())).unwrap();
    let out = vestibule(&["-s", "reload", "-c", conf.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(master.wait().unwrap().signal(), Some(libc::SIGHUP));
}

/// `-p DIR/ -c conf/main.conf -e error.log` run from `/`, as nginx resolves them: `-c`
/// and `-e` against the prefix, `include` against the main file's directory, `root`,
/// `pid` and `access_log` against the prefix. No `error_log` is written, so errors go
/// to the `-e` file.
#[test]
fn prefix_relative_paths_resolve_as_nginx_does() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path();
    // Workers may run as nobody (root master, no `user`): let them in.
    std::fs::set_permissions(prefix, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    for sub in ["conf/sites", "html", "logs"] {
        std::fs::create_dir_all(prefix.join(sub)).unwrap();
    }
    std::fs::write(prefix.join("html/index.html"), "from the prefix\n").unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    std::fs::write(
        prefix.join("conf/main.conf"),
        "daemon off;\nworker_processes 1;\npid logs/v.pid;\nevents {}\nhttp {\n    include sites/*.conf;\n}\n",
    )
    .unwrap();
    std::fs::write(
        prefix.join("conf/sites/site.conf"),
        format!(
            "server {{\n    listen 127.0.0.1:{port};\n    root html;\n    access_log logs/access.log;\n    location /missing {{ proxy_pass http://127.0.0.1:1; }}\n}}\n"
        ),
    )
    .unwrap();
    let prefix_arg = format!("{}/", prefix.display());
    let tested = Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .current_dir("/")
        .args([
            "-t",
            "-p",
            &prefix_arg,
            "-c",
            "conf/main.conf",
            "-e",
            "error.log",
        ])
        .output()
        .unwrap();
    assert!(tested.status.success(), "{}", stderr(&tested));
    let child = Command::new(env!("CARGO_BIN_EXE_vestibule"))
        .current_dir("/")
        .args(["-p", &prefix_arg, "-c", "conf/main.conf", "-e", "error.log"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut child = KillOnDrop(child);
    let child = &mut child.0;
    let started = Instant::now();
    let body = loop {
        let answer = std::net::TcpStream::connect(("127.0.0.1", port)).and_then(|mut s| {
            use std::io::{Read, Write};
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
            let mut text = String::new();
            s.read_to_string(&mut text)?;
            Ok(text)
        });
        match answer {
            Ok(text) => break text,
            Err(e) => {
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "not serving: {e}"
                );
                assert!(child.try_wait().unwrap().is_none(), "vestibule exited");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    assert!(body.starts_with("HTTP/1.1 200"), "{body}");
    assert!(body.ends_with("from the prefix\n"), "{body}");
    // A 502 puts an error line in the -e file.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    {
        use std::io::{Read, Write};
        s.write_all(b"GET /missing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("HTTP/1.1 502"), "{text}");
    }
    let pid: u32 = std::fs::read_to_string(prefix.join("logs/v.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(pid, child.id());
    let access = wait_for_text(&prefix.join("logs/access.log"), "\"GET / HTTP/1.1\" 200");
    assert!(access.contains("\"GET / HTTP/1.1\" 200"), "{access}");
    let errors = wait_for_text(&prefix.join("error.log"), "connect() failed");
    assert!(errors.contains("connect() failed"), "{errors}");
    // SAFETY: kill(2) on the pid of a child this test started.
    unsafe { libc::kill(i32::try_from(child.id()).unwrap(), libc::SIGQUIT) };
    child.wait().unwrap();
}

/// The text of `path` once it contains `needle` (logs are written by workers, the
/// access log on a flush timer), or what it holds after ten seconds.
fn wait_for_text(path: &Path, needle: &str) -> String {
    let started = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(needle) || started.elapsed() > Duration::from_secs(10) {
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A started vestibule that a failing assertion must not leave running.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Copies Debian's /etc/nginx (through its symlinks) to `to`, with every file's
/// `/etc/nginx` rewritten to `to` and every module Debian ships enabled (the
/// `nginx-light`, `nginx-core`, `nginx-full` and `nginx-extras` trees enable subsets
/// of them). `None` when /etc/nginx is absent.
fn copy_stock_tree(to: &Path) -> Option<std::path::PathBuf> {
    fn copy(from: &Path, to: &Path, root: &str) {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let dest = to.join(path.file_name().unwrap());
            if path.is_dir() {
                copy(&path, &dest, root);
            } else if let Ok(bytes) = std::fs::read(&path) {
                let text = String::from_utf8_lossy(&bytes).replace("/etc/nginx", root);
                std::fs::write(dest, text).unwrap();
            }
        }
    }
    let etc = Path::new("/etc/nginx");
    if !etc.join("nginx.conf").is_file() {
        return None;
    }
    copy(etc, to, to.to_str().unwrap());
    let available = Path::new("/usr/share/nginx/modules-available");
    if available.is_dir() {
        copy(available, &to.join("modules-enabled"), to.to_str().unwrap());
    }
    Some(to.join("nginx.conf"))
}

#[test]
fn debians_stock_nginx_tree_loads() {
    let dir = tempfile::tempdir().unwrap();
    let Some(main) = copy_stock_tree(dir.path()) else {
        eprintln!("skipped: no /etc/nginx (tests/run.sh installs nginx-light)");
        return;
    };
    let out = vestibule(&["-t", "-c", main.to_str().unwrap()]);
    let text = stderr(&out);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("[emerg]"), "{text}");
    // `gzip on;` is honoured now: only the hash-size line is listed as no effect.
    assert!(
        text.contains("\"types_hash_max_size\" has no effect in vestibule"),
        "{text}"
    );
    assert!(!text.contains("\"gzip\""), "{text}");
    let quiet = vestibule(&["-tq", "-c", main.to_str().unwrap()]);
    let text = stderr(&quiet);
    assert!(quiet.status.success(), "{text}");
    assert!(
        !text.contains("[info]"),
        "-q leaves out the info lines: {text}"
    );
    // Each load_module line (Debian's modules-enabled links) is one warning.
    for line in text.lines() {
        assert!(
            line.contains("\"load_module\" ") || line.contains("\"ssl_protocols\""),
            "unexpected line under -q: {line}"
        );
    }
}

#[test]
fn debians_commented_php_block_fails_with_one_line_of_advice() {
    let dir = tempfile::tempdir().unwrap();
    let Some(main) = copy_stock_tree(dir.path()) else {
        eprintln!("skipped: no /etc/nginx (tests/run.sh installs nginx-light)");
        return;
    };
    let site = dir.path().join("sites-enabled/default");
    let Ok(text) = std::fs::read_to_string(&site) else {
        eprintln!("skipped: no sites-enabled/default");
        return;
    };
    // What a PHP user uncomments: the block and its include of fastcgi.conf.
    let php = "\tlocation ~ \\.php$ {\n\t\tinclude snippets/fastcgi-php.conf;\n\t\tfastcgi_pass unix:/run/php/php-fpm.sock;\n\t}\n";
    let edited = text.replacen("\tlocation / {", &format!("{php}\tlocation / {{"), 1);
    assert_ne!(edited, text, "the default site has no `location / {{`");
    std::fs::write(&site, edited).unwrap();
    let out = vestibule(&["-t", "-c", main.to_str().unwrap()]);
    let text = stderr(&out);
    assert!(!out.status.success(), "{text}");
    let emerg: Vec<&str> = text.lines().filter(|l| l.contains("[emerg]")).collect();
    assert_eq!(emerg.len(), 1, "{text}");
    assert!(
        emerg[0].contains("is not implemented in vestibule: FastCGI (PHP-FPM) is out of scope"),
        "{text}"
    );
}
