//! nginx's PCRE syntax in every place a regex is written — locations, `server_name ~`,
//! `rewrite`, `if`, `map` keys — through the real binary, each answer checked against
//! nginx 1.22 where it is installed: look-ahead and look-behind, back-references,
//! possessive quantifiers, `\Q...\E`, `\h`, a literal `{,n}`, the three named-group
//! spellings, and named captures read as variables by `return`, `rewrite` and the URI
//! a `rewrite ... break` hands to `proxy_pass` (variables in `proxy_pass` itself are
//! not implemented yet). `-t` reports a pattern neither engine accepts with its file
//! and line.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use common::side_by_side::{self, body, redirect};

const SERVERS: &str = r#"
map $arg_k $key_class {
    default plain;
    "~^(?!tmp-)(?<stem>[a-z]+)-\d+$" kept-$stem;
    ~^tmp- temp;
}
server {
    listen 127.0.0.1:@PORT@;
    location / { return 200 "default\n"; }
    location /files/ { return 200 "prefix\n"; }
    location ~ "^/files/(?!private/)(?<rest>.+)$" { return 200 "public $rest\n"; }
    location ~ ^/v\Q1.0\E/(.*)$ { return 200 "quoted $1\n"; }
    location ~ "^/u/(?'user'\w+)$" { return 200 "user $user\n"; }
    location ~ ^/p/(?P<py>\w+)$ { return 200 "py $py\n"; }
    location ~ "^/old/(?<ver>v\d+)/(.*)$" { rewrite "^/old/(?<ver>v\d+)/(.*)$" /new/$ver/$2 redirect; }
    location ~ "^/api/(?<ver>v\d+)(?=/)" {
        rewrite ^ /backend/$ver break;
        proxy_pass http://127.0.0.1:@UP@;
    }
    location ~ (?<=/tail)/end$ { return 200 "look-behind\n"; }
    location ~ ^/rep/(\w+)/\1$ { return 200 "back-reference $1\n"; }
    location ~ ^/pos/a++a$ { return 200 "possessive\n"; }
    location ~* "^/ci/(?!skip)\w+$" { return 200 "caseless\n"; }
    location ~ "^/h/a\hb$" { return 200 "horizontal space\n"; }
    location ~ "^/brace/x{,2}$" { return 200 "literal brace\n"; }
    location = /m { return 200 "$key_class\n"; }
    location = /if {
        if ($arg_x ~ "^(?!no)(?<xv>.+)$") { return 200 "if $xv\n"; }
        return 200 "if-none\n";
    }
}
server {
    listen 127.0.0.1:@PORT@;
    server_name "~^(?!www\.)(?<sub>\w+)\.site\.test$";
    return 200 "sub $sub\n";
}
"#;

#[test]
fn pcre_syntax_as_nginx() {
    let pair = side_by_side::start(SERVERS, |_| {});
    #[rustfmt::skip]
    let cases = [
        body("negative look-ahead matches", "GET /files/a/b.txt", "public a/b.txt\n"),
        body("negative look-ahead refuses", "GET /files/private/x", "prefix\n"),
        body("quoted dot is literal", "GET /v1.0/x", "quoted x\n"),
        body("quoted dot is not any character", "GET /v1x0/x", "default\n"),
        body("quote-named group", "GET /u/bob", "user bob\n"),
        body("python-named group", "GET /p/ann", "py ann\n"),
        redirect("named capture in rewrite", "GET /old/v2/a/b", 302, "http://h.test:@PORT@/new/v2/a/b"),
        body("named capture in proxy_pass, look-ahead", "GET /api/v3/users?q=1", "UP /backend/v3?q=1\n"),
        body("look-ahead needs the slash", "GET /api/v3", "default\n"),
        body("look-behind", "GET /x/tail/end", "look-behind\n"),
        body("look-behind refuses", "GET /x/tall/end", "default\n"),
        body("back-reference", "GET /rep/ab/ab", "back-reference ab\n"),
        body("back-reference refuses", "GET /rep/ab/cd", "default\n"),
        body("possessive never gives back", "GET /pos/aaa", "default\n"),
        body("caseless look-ahead", "GET /CI/Go", "caseless\n"),
        body("\\h is white space", "GET /h/a%20b", "horizontal space\n"),
        body("\\h is not a hex digit", "GET /h/a1b", "default\n"),
        body("{,2} is literal text", "GET /brace/x%7B,2%7D", "literal brace\n"),
        body("{,2} is not a repetition", "GET /brace/xx", "default\n"),
        body("caseless look-ahead refuses", "GET /ci/SKIP", "default\n"),
        body("map key with look-ahead", "GET /m?k=img-42", "kept-img\n"),
        body("map key look-ahead refuses", "GET /m?k=tmp-42", "temp\n"),
        body("if with look-ahead and a named capture", "GET /if?x=yes", "if yes\n"),
        body("if look-ahead refuses", "GET /if?x=nope", "if-none\n"),
        body("server_name with look-ahead", "GET /", "sub shop\n").with("Host: shop.site.test\r\n"),
        body("server_name look-ahead refuses", "GET /", "default\n").with("Host: www.site.test\r\n"),
    ];
    pair.check(&cases);
}

#[test]
fn a_pattern_no_engine_accepts_is_a_load_error_with_its_line() {
    let rows: &[(&str, &str)] = &[
        (
            "unclosed look-ahead",
            "server {\n location ~ \"^/(?!a\" { } }",
        ),
        ("unclosed group in rewrite", "server {\n rewrite ^/(a /b; }"),
        (
            "back-reference to no group",
            "server {\n location ~ ^/(a)\\2 { } }",
        ),
        ("map key", "map $uri $m {\n ~^(?<=a+)b 1; }"),
    ];
    for (name, http) in rows {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("t.conf");
        let err = common::test_config(env!("CARGO_BIN_EXE_vestibule"), dir.path(), http);
        let at = format!("{}:6", conf.display());
        assert!(
            err.contains("invalid regex") && err.contains(&at) && !err.contains("successful"),
            "{name}: want an invalid regex error at {at} in\n{err}"
        );
        if Path::new(common::nginx::NGINX).exists() {
            let err = common::test_config(common::nginx::NGINX, dir.path(), http);
            assert!(err.contains(&at), "nginx, {name}: {err}");
        }
    }
}
