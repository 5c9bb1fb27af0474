//! `if` and `set` through the real binary, side by side with nginx 1.22
//! (`/usr/sbin/nginx`, skipped with a message where it is not installed): every row
//! is nginx's answer, required of both.
//!
//! - each condition: a variable alone (empty and `0` are false), `=`, `!=`, `~`,
//!   `~*`, `!~`, `!~*`, `-f`, `!-f`, `-d`, `-e`, `!-e`, `-x`, on `$document_root` and
//!   `$request_filename` too;
//! - the conditions of real configurations: a method allow-list, the
//!   `X-Forwarded-Proto` redirect, the maintenance file;
//! - regex captures: an `if` regex replaces `$1` (emptied when it fails or has no
//!   groups), named captures are variables;
//! - a true `if` in a location gives the request its settings (`add_header`,
//!   `proxy_pass`, `error_page`), inherits the location's `proxy_pass`, drops its
//!   `try_files`, and the script goes on after the block;
//! - `set` variables: known everywhere once any `set` names them (`log_format`
//!   included), empty until set, `$args` changes the arguments.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::side_by_side::{self, body, redirect, status};

fn www(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("www/dir")).unwrap();
    std::fs::write(dir.join("www/maintenance.html"), "maint\n").unwrap();
    std::fs::write(dir.join("www/page.html"), "page\n").unwrap();
}

