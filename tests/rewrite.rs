//! `rewrite`, `return`, `set` and `break` at server and location level through the
//! real binary, side by side with nginx 1.22 (`/usr/sbin/nginx`, skipped with a
//! message where it is not installed): every row is nginx's answer, required of both.
//!
//! - the server block certbot writes on port 80: `rewrite ... break` at the top of
//!   the server stops the later `if` and `return 404`, so the challenge is answered;
//! - the flags: `last` chooses a location again (at most 10 times, then 500 with
//!   nginx's line), `break` stays, no flag goes on with the script, `redirect`,
//!   `permanent` and URL replacements redirect;
//! - arguments: a final `?` drops them, `?args` in the replacement comes first, a
//!   redirect joins them with `&` only when a `?` was written;
//! - captures and escaping: `$1` in a redirect or in arguments is escaped when the
//!   request's path had `%` or `+`; `%XX` in a `Location` is decoded as nginx does;
//! - what a proxied request carries after `break` (the whole new URI, without the
//!   `proxy_pass` URI) and after `last` (the usual prefix replacement);
//! - the server script runs again after an internal redirect to a URI (`error_page`),
//!   not for a named location; a rewritten URI may reach an `internal` location;
//! - `rewrite_log` writes nginx's notice lines.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::side_by_side::{self, body, redirect, status, Case};

fn www(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("www/b")).unwrap();
    std::fs::write(dir.join("www/maintenance.html"), "maint\n").unwrap();
    std::fs::write(dir.join("www/404.html"), "e404\n").unwrap();
    std::fs::write(dir.join("www/new.txt"), "new file\n").unwrap();
}

#[test]
fn certbot_port_80_block_answers_the_challenge_and_redirects_the_rest() {
    // As certbot 2 leaves the block during a renewal: its lines, its layout.
    let pair = side_by_side::start(
        "
server {rewrite ^(/.well-known/acme-challenge/.*) $1 break; # managed by Certbot
    location = /.well-known/acme-challenge/TOKEN{default_type text/plain;return 200 TOKEN.THUMB;} # managed by Certbot
    if ($host = www.example.test) {
        return 301 https://$host$request_uri;
    } # managed by Certbot
    listen 127.0.0.1:@PORT@;
    server_name example.test www.example.test;
    return 404; # managed by Certbot
}",
        |_| {},
    );
    let www_host = "Host: www.example.test\r\n";
    let apex = "Host: example.test\r\n";
    let token = "GET /.well-known/acme-challenge/TOKEN";
    pair.check(&[
        body("challenge_on_www", token, "TOKEN.THUMB").with(www_host),
        body("challenge_on_apex", token, "TOKEN.THUMB").with(apex),
        // Another challenge path stays at the server level (rewrite ... break): a
        // static file that is not there.
        status(
            "other_challenge",
            "GET /.well-known/acme-challenge/OTHER",
            404,
        )
        .with(www_host),
        redirect(
            "www_redirected",
            "GET /x?q=1",
            301,
            "https://www.example.test/x?q=1",
        )
        .with(www_host),
        status("apex_404", "GET /x", 404).with(apex),
    ]);
}

