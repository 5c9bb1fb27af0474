#![allow(clippy::unwrap_used, clippy::panic)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::Arc;

use super::*;
use crate::config::build::{build, BuildOptions};
use crate::config::parser::parse;
use crate::config::source::Origin;
use crate::config::{load, LoadOptions};

const PREFIX: &str = "/vestibule-test-prefix";

/// Builds the typed configuration for
/// `MAIN http { HTTP server { listen ...; SERVER_BODY } }`.
fn config_with(main: &str, http: &str, server_body: &str) -> Config {
    let text = format!(
        "{main}\nhttp {{\n{http}\n server {{\n  listen 127.0.0.1:8080;\n{server_body}\n }}\n}}\n"
    );
    let origin = Arc::new(Origin::File(PathBuf::from("/t/vestibule.conf")));
    let directives = parse(&text, &origin).unwrap();
    let options = BuildOptions::new(PathBuf::from(PREFIX), true);
    build(&directives, &options).unwrap().config
}

/// The server block starts at line 4 and its body at line 6.
fn config(server_body: &str) -> Config {
    config_with("", "", server_body)
}

/// The warnings for `config` as seen by `worker` (None: skip permission checks).
fn warnings_as(config: &Config, worker: Option<Worker>) -> Vec<ConfigWarning> {
    check_as(config, Path::new(PREFIX), worker, true)
}

fn messages(config: &Config, worker: Option<Worker>) -> Vec<String> {
    warnings_as(config, worker)
        .into_iter()
        .map(|w| w.message)
        .collect()
}

/// A user that is neither root nor the owner of anything the tests create.
fn stranger() -> Worker {
    Worker {
        who: "user \"tester\"".to_string(),
        uid: 4242,
        groups: vec![4242],
        change: "change the \"user\" directive",
    }
}

/// A temporary directory everyone may search (tempfile makes them 0700).
fn open_tempdir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    chmod(dir.path(), 0o755);
    dir
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mkdir(path: &Path, mode: u32) {
    std::fs::create_dir_all(path).unwrap();
    chmod(path, mode);
}

#[test]
fn alias_without_trailing_slash_under_slash_location() {
    let dir = open_tempdir();
    let alias = dir.path().join("static");
    mkdir(&alias, 0o755);
    let a = alias.display();
    let c = config(&format!("location /static/ {{ alias {a}; }}"));
    let got = warnings_as(&c, None);
    assert_eq!(
        got.iter().map(|w| w.message.as_str()).collect::<Vec<_>>(),
        [format!(
            "location \"/static/\" ends with \"/\" but its alias \"{a}\" does not: requests for \
             \"/static/app.css\" map to \"{a}app.css\"; write alias \"{a}/\""
        )]
    );
    assert_eq!(got[0].span.as_ref().map(|s| s.line), Some(6));
}

#[test]
fn alias_trailing_slash_under_location_without_is_traversal() {
    let dir = open_tempdir();
    let a = format!("{}/", dir.path().display());
    let c = config(&format!("location /static {{ alias {a}; }}"));
    assert_eq!(
        messages(&c, None),
        [format!(
            "location \"/static\" does not end with \"/\" but its alias \"{a}\" does: \
             \"/static../secret\" would map to \"{a}../secret\", outside the alias directory \
             (nginx's alias traversal); write location \"/static/\""
        )]
    );
}

#[test]
fn matching_slashes_and_inherited_alias_give_no_warning() {
    let dir = open_tempdir();
    let d = dir.path().display();
    let c = config(&format!(
        "location /static/ {{ alias {d}/; location ~ \\.css$ {{ expires 1d; }} }}\n\
         location /img {{ alias {d}; }}\n\
         location = /robots.txt {{ alias {d}; }}"
    ));
    assert_eq!(messages(&c, Some(stranger())), Vec::<String>::new());
}

#[test]
fn missing_alias_directory() {
    let dir = open_tempdir();
    let a = format!("{}/flaskapp/static/", dir.path().display());
    let c = config(&format!("location /static/ {{ alias {a}; }}"));
    assert_eq!(
        messages(&c, None),
        [format!(
            "alias \"{a}\" does not exist (No such file or directory): requests under \
             \"/static/\" will get 404; create it or fix the path"
        )]
    );
}

#[test]
fn alias_that_is_a_file() {
    let dir = open_tempdir();
    let file = dir.path().join("static");
    std::fs::write(&file, "not a directory").unwrap();
    let a = format!("{}/", file.display());
    let c = config(&format!("location /static/ {{ alias {a}; }}"));
    assert_eq!(
        messages(&c, None),
        [format!(
            "alias \"{a}\" is not a directory: requests under \"/static/\" will get 404; point \
             alias at the directory that holds the files"
        )]
    );
}