#[test]
fn conditions_as_nginx() {
    let pair = side_by_side::start(
        r#"
server {
    listen 127.0.0.1:@PORT@;
    root @DIR@/www;
    location /meth/ { if ($request_method !~ ^(GET|HEAD|POST)$) { return 405; } return 200 "ok\n"; }
    location /proto/ { if ($http_x_forwarded_proto = 'http') { return 301 https://$host$request_uri; } return 200 "ok\n"; }
    location /maint/ { if (-f $document_root/maintenance.html) { return 503; } return 200 "up\n"; }
    location /nomaint/ { if (-f $document_root/nothere.html) { return 503; } return 200 "up\n"; }
    location /notfile/ { if (!-f $document_root/dir) { return 200 "not a file\n"; } return 200 "file\n"; }
    location /isdir/ { if (-d $document_root/dir) { return 200 "dir\n"; } return 200 "no dir\n"; }
    location /exists/ { if (-e $request_filename) { return 200 "exists\n"; } return 200 "missing\n"; }
    location /page.html { if (!-e $request_filename) { return 200 "missing\n"; } return 200 "found $request_filename\n"; }
    location /exec/ { if (-x /bin/sh) { return 200 "exec\n"; } return 200 "not exec\n"; }
    location /notexec/ { if (!-x $document_root/page.html) { return 200 "not exec\n"; } return 200 "exec\n"; }
    location /bot/ { if ($http_user_agent ~* (bot|spider)) { return 403; } return 200 "human\n"; }
    location /case/ { if ($http_user_agent ~ Bot) { return 200 "Bot\n"; } return 200 "no Bot\n"; }
    location /neg/ { if ($http_user_agent !~* ^curl) { return 200 "not curl\n"; } return 200 "curl\n"; }
    location /ne/ { if ($http_user_agent != "") { return 200 "has ua\n"; } return 200 "no ua\n"; }
    location /eq/ { if ($arg_a = $arg_b) { return 200 "same\n"; } return 200 "different\n"; }
    location /zero/ { set $flag 0; if ($flag) { return 200 "true\n"; } return 200 "false\n"; }
    location /one/ { set $flag 00; if ($flag) { return 200 "true\n"; } return 200 "false\n"; }
    location /unset/ { if ($never_set) { return 200 "true\n"; } return 200 "false\n"; }
    location /never/ { set $never_set 1; }
}"#,
        www,
    );
    pair.check(&[
        body("method_allowed", "GET /meth/", "ok\n"),
        body("method_post_allowed", "POST /meth/", "ok\n").with("Content-Length: 0\r\n"),
        status("method_refused", "DELETE /meth/", 405),
        redirect(
            "forwarded_proto_http",
            "GET /proto/?q=1",
            301,
            "https://h.test/proto/?q=1",
        )
        .with("X-Forwarded-Proto: http\r\n"),
        body("forwarded_proto_https", "GET /proto/", "ok\n").with("X-Forwarded-Proto: https\r\n"),
        status("maintenance_file", "GET /maint/", 503),
        body("no_maintenance_file", "GET /nomaint/", "up\n"),
        body("a_directory_is_not_a_file", "GET /notfile/", "not a file\n"),
        body("directory", "GET /isdir/", "dir\n"),
        body("request_filename_missing", "GET /exists/x", "missing\n"),
        body("executable", "GET /exec/", "exec\n"),
        body("not_executable", "GET /notexec/", "not exec\n"),
        status("caseless_match", "GET /bot/", 403).with("User-Agent: GoogleBOT/2\r\n"),
        body("caseless_no_match", "GET /bot/", "human\n").with("User-Agent: Firefox\r\n"),
        body("case_sensitive", "GET /case/", "no Bot\n").with("User-Agent: bot\r\n"),
        body("negated_caseless", "GET /neg/", "curl\n").with("User-Agent: CURL/8\r\n"),
        body("negated_caseless_true", "GET /neg/", "not curl\n").with("User-Agent: wget\r\n"),
        body("not_equal_empty", "GET /ne/", "has ua\n").with("User-Agent: x\r\n"),
        body("absent_header_is_empty", "GET /ne/", "no ua\n"),
        body("equal_variables", "GET /eq/?a=1&b=1", "same\n"),
        body("different_variables", "GET /eq/?a=1&b=2", "different\n"),
        body("zero_is_false", "GET /zero/", "false\n"),
        body("double_zero_is_true", "GET /one/", "true\n"),
        body("unset_is_false", "GET /unset/", "false\n"),
    ]);
    // `$request_filename` is the root and the URI, as nginx makes it.
    let r = pair.vestibule.get("/page.html", "h.test");
    assert_eq!(
        r.text(),
        format!(
            "found {}/www/page.html\n",
            pair.vestibule.dir.path().display()
        ),
        "{r}"
    );
}

#[test]
fn captures_of_if_regexes_as_nginx() {
    let pair = side_by_side::start(
        r#"
server {
    listen 127.0.0.1:@PORT@;
    location ~ ^/fail/(\w+) { if ($http_x ~ nomatch) { return 200 "in\n"; } return 200 "one=[$1]\n"; }
    location ~ ^/nogroup/(\w+) { if ($http_x ~ yes) { return 200 "in [$1]\n"; } return 200 "one=[$1]\n"; }
    location ~ ^/group/(\w+) { if ($http_x ~ (y)es) { } return 200 "one=[$1]\n"; }
    location ~ ^/eq/(\w+) { if ($http_x = yes) { } return 200 "one=[$1]\n"; }
    location ~ ^/named/(?<nm>\w+) { if ($http_x ~ nomatch) { return 200 "in\n"; } return 200 "nm=[$nm] one=[$1]\n"; }
    location /ifnamed/ { if ($uri ~ ^/ifnamed/(?<rest>.*)$) { return 200 "rest=$rest one=$1\n"; } }
    location /rw/ { rewrite ^/rw/(?<first>\w+)/(\w+)$ /show/$2/$first; }
    location /show/ { return 200 "$uri first=$first\n"; }
}"#,
        |_| {},
    );
    let yes = "X: yes\r\n";
    pair.check(&[
        body("failed_regex_empties_captures", "GET /fail/abc", "one=[]\n").with(yes),
        body(
            "regex_without_groups_empties_them",
            "GET /nogroup/abc",
            "in []\n",
        )
        .with(yes),
        body(
            "regex_with_groups_replaces_them",
            "GET /group/abc",
            "one=[y]\n",
        )
        .with(yes),
        body("equality_keeps_them", "GET /eq/abc", "one=[abc]\n").with(yes),
        body(
            "named_capture_outlives_a_failed_regex",
            "GET /named/abc",
            "nm=[abc] one=[]\n",
        )
        .with(yes),
        body(
            "named_capture_of_if",
            "GET /ifnamed/a/b",
            "rest=a/b one=a/b\n",
        ),
        body(
            "named_capture_of_rewrite",
            "GET /rw/one/two",
            "/show/two/one first=one\n",
        ),
    ]);
}

#[test]
fn location_if_gives_its_settings_as_nginx() {
    let pair = side_by_side::start(
        r#"
server {
    listen 127.0.0.1:@PORT@;
    root @DIR@/www;
    location /hdr/ { if ($http_a) { add_header X-If yes; } add_header X-Loc yes; return 200 "if\n"; }
    location /two/ { set $t 1; if ($t) { add_header X-First 1; } if ($t) { add_header X-Second 2; } return 200 "two\n"; }
    location /pass/ { if ($http_a) { proxy_pass http://127.0.0.1:@UP@; } }
    location /after/ { if ($http_a) { proxy_pass http://127.0.0.1:@UP@; } return 200 "script goes on\n"; }
    location /inherit/ { proxy_pass http://127.0.0.1:@UP@/c/; set $t 1; if ($t) { add_header X-If yes; } }
    location /tf/ { try_files /nothing /fallback; set $t 1; if ($t) { } }
    location /tf2/ { try_files /nothing /fallback; }
    location = /fallback { return 200 "fallback\n"; }
    location /ep/ { if ($http_a) { error_page 404 = /fallback; } }
}"#,
        www,
    );
    let a = "A: 1\r\n";
    pair.check(&[
        body("if_false", "GET /hdr/", "if\n"),
        body("if_true", "GET /hdr/", "if\n").with(a),
        body("two_true_ifs", "GET /two/", "two\n"),
        body("proxy_pass_in_if", "GET /pass/x?q=1", "UP /pass/x?q=1\n").with(a),
        status("no_proxy_pass_when_false", "GET /pass/x", 404),
        body(
            "script_goes_on_after_the_block",
            "GET /after/",
            "script goes on\n",
        )
        .with(a),
        body(
            "proxy_pass_inherited_with_its_uri",
            "GET /inherit/x",
            "UP /c/x\n",
        ),
        status("if_drops_try_files", "GET /tf/y", 404),
        body("try_files_without_if", "GET /tf2/y", "fallback\n"),
        body("error_page_in_if", "GET /ep/none", "fallback\n").with(a),
        status("error_page_in_if_false", "GET /ep/none", 404),
    ]);
    // Which headers each got (nginx's: the `if`'s list replaces the location's).
    let headers = |path: &str, extra: &str| {
        let raw =
            format!("GET {path} HTTP/1.1\r\nHost: h.test\r\n{extra}Connection: close\r\n\r\n");
        let mut answers = vec![pair.vestibule.request(raw.as_bytes())];
        if let Some(n) = &pair.nginx {
            answers.push(n.request(raw.as_bytes()));
        }
        answers
    };
    for r in headers("/hdr/", "") {
        assert_eq!(
            (r.header("x-loc"), r.header("x-if")),
            (Some("yes"), None),
            "{r}"
        );
    }
    for r in headers("/hdr/", a) {
        assert_eq!(
            (r.header("x-loc"), r.header("x-if")),
            (None, Some("yes")),
            "{r}"
        );
    }
    for r in headers("/two/", "") {
        assert_eq!(
            (r.header("x-first"), r.header("x-second")),
            (None, Some("2")),
            "{r}"
        );
    }
    for r in headers("/inherit/x", "") {
        assert_eq!(r.header("x-if"), Some("yes"), "{r}");
    }
}

#[test]
fn set_variables_as_nginx() {
    let servers = r#"
server {
    listen 127.0.0.1:@PORT@;
    set $site "main";
    location /v/ { set $a "A$uri"; set $b "${a}B"; return 200 "$a $b [$later] $site\n"; }
    location /later/ { set $later "L"; return 200 "[$later]\n"; }
    location /args/ { set $args "k=v"; return 200 "$args $query_string $is_args $request_uri\n"; }
    location /noargs/ { set $args ""; return 200 "[$args][$is_args]\n"; }
    location /argsup/ { set $args "k=v"; proxy_pass http://127.0.0.1:@UP@; }
    location /shadow/ { set $http_foo "shadow"; return 200 "[$http_foo]\n"; }
    location /hdr/ { set $h "from-set"; add_header X-Set $h; return 200 "hdr\n"; }
    location /log/ { set $logged "in-log"; access_log @DIR@/set.log setlog; return 200 "log\n"; }
}"#;
    let pair = side_by_side::start(
        &servers.replace(
            "server {",
            "log_format setlog \"[$logged] [$site]\";\nserver {",
        ),
        |_| {},
    );
    pair.check(&[
        body("set_with_variables", "GET /v/x", "A/v/x A/v/xB [] main\n"),
        body("set_elsewhere", "GET /later/", "[L]\n"),
        body("set_args", "GET /args/?q=1", "k=v k=v ? /args/?q=1\n"),
        body("set_args_empty", "GET /noargs/?q=1", "[][]\n"),
        body(
            "set_args_upstream",
            "GET /argsup/p?q=1",
            "UP /argsup/p?k=v\n",
        ),
        body("set_shadows_a_header", "GET /shadow/", "[shadow]\n").with("Foo: real\r\n"),
        body("set_in_add_header", "GET /hdr/", "hdr\n"),
        body("set_in_log_format", "GET /log/", "log\n"),
    ]);
    let r = pair.vestibule.get("/hdr/", "h.test");
    assert_eq!(r.header("x-set"), Some("from-set"), "{r}");
    let line = pair.vestibule.wait_for_log_line("set.log", "[in-log]");
    assert_eq!(line, "[in-log] [main]");
}