#[test]
fn rewrite_flags_arguments_and_redirects_as_nginx() {
    let pair = side_by_side::start(
        r#"
server {
    listen 127.0.0.1:@PORT@;
    location /show/ { return 200 "uri=$uri args=$args is_args=$is_args request_uri=$request_uri\n"; }
    location /a1/ { rewrite ^/a1/(.*)$ /show/$1?x=1; }
    location /a2/ { rewrite ^/a2/(.*)$ /show/$1?; }
    location /a3/ { rewrite ^/a3/(.*)$ /show/$1; }
    location /a4/ { rewrite ^/a4/(.*)$ /show/$1?x=$1; }
    location /r1/ { rewrite ^/r1/(.*)$ http://e.test/$1?x=1; }
    location /r2/ { rewrite ^/r2/(.*)$ /$1 permanent; }
    location /r3/ { rewrite ^/r3/(.*)$ /t/$1? redirect; }
    location /r4/ { rewrite ^/r4/(.*)$ $scheme://e.test/$1 last; }
    location /r5/ { rewrite ^/r5/(.*)$ http://e.test/%41%20$1/%3F; }
    location /r6/ { rewrite ^/r6/(.*)$ /n/$1?a=1 permanent; }
    location /r7/ { set $t "/n?a=2"; rewrite ^/r7/(.*)$ $t permanent; }
    location /r9/ { rewrite ^/r9/(.*)$ http://e.test/$1; }
    location /slash/ { rewrite ^/(.*)/$ /$1 permanent; return 200 "no slash: $uri\n"; }
    location /brk/ { rewrite ^/brk/(.*)$ /a/$1; rewrite ^/a/(.*)$ /show/$1; break; return 200 "not reached\n"; }
    location /nobrk/ { rewrite ^/nobrk/(.*)$ /show/$1; return 200 "returned $uri\n"; }
    location /cont/ { rewrite ^/cont/(.*)$ /b/$1; set $z "[$uri]"; rewrite ^/b/(.*)$ /c/$1; }
    location /c/ { return 200 "c $uri $z\n"; }
    location /loop/ { rewrite ^/loop/(x*)$ /loop/$1x last; }
    location /empty/ { rewrite ^ $arg_x; return 200 "not reached\n"; }
    location /pb/ { rewrite ^/pb/(.*)$ /new/$1 break; proxy_pass http://127.0.0.1:@UP@/c/; }
    location /pl/ { rewrite ^/pl/(.*)$ /pn/$1 last; }
    location /pn/ { proxy_pass http://127.0.0.1:@UP@/c/; }
    location /pnu/ { rewrite ^/pnu/(.*)$ /pnu/x$1 break; proxy_pass http://127.0.0.1:@UP@; }
    location /x/ { proxy_pass http://127.0.0.1:@UP@; rewrite ^/x/(.*)$ /y/$1?z=$1 break; }
    location /app { rewrite ^ /dir last; }
    location /dir/ { proxy_pass http://127.0.0.1:@UP@; }
}"#,
        |_| {},
    );
    pair.check(&[
        body(
            "args_written_first",
            "GET /a1/b?q=1",
            "uri=/show/b args=x=1&q=1 is_args=? request_uri=/a1/b?q=1\n",
        ),
        body(
            "args_written_only",
            "GET /a1/b",
            "uri=/show/b args=x=1 is_args=? request_uri=/a1/b\n",
        ),
        body(
            "final_question_mark_drops_args",
            "GET /a2/b?q=1",
            "uri=/show/b args= is_args= request_uri=/a2/b?q=1\n",
        ),
        body(
            "args_kept",
            "GET /a3/b?q=1",
            "uri=/show/b args=q=1 is_args=? request_uri=/a3/b?q=1\n",
        ),
        body(
            "capture_escaped_in_args",
            "GET /a4/s%20p+q?q=1",
            "uri=/show/s p+q args=x=s%20p%2Bq&q=1 is_args=? request_uri=/a4/s%20p+q?q=1\n",
        ),
        body(
            "capture_raw_without_percent",
            "GET /a4/sp?q=1",
            "uri=/show/sp args=x=sp&q=1 is_args=? request_uri=/a4/sp?q=1\n",
        ),
        redirect(
            "url_replacement",
            "GET /r1/b?q=1",
            302,
            "http://e.test/b?x=1&q=1",
        ),
        redirect(
            "url_replacement_no_args",
            "GET /r1/b",
            302,
            "http://e.test/b?x=1",
        ),
        redirect(
            "permanent_escapes_capture",
            "GET /r2/b%20c?q=1",
            301,
            "http://h.test:@PORT@/b%20c?q=1",
        ),
        redirect(
            "permanent_plus",
            "GET /r2/b+c",
            301,
            "http://h.test:@PORT@/b+c",
        ),
        redirect(
            "permanent_decoded",
            "GET /r2/b%41c",
            301,
            "http://h.test:@PORT@/bAc",
        ),
        redirect(
            "redirect_without_args",
            "GET /r3/b?q=1",
            302,
            "http://h.test:@PORT@/t/b",
        ),
        redirect(
            "scheme_redirects_whatever_the_flag",
            "GET /r4/b?q=1",
            302,
            "http://e.test/b?q=1",
        ),
        redirect(
            "location_unescaped_up_to_question_mark",
            "GET /r5/b%23c",
            302,
            "http://e.test/A%20b%23c/?",
        ),
        redirect(
            "decoded_question_mark_then_args",
            "GET /r5/b?q=1",
            302,
            "http://e.test/A%20b/??q=1",
        ),
        redirect(
            "written_question_mark_joins_with_amp",
            "GET /r6/b?q=1",
            301,
            "http://h.test:@PORT@/n/b?a=1&q=1",
        ),
        redirect(
            "question_mark_from_variable_does_not",
            "GET /r7/b?q=1",
            301,
            "http://h.test:@PORT@/n?a=2?q=1",
        ),
        redirect(
            "non_ascii_escaped",
            "GET /r9/b%20%C3%A9%23",
            302,
            "http://e.test/b%20%C3%A9%23",
        ),
        redirect(
            "escaped_question_mark_in_capture",
            "GET /r9/b%3F%26",
            302,
            "http://e.test/b?%26",
        ),
        redirect(
            "trailing_slash_removed",
            "GET /slash/a/",
            301,
            "http://h.test:@PORT@/slash/a",
        ),
        body("no_trailing_slash", "GET /slash/a", "no slash: /slash/a\n"),
        // `break` after two rewrites: the request stays here; the return is not
        // reached, and /show/b is looked for on disk.
        status("break_stays_in_location", "GET /brk/b", 404),
        body(
            "no_flag_goes_on_with_the_script",
            "GET /nobrk/b",
            "returned /show/b\n",
        ),
        body(
            "no_flag_relocates_at_the_end",
            "GET /cont/q",
            "c /c/q [/b/q]\n",
        ),
        status("ten_relocations_then_500", "GET /loop/", 500),
        status("ten_from_the_middle", "GET /loop/xxxxxxxx", 500),
        status("empty_rewritten_uri", "GET /empty/", 500),
        body(
            "break_sends_whole_uri_upstream",
            "GET /pb/a%20b?q=1",
            "UP /new/a%20b?q=1\n",
        ),
        body(
            "last_replaces_prefix_upstream",
            "GET /pl/x?q=1",
            "UP /c/x?q=1\n",
        ),
        body(
            "break_without_proxy_uri",
            "GET /pnu/y?q=1",
            "UP /pnu/xy?q=1\n",
        ),
        body(
            "escaped_capture_upstream",
            "GET /x/a%20b+c?q=1",
            "UP /y/a%20b+c?z=a%20b%2Bc&q=1\n",
        ),
        body(
            "raw_capture_upstream",
            "GET /x/a&b?q=1",
            "UP /y/a&b?z=a&b&q=1\n",
        ),
        redirect(
            "last_to_a_proxied_directory",
            "GET /app",
            301,
            "http://h.test:@PORT@/dir/",
        ),
    ]);
    pair.both_logged(&[
        "[error]",
        "rewrite or internal redirection cycle while processing \"/loop/xxxxxxxxxxx\"",
        "request: \"GET /loop/ HTTP/1.1\"",
    ]);
    pair.both_logged(&["[error]", "the rewritten URI has a zero length"]);
}

#[test]
fn server_script_runs_before_locations_and_after_internal_redirects() {
    let pair = side_by_side::start(
        r#"
server {
    listen 127.0.0.1:@PORT@;
    server_name h.test;
    root @DIR@/www;
    set $srv "S";
    rewrite ^/old/(.*)$ /new/$1;
    rewrite ^/oldlast/(.*)$ /new/$1 last;
    rewrite ^/oldbrk/(.*)$ /new/$1 break;
    rewrite ^/toint/(.*)$ /secret/$1 last;
    if ($uri ~ ^/new/stop) { return 418 "stopped\n"; }
    rewrite ^/new/again/(.*)$ /new/twice/$1;
    if ($http_deny) { return 403; }
    if ($http_maintenance) { return 503; }
    error_page 403 /err403;
    error_page 503 @maintenance;
    error_page 404 /404.html;
    location @maintenance { rewrite ^(.*)$ /maintenance.html break; }
    location = /err403 { return 200 "custom 403 page srv=$srv\n"; }
    location /new/ { return 200 "new $uri args=$args srv=$srv\n"; }
    location /secret/ { internal; return 200 "secret $uri\n"; }
    location /outer/ { rewrite ^ /new/from-outer; location /outer/inner/ { return 200 "inner $uri\n"; } }
    location /srvset/ { set $srv "L"; return 200 "srv=$srv\n"; }
    location /e/ { return 404; }
}"#,
        www,
    );
    pair.check(&[
        body(
            "no_flag_at_server_level",
            "GET /old/a?q=1",
            "new /new/a args=q=1 srv=S\n",
        ),
        body(
            "last_at_server_level",
            "GET /oldlast/a?q=1",
            "new /new/a args=q=1 srv=S\n",
        ),
        body(
            "break_at_server_level",
            "GET /oldbrk/a?q=1",
            "new /new/a args=q=1 srv=S\n",
        ),
        body(
            "rewritten_uri_reaches_internal",
            "GET /toint/x",
            "secret /secret/x\n",
        ),
        status("internal_from_outside", "GET /secret/x", 404),
        Case {
            status: 418,
            body: Some("stopped\n"),
            ..status("if_after_rewrite", "GET /old/stop", 418)
        },
        body(
            "two_rewrites_at_server_level",
            "GET /new/again/x",
            "new /new/twice/x args= srv=S\n",
        ),
        // error_page 403 /err403 runs the server script again: still 403, the
        // default page now.
        status("error_page_uri_reruns_server_script", "GET /new/x", 403).with("Deny: 1\r\n"),
        body(
            "error_page_target_itself",
            "GET /err403",
            "custom 403 page srv=S\n",
        ),
        // error_page 503 @maintenance: a named location skips the server script.
        Case {
            body: Some("maint\n"),
            ..status("maintenance_page", "GET /new/x", 503)
        }
        .with("Maintenance: 1\r\n"),
        Case {
            body: Some("e404\n"),
            ..status("error_page_from_location_return", "GET /e/", 404)
        },
        body(
            "nested_location_does_not_inherit_the_script",
            "GET /outer/inner/x",
            "inner /outer/inner/x\n",
        ),
        body(
            "outer_location_script",
            "GET /outer/x",
            "new /new/from-outer args= srv=S\n",
        ),
        body("set_in_location_after_server", "GET /srvset/", "srv=L\n"),
    ]);
}

#[test]
fn rewrite_log_writes_nginx_notice_lines() {
    let pair = side_by_side::start(
        r#"
server {
    listen 127.0.0.1:@PORT@;
    rewrite_log on;
    location /show/ { return 200 "$uri\n"; }
    location /r/ {
        if ($http_x ~ ^no) { return 403; }
        rewrite ^/r/nomatch /zz;
        rewrite ^/r/(.*)$ /show/$1?a=1 last;
    }
    location /p/ { rewrite ^/p/(.*)$ http://e.test/$1 permanent; }
}"#,
        |_| {},
    );
    pair.check(&[
        body("rewritten", "GET /r/x?q=1", "/show/x\n").with("X: yes\r\n"),
        redirect("redirected", "GET /p/y", 301, "http://e.test/y"),
    ]);
    let request = "request: \"GET /r/x?q=1 HTTP/1.1\", host: \"h.test\"";
    for line in [
        "\"^no\" does not match \"yes\", client: 127.0.0.1, server: , ",
        "\"^/r/nomatch\" does not match \"/r/x\", client: 127.0.0.1, server: , ",
        "\"^/r/(.*)$\" matches \"/r/x\", client: 127.0.0.1, server: , ",
        "rewritten data: \"/show/x\", args: \"a=1&q=1\", client: 127.0.0.1, server: , ",
    ] {
        pair.both_logged(&["[notice]", line, request]);
    }
    pair.both_logged(&[
        "[notice]",
        "rewritten redirect: \"http://e.test/y\", client",
    ]);
}

#[test]
fn a_rewritten_uri_cannot_leave_the_root() {
    // nginx takes a rewritten URI as it is, `..` included, and would serve
    // /etc/passwd here; vestibule opens files only beneath the root (403).
    let v = common::Vestibule::start(
        "server { listen 127.0.0.1:@PORT@; root @DIR@/www; location /t/ { rewrite ^ /$arg_x break; } }",
    );
    std::fs::create_dir_all(v.path("www")).unwrap();
    std::fs::write(v.path("www/inside.txt"), "inside\n").unwrap();
    let r = v.get("/t/?x=inside.txt", "h.test");
    assert_eq!((r.status, r.text().as_str()), (200, "inside\n"), "{r}");
    let r = v.get("/t/?x=../../../../etc/passwd", "h.test");
    assert_eq!(r.status, 403, "{r}");
    v.wait_for_error_line(&["refused: the path leaves", "../etc/passwd"]);
}