#[test]
fn root_below_a_file_does_not_exist() {
    let dir = open_tempdir();
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let r = format!("{}/www", file.display());
    let c = config(&format!("location = /favicon.ico {{ root {r}; }}"));
    assert_eq!(
        messages(&c, None),
        [format!(
            "root \"{r}\" does not exist (Not a directory): requests for \"/favicon.ico\" will \
             get 404; create it or fix the path"
        )]
    );
}

#[test]
fn directory_the_worker_cannot_read() {
    let dir = open_tempdir();
    let private = dir.path().join("private");
    mkdir(&private, 0o700);
    let p = private.display();
    let c = config(&format!("root {p};\nlocation ~ \\.css$ {{ }}"));
    let got = warnings_as(&c, Some(stranger()));
    let uid = private.metadata().unwrap().uid();
    let gid = private.metadata().unwrap().gid();
    assert_eq!(
        got.iter().map(|w| w.message.as_str()).collect::<Vec<_>>(),
        [format!(
            "root \"{p}\" is not readable by user \"tester\" (owner {uid}, group {gid}, mode \
             0700): requests to this server will get 403; run chmod o+rx \"{p}\", or change the \
             \"user\" directive"
        )]
    );
    // The server's span: the location does not cover every request.
    assert_eq!(got[0].span.as_ref().map(|s| s.line), Some(4));
}

#[test]
fn home_directory_that_blocks_the_way() {
    let dir = open_tempdir();
    let home = dir.path().join("alice");
    let stat = home.join("app/static");
    mkdir(&stat, 0o755);
    chmod(&home, 0o750);
    let h = home.display();
    let s = stat.display();
    let c = config(&format!("location /static/ {{ alias {s}/; }}"));
    let meta = home.metadata().unwrap();
    let (uid, gid) = (meta.uid(), meta.gid());
    assert_eq!(
        messages(&c, Some(stranger())),
        [format!(
            "alias \"{s}/\" cannot be reached: \"{h}\" is not searchable by user \"tester\" \
             (owner {uid}, group {gid}, mode 0750): requests under \"/static/\" will get 403; \
             run chmod o+x \"{h}\", add user \"tester\" to group {gid}, or change the \"user\" \
             directive"
        )]
    );
    // A member of the group gets through.
    let member = Worker {
        groups: vec![4242, gid],
        ..stranger()
    };
    assert_eq!(messages(&c, Some(member)), Vec::<String>::new());
}

#[test]
fn root_owned_0700_directory_warns_for_user_nobody() {
    if !sys::is_root() || sys::user_by_name("nobody").is_none() {
        return; // needs root to switch users; the pure cases above cover the logic.
    }
    let dir = open_tempdir();
    let private = dir.path().join("static");
    mkdir(&private, 0o700);
    let p = private.display();
    let conf = dir.path().join("vestibule.conf");
    std::fs::write(
        &conf,
        format!(
            "user nobody;\nhttp {{\n server {{\n  listen 127.0.0.1:8080;\n  \
             location /static/ {{ alias {p}/; }}\n }}\n}}\n"
        ),
    )
    .unwrap();
    let loaded = load(&LoadOptions {
        main_file: conf,
        prefix: None,
        directives: None,
        embedded_if_missing: false,
        error_log: None,
    })
    .unwrap();
    let messages: Vec<String> = loaded.warnings.iter().map(|w| w.message.clone()).collect();
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert!(
        messages[0].starts_with(&format!(
            "alias \"{p}/\" is not readable by user \"nobody\""
        )),
        "{messages:?}"
    );
    assert_eq!(loaded.warnings[0].span.as_ref().map(|s| s.line), Some(5));
}

#[test]
fn default_root_is_skipped_when_missing_but_explicit_root_is_not() {
    let c = config("location = /favicon.ico { access_log off; }");
    assert_eq!(messages(&c, None), Vec::<String>::new());
    let r = format!("{PREFIX}/www");
    let c = config("root www;\nlocation = /favicon.ico { access_log off; }");
    assert_eq!(
        messages(&c, None),
        [format!(
            "root \"{r}\" does not exist (No such file or directory): requests to this server \
             will get 404; create it or fix the path"
        )]
    );
}

#[test]
fn proxied_and_returning_locations_use_no_root() {
    let c = config(
        "root /vestibule-no-such-root;\n\
         location / { proxy_pass http://127.0.0.1:8000; }\n\
         location /old { return 301 /new; }",
    );
    assert_eq!(messages(&c, None), Vec::<String>::new());
    let c = config("root /vestibule-no-such-root;\nreturn 301 https://example.com;");
    assert_eq!(messages(&c, None), Vec::<String>::new());
}

