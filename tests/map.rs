//! `map $source $result { ... }` through the real binary: exact keys (case ignored),
//! `''`, `\default`, regexes in order with `$1` and named captures, `hostnames`
//! wildcards, a map of a map, `volatile`, and `$result` in `return`, `if`,
//! `rewrite`, `add_header` and `log_format` — each answer checked against nginx
//! 1.22 where it is installed. The WebSocket recipe (`map $http_upgrade
//! $connection_upgrade`) relays an upgrade end to end; `-t` reports nginx's errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use common::side_by_side::{self, body};
use common::{Driver, Vestibule};

const MAPS: &str = r#"
map_hash_max_size 2048;
map_hash_bucket_size 64;
map $arg_k $exact {
    default none;
    '' empty;
    apple fruit;
    \default escaped;
    ~^img-(\d+)$ image$1;
    ~*^(?<word>[a-z]+)-x$ word-$word;
    ~^img-9 never-reached;
}
map $http_host $site {
    default other;
    hostnames;
    .example.com dot;
    *.w.test star;
    *.deep.w.test deeper;
    www.shop.* tail;
    exact.w.test exact;
}
map $http_upgrade $connection_upgrade { default upgrade; '' close; }
map $exact $chained { fruit ripe-$arg_k; default -; }
map $uri $uri_volatile { volatile; default x; ~^/v/(.*) v-$1; }
map $uri $uri_cached { default x; ~^/c/(.*) c-$1; }
map $document_root $droot { /srv/maptest yes; default no; }
map $uri $dup { default first; }
map $uri $dup { default second; }
map $arg_i $included { default no; include @KEYS@; }
"#;

