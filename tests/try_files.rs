//! `try_files`, `alias` and `index` resolved as nginx 1.22.1 resolves them, through the
//! real binary (each case compared side by side with nginx):
//!
//! - the last `try_files` parameter is an internal redirect: a proxied location it
//!   lands in sends the *new* URI upstream (escaped, without the old arguments), while
//!   a `@named` location gets the client's request unchanged;
//! - a candidate written with a trailing `/` looks for a directory and, found, leaves
//!   `$uri` without the slash: `/dir` is answered with nginx's 301 to `/dir/`;
//! - in a regex location, `try_files` looks for `alias` + candidate (the alias acting as
//!   a root) and serves what it finds from there; without `try_files` the alias is the
//!   whole path;
//! - a nested location that inherits an `alias` replaces the outer location's prefix.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Gunicorn, Response, Vestibule};

fn get(v: &Vestibule, target: &str) -> Response {
    v.request(
        format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

fn write(v: &Vestibule, rel: &str, body: &str) {
    let path = v.path(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
}

#[test]
fn try_files_fallback_uri_is_what_the_proxied_location_sends_upstream() {
    let app = Gunicorn::tcp(1);
    let up = app.proxy_pass();
    let v = Vestibule::start(&format!(
        "
    server {{
        listen 127.0.0.1:@PORT@;
        root @DIR@/www;
        location / {{ try_files $uri /echo/fallback; }}
        location /echo/ {{ proxy_pass {up}; }}
        location /tf/ {{ try_files $uri /prx/new; }}
        location /prx/ {{ proxy_pass {up}/prefix/; }}
        location /echo/named/ {{ try_files $uri @app; }}
        location @app {{ proxy_pass {up}; }}
    }}"
    ));
    write(&v, "www/here.txt", "here\n");
    let cases: &[(&str, &str, &str)] = &[
        // nginx: "GET /echo/fallback HTTP/1.0" — the arguments do not follow.
        ("uri_fallback", "/nope%41?a=1", "/echo/fallback"),
        // With a URI in proxy_pass, the new URI's location prefix is replaced.
        (
            "uri_fallback_to_proxy_pass_with_uri",
            "/tf/nope?a=1",
            "/prefix/new",
        ),
        // A named location: the client's request as sent.
        (
            "named_fallback",
            "/echo/named/n%41pe?a=1",
            "/echo/named/n%41pe?a=1",
        ),
    ];
    for (name, target, upstream_saw) in cases {
        let r = get(&v, target);
        assert_eq!(r.status, 200, "{name}: {r}");
        assert_eq!(r.json().str("raw_uri"), *upstream_saw, "{name}");
    }
    let r = get(&v, "/here.txt");
    assert_eq!((r.status, r.text()), (200, "here\n".to_string()), "{r}");
}

#[test]
fn try_files_directory_candidate_answers_301_with_the_slash() {
    let v = Vestibule::start(
        "
    server {
        listen 127.0.0.1:@PORT@;
        root @DIR@/www;
        location /t/ { try_files $uri $uri/ =404; }
        location /lit/ { try_files /t/dir/ =404; }
    }",
    );
    write(&v, "www/t/dir/index.html", "INDEX\n");
    write(&v, "www/t/file.txt", "FILE\n");
    let base = format!("http://localhost:{}", v.port);
    let r = get(&v, "/t/dir?q=1");
    assert_eq!(r.status, 301, "{r}");
    assert_eq!(
        r.header("Location"),
        Some(format!("{base}/t/dir/?q=1").as_str())
    );
    let r = get(&v, "/lit/x");
    assert_eq!(r.status, 301, "{r}");
    assert_eq!(
        r.header("Location"),
        Some(format!("{base}/t/dir/").as_str())
    );
    let r = get(&v, "/t/dir/");
    assert_eq!((r.status, r.text()), (200, "INDEX\n".to_string()), "{r}");
    let r = get(&v, "/t/file.txt");
    assert_eq!((r.status, r.text()), (200, "FILE\n".to_string()), "{r}");
    let r = get(&v, "/t/none");
    assert_eq!(r.status, 404, "{r}");
}

#[test]
fn alias_in_a_regex_location_resolves_as_nginx() {
    let v = Vestibule::start(
        r"
    server {
        listen 127.0.0.1:@PORT@;
        location ~ ^/re.html { alias @DIR@/www/srv/dir; try_files $uri =404; }
        location ~ ^/re6/(.*)$ { alias @DIR@/www/srv/$1; try_files $uri =404; }
        location ~ ^/whole.html { alias @DIR@/www/srv/dirfile; }
        location ~ ^/cap/(.*)$ { alias @DIR@/www/srv/dir/$1; }
    }",
    );
    write(&v, "www/srv/dir/re.html", "RE\n");
    write(&v, "www/srv/d/re6/d", "R6\n");
    write(&v, "www/srv/dirfile", "WHOLE\n");
    let cases: &[(&str, &str, &str)] = &[
        // try_files looks for alias + $uri: /srv/dir + /re.html.
        ("try_files_without_captures", "/re.html", "RE\n"),
        // ... also with captures: /srv/d + /re6/d.
        ("try_files_with_captures", "/re6/d", "R6\n"),
        // Without try_files the alias is the whole path.
        ("alias_is_the_file", "/whole.html", "WHOLE\n"),
        ("alias_with_a_capture", "/cap/re.html", "RE\n"),
    ];
    for (name, target, body) in cases {
        let r = get(&v, target);
        assert_eq!(r.status, 200, "{name}: {r}");
        assert_eq!(r.text(), *body, "{name}");
    }
    assert_eq!(get(&v, "/re6/none").status, 404);
}

#[test]
fn alias_inherited_by_a_nested_location_replaces_the_outer_prefix() {
    let v = Vestibule::start(
        r"
    server {
        listen 127.0.0.1:@PORT@;
        location /a/ {
            alias @DIR@/srvx/;
            location /a/b/ { }
            location ~ \.css$ { }
        }
    }",
    );
    write(&v, "srvx/f.txt", "XF\n");
    write(&v, "srvx/b/f.txt", "XB\n");
    write(&v, "srvx/s.css", "CSS\n");
    let cases: &[(&str, &str, &str)] = &[
        ("outer", "/a/f.txt", "XF\n"),
        ("nested_prefix", "/a/b/f.txt", "XB\n"),
        ("nested_regex", "/a/s.css", "CSS\n"),
    ];
    for (name, target, body) in cases {
        let r = get(&v, target);
        assert_eq!(r.status, 200, "{name}: {r}");
        assert_eq!(r.text(), *body, "{name}");
    }
}