#[test]
fn missing_unix_socket() {
    let dir = open_tempdir();
    let s = format!("{}/gunicorn.sock", dir.path().display());
    let c = config(&format!("location / {{ proxy_pass http://unix:{s}; }}"));
    let got = warnings_as(&c, None);
    assert_eq!(
        got.iter().map(|w| w.message.as_str()).collect::<Vec<_>>(),
        [format!(
            "unix socket \"{s}\" does not exist (No such file or directory): requests will get \
             502; start Gunicorn with --bind unix:{s} or fix the path"
        )]
    );
    assert_eq!(got[0].span.as_ref().map(|s| s.line), Some(6));
}

#[test]
fn unix_socket_path_that_is_a_file() {
    let dir = open_tempdir();
    let path = dir.path().join("gunicorn.sock");
    std::fs::write(&path, "").unwrap();
    let s = path.display();
    let c = config(&format!("location / {{ proxy_pass http://unix:{s}; }}"));
    assert_eq!(
        messages(&c, None),
        [format!(
            "\"{s}\" is not a unix socket (it is a regular file): requests will get 502; remove \
             it and start Gunicorn with --bind unix:{s}"
        )]
    );
}

#[test]
fn real_unix_socket_and_its_permissions() {
    let dir = open_tempdir();
    let path = dir.path().join("gunicorn.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    chmod(&path, 0o770);
    let s = path.display();
    let body = format!("location / {{ proxy_pass http://unix:{s}; }}");
    let c = config(&body);
    assert_eq!(messages(&c, None), Vec::<String>::new());
    let meta = path.metadata().unwrap();
    let (uid, gid) = (meta.uid(), meta.gid());
    let member = Worker {
        groups: vec![4242, gid],
        ..stranger()
    };
    assert_eq!(messages(&c, Some(member)), Vec::<String>::new());
    assert_eq!(
        messages(&c, Some(stranger())),
        [format!(
            "user \"tester\" cannot write to unix socket \"{s}\" (owner {uid}, group {gid}, mode \
             0770; connect() will fail with 13: Permission denied): requests will get 502; run \
             Gunicorn with --group set to a group user \"tester\" is in and --umask 007, or \
             change the \"user\" directive"
        )]
    );
}

#[test]
fn upstream_socket_behind_a_private_directory() {
    let dir = open_tempdir();
    let run = dir.path().join("run");
    mkdir(&run, 0o700);
    let path = run.join("app.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    chmod(&path, 0o777);
    let (r, s) = (run.display(), path.display());
    let c = config_with(
        "",
        &format!(
            "upstream app {{\n server unix:{s};\n server unix:/vestibule-no-such.sock down;\n}}"
        ),
        "location / { proxy_pass http://app; }",
    );
    let meta = run.metadata().unwrap();
    let (uid, gid) = (meta.uid(), meta.gid());
    let got = warnings_as(&c, Some(stranger()));
    assert_eq!(
        got.iter().map(|w| w.message.as_str()).collect::<Vec<_>>(),
        [format!(
            "user \"tester\" cannot reach unix socket \"{s}\": \"{r}\" is not searchable by \
             user \"tester\" (owner {uid}, group {gid}, mode 0700; connect() will fail with 13: \
             Permission denied): requests will get 502; run chmod o+x \"{r}\", or change the \
             \"user\" directive"
        )]
    );
    // The `server` line inside the upstream block.
    assert_eq!(got[0].span.as_ref().map(|s| s.line), Some(4));
}

#[test]
fn user_directive_without_root() {
    let c = config_with("user nobody;", "", "");
    let got = check_as(&c, Path::new(PREFIX), None, false);
    assert_eq!(
        got,
        [ConfigWarning {
            message: "the \"user\" directive makes sense only if the master process runs with \
                      super-user privileges, ignored (start vestibule as root, or remove \
                      \"user\")"
                .to_string(),
            span: None,
        }]
    );
    assert_eq!(check_as(&c, Path::new(PREFIX), None, true), []);
}

#[test]
fn the_guides_config_with_its_directories_in_place_is_quiet() {
    let dir = open_tempdir();
    let stat = dir.path().join("var/www/flaskapp/static");
    mkdir(&stat, 0o755);
    let sock = dir.path().join("gunicorn.sock");
    let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    chmod(&sock, 0o777);
    for upstream in [
        "http://127.0.0.1:8000",
        &format!("http://unix:{}", sock.display()),
    ] {
        let conf = dir.path().join("vestibule.conf");
        std::fs::write(
            &conf,
            format!(
                "http {{\n server {{\n listen 80;\n server_name example.com www.example.com;\n\
                 location /static/ {{\n alias {}/;\n }}\n\
                 location / {{\n include proxy_params;\n proxy_pass {upstream};\n \
                 proxy_redirect off;\n }}\n }}\n}}\n",
                stat.display()
            ),
        )
        .unwrap();
        let loaded = load(&LoadOptions {
            main_file: conf,
            prefix: None,
            directives: None,
            embedded_if_missing: false,
            error_log: None,
        })
        .unwrap();
        assert_eq!(loaded.warnings, [], "{upstream}");
    }
}