const SERVERS: &str = r#"
server {
    listen 127.0.0.1:@PORT@;
    location = /k { return 200 "$exact\n"; }
    location = /h { return 200 "$site\n"; }
    location = /root { root /srv/maptest; return 200 "$droot\n"; }
    location = /dup { return 200 "$dup\n"; }
    location = /i { return 200 "$included\n"; }
    location = /chain { return 200 "$connection_upgrade $chained\n"; }
    location = /if { if ($exact = fruit) { return 200 "if-fruit\n"; } return 200 "no\n"; }
    location = /p { rewrite ^ /up/$exact break; proxy_pass http://127.0.0.1:@UP@; }
    location /v/ { rewrite ^ /w/$uri_volatile; }
    location /w/ { return 200 "$uri $uri_volatile\n"; }
    location /c/ { rewrite ^ /d/$uri_cached; }
    location /d/ { return 200 "$uri $uri_cached\n"; }
}
"#;

#[test]
fn map_lookups_as_nginx() {
    // Both servers include one file, written before either starts.
    let keys = tempfile::tempdir().unwrap();
    let keys_file = keys.path().join("keys.map");
    std::fs::write(&keys_file, "one 1;\n~^t(w)o$ 2$1;\n").unwrap();
    let maps = MAPS.replace("@KEYS@", &keys_file.display().to_string());
    let pair = side_by_side::start(&format!("{maps}{SERVERS}"), |_| {});
    #[rustfmt::skip]
    let cases = [
        body("exact key", "GET /k?k=apple", "fruit\n"),
        body("exact keys ignore case", "GET /k?k=APPLE", "fruit\n"),
        body("an absent argument is the empty key", "GET /k", "empty\n"),
        body("an empty argument too", "GET /k?k=", "empty\n"),
        body("escaped default is a key", "GET /k?k=default", "escaped\n"),
        body("no match is default", "GET /k?k=pear", "none\n"),
        body("regex with a capture", "GET /k?k=img-42", "image42\n"),
        body("the first regex that matches wins", "GET /k?k=img-9", "image9\n"),
        body("regex keeps case", "GET /k?k=IMG-42", "none\n"),
        body("caseless regex with a named capture", "GET /k?k=Hello-X", "word-Hello\n"),
        body("dot wildcard: the name itself", "GET /h", "dot\n").with("Host: example.com\r\n"),
        body("dot wildcard: a subdomain", "GET /h", "dot\n").with("Host: a.b.example.com\r\n"),
        body("trailing dot and case", "GET /h", "dot\n").with("Host: WWW.Example.COM.\r\n"),
        body("star wildcard: a subdomain", "GET /h", "star\n").with("Host: x.w.test\r\n"),
        body("star wildcard: not the name itself", "GET /h", "other\n").with("Host: w.test\r\n"),
        body("the longest wildcard wins", "GET /h", "deeper\n").with("Host: a.deep.w.test\r\n"),
        body("exact beats wildcards", "GET /h", "exact\n").with("Host: exact.w.test\r\n"),
        body("tail wildcard", "GET /h", "tail\n").with("Host: www.shop.org\r\n"),
        body("$document_root in a map read by return", "GET /root", "yes\n"),
        body("a later map for the same variable wins", "GET /dup", "second\n"),
        body("an included key", "GET /i?i=one", "1\n"),
        body("an included regex", "GET /i?i=two", "2w\n"),
        body("not included", "GET /i?i=three", "no\n"),
        body("no upgrade: close", "GET /chain?k=apple", "close ripe-apple\n"),
        body("upgrade", "GET /chain?k=pear", "upgrade -\n").with("Upgrade: websocket\r\n"),
        body("in an if", "GET /if?k=Apple", "if-fruit\n"),
        body("in an if, false", "GET /if?k=pear", "no\n"),
        body("in a proxied rewrite", "GET /p?k=apple", "UP /up/fruit?k=apple\n"),
        body("volatile: read again after the rewrite", "GET /v/a", "/w/v-a x\n"),
        body("cached: the first read holds", "GET /c/a", "/d/c-a c-a\n"),
    ];
    pair.check(&cases);
}

#[test]
fn map_results_in_headers_and_access_log() {
    let v = Vestibule::start_with(
        "server { listen 127.0.0.1:@PORT@; access_log @DIR@/map.log mapped; \
         location / { add_header X-Class $class; return 200 \"ok\\n\"; } }",
        "map $request_method $class { GET reader; default writer; }\n\
         log_format mapped \"$request_method $class\";",
        Driver::Default,
    );
    let r = v.get("/", "h.test");
    assert_eq!(r.header("x-class"), Some("reader"), "{r}");
    let r = v.request(b"DELETE / HTTP/1.1\r\nHost: h.test\r\nConnection: close\r\n\r\n");
    assert_eq!(r.header("x-class"), Some("writer"), "{r}");
    v.wait_for_log_line("map.log", "DELETE writer");
    v.wait_for_log_line("map.log", "GET reader");
}

#[test]
fn a_map_that_reads_itself_is_empty_there() {
    // nginx answers 500 ("cycle while evaluating variable"); vestibule gives the
    // inner read no value and does not recurse.
    let v = Vestibule::start_with(
        "server { listen 127.0.0.1:@PORT@; location / { return 200 \"$outer\\n\"; } }",
        "map $uri $outer { default <$inner>; }\nmap $uri $inner { default [$outer]; }",
        Driver::Default,
    );
    let r = v.get("/", "h.test");
    assert_eq!((r.status, r.text().as_str()), (200, "<[]>\n"), "{r}");
}

fn count(head: &str, line: &str) -> usize {
    head.lines()
        .filter(|l| l.eq_ignore_ascii_case(line))
        .count()
}

#[test]
fn websocket_recipe_relays_an_upgrade_and_closes_plain_requests() {
    for driver in [Driver::Default, Driver::Epoll] {
        let upstream = TcpListener::bind("127.0.0.1:0").unwrap();
        let up_port = upstream.local_addr().unwrap().port();
        let handle = std::thread::spawn(move || {
            // First: the upgrade, echoed until the client closes.
            let (s, _) = upstream.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let head = common::read_head(&mut r);
            assert_eq!(count(&head, "upgrade: websocket"), 1, "{head}");
            assert_eq!(count(&head, "connection: upgrade"), 1, "{head}");
            common::switch_and_echo(&mut r, s);
            // Then a plain request: `Connection: close`, no `Upgrade`.
            let (s, _) = upstream.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let head = common::read_head(&mut r);
            assert_eq!(count(&head, "connection: close"), 1, "{head}");
            assert!(!head.to_ascii_lowercase().contains("upgrade"), "{head}");
            let mut w = s;
            w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nplain\n")
                .unwrap();
        });
        let v = Vestibule::start_with(
            &format!(
                "server {{ listen 127.0.0.1:@PORT@; location / {{ \
                 proxy_pass http://127.0.0.1:{up_port}; proxy_http_version 1.1; \
                 proxy_set_header Upgrade $http_upgrade; \
                 proxy_set_header Connection $connection_upgrade; \
                 proxy_read_timeout 5s; }} }}"
            ),
            "map $http_upgrade $connection_upgrade { default upgrade; '' close; }",
            driver,
        );
        let mut c = TcpStream::connect(("127.0.0.1", v.port)).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n").unwrap();
        let mut r = BufReader::new(c.try_clone().unwrap());
        let head = common::read_head(&mut r);
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        for msg in [&b"ping"[..], b"second message", &[0u8, 255, 10, 13]] {
            c.write_all(msg).unwrap();
            let mut got = vec![0u8; msg.len()];
            r.read_exact(&mut got).unwrap();
            assert_eq!(got, msg, "{driver:?}");
        }
        drop(r);
        c.shutdown(std::net::Shutdown::Both).unwrap();
        let r = v.get("/plain", "example.com");
        assert_eq!((r.status, r.text().as_str()), (200, "plain\n"), "{r}");
        handle.join().unwrap();
    }
}

#[test]
fn config_errors_as_nginx() {
    #[rustfmt::skip]
    let rows: &[(&str, &str, &str)] = &[
        ("three words", "map $host $b {\n a b c; }", "invalid number of the map parameters in @CONF@:6"),
        ("two defaults", "map $host $b { default a;\n default b; }", "duplicate default map parameter in @CONF@:6"),
        ("a key twice, case ignored", "map $host $b { a 1;\n A 2; }", "conflicting parameter \"a\" in @CONF@:6"),
        ("a dot wildcard and its name", "map $host $b { hostnames; .a.com 1;\n a.com 2; }", "conflicting parameter \"a.com\" in @CONF@:6"),
        ("a star inside", "map $host $b { hostnames;\n *.a*.b 1; }", "invalid hostname or wildcard \"*.a*.b\" in @CONF@:6"),
        ("a block inside", "map $host $b {\n x { } }", "unexpected \"{\" in @CONF@:6"),
        ("no dollar", "map $host b { a 1; }", "invalid variable name \"b\" in @CONF@:5"),
        ("an unknown variable in a value", "map $host $b { a $nosuch; }", "unknown \"nosuch\" variable"),
        ("an unknown source", "map $nosuch $b { a 1; }", "unknown \"nosuch\" variable"),
        ("one argument", "map $host { a 1; }", "invalid number of arguments in \"map\" directive in @CONF@:5"),
        ("in a server", "server { map $host $b { a 1; } }", "\"map\" directive is not allowed here in @CONF@:5"),
        ("a size after a map", "map $host $b { a 1; }\nmap_hash_bucket_size 64;", "\"map_hash_bucket_size\" directive is duplicate in @CONF@:6"),
        ("hash size not a number", "map_hash_max_size 1x;", "\"map_hash_max_size\" directive invalid number in @CONF@:5"),
    ];
    let ours = env!("CARGO_BIN_EXE_vestibule");
    let nginx = "/usr/sbin/nginx";
    for (name, http, want) in rows {
        for program in [ours, nginx] {
            if program == nginx && !Path::new(nginx).exists() {
                continue;
            }
            let dir = tempfile::tempdir().unwrap();
            let conf = dir.path().join("t.conf");
            let want = want.replace("@CONF@", &conf.display().to_string());
            let err = common::test_config(program, dir.path(), http);
            assert!(
                err.contains(&want),
                "{program}, {name}: want {want:?} in\n{err}"
            );
        }
    }
    // The sizes load, listed as having no effect.
    let dir = tempfile::tempdir().unwrap();
    let err = common::test_config(
        ours,
        dir.path(),
        "map_hash_max_size 2048; map_hash_bucket_size 64; map $host $m { default 1; }",
    );
    assert!(
        err.contains("\"map_hash_max_size\" has no effect in vestibule")
            && err.contains("\"map_hash_bucket_size\" has no effect in vestibule")
            && err.contains("test is successful"),
        "{err}"
    );
}
