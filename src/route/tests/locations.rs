//! Location selection, one row per nginx rule.

use std::sync::Arc;

use super::{describe, routed, FIRST};
use crate::route::{LocationOutcome, ServerId};

/// A server body with `locations`, and the outcome for each request path.
struct Case {
    name: &'static str,
    locations: &'static str,
    requests: &'static [(&'static str, &'static str)],
}

const PROXY: &str = "proxy_pass http://127.0.0.1:8000;";

fn server_with(locations: &str) -> String {
    let body = locations.replace("PROXY", PROXY);
    format!("http {{ server {{ listen 8000; {body} }} }}")
}

const CASES: &[Case] = &[
    Case {
        name: "exact_beats_prefix",
        locations: "location = /a { } location /a { } location / { }",
        requests: &[("/a", "loc = /a"), ("/ab", "loc /a"), ("/a/b", "loc /a")],
    },
    Case {
        name: "exact_beats_regex",
        locations: r"location = /x.php { } location ~ \.php$ { }",
        requests: &[("/x.php", "loc = /x.php"), ("/y.php", r"loc ~ \.php$")],
    },
    Case {
        name: "exact_only_is_not_a_prefix",
        locations: "location = /a/ { } location / { }",
        requests: &[("/a/", "loc = /a/"), ("/a/x", "loc /")],
    },
    Case {
        name: "longest_prefix",
        locations: "location / { } location /a/ { } location /a/b/ { }",
        requests: &[
            ("/a/b/c", "loc /a/b/"),
            ("/a/x", "loc /a/"),
            ("/z", "loc /"),
            ("/a", "loc /"),
        ],
    },
    Case {
        name: "longest_prefix_past_unrelated_siblings",
        locations: "location /a/ { } location /a/b { } location /a/bc { } location /a/c/ { }",
        requests: &[
            ("/a/bd", "loc /a/b"),
            ("/a/bcd", "loc /a/bc"),
            ("/a/d", "loc /a/"),
            ("/a/c", "loc /a/"),
            ("/a/c/x", "loc /a/c/"),
            ("/b", "server"),
        ],
    },
    Case {
        name: "prefix_is_case_sensitive",
        locations: "location /Static/ { }",
        requests: &[("/static/x", "server"), ("/Static/x", "loc /Static/")],
    },
    Case {
        name: "caret_tilde_stops_regex",
        locations: r"location ^~ /static/ { } location ~ \.css$ { }",
        requests: &[
            ("/static/a.css", "loc ^~ /static/"),
            ("/other/a.css", r"loc ~ \.css$"),
        ],
    },
    Case {
        name: "regex_beats_plain_prefix",
        locations: r"location /static/ { } location ~ \.css$ { }",
        requests: &[
            ("/static/a.css", r"loc ~ \.css$"),
            ("/static/a.js", "loc /static/"),
        ],
    },
    Case {
        name: "first_regex_in_order_wins",
        locations: r"location ~ \.css$ { } location ~ ^/a/ { }",
        requests: &[("/a/x.css", r"loc ~ \.css$"), ("/a/x.js", "loc ~ ^/a/")],
    },
    Case {
        name: "first_regex_in_order_wins_reversed",
        locations: r"location ~ ^/a/ { } location ~ \.css$ { }",
        requests: &[("/a/x.css", "loc ~ ^/a/"), ("/b/x.css", r"loc ~ \.css$")],
    },
    Case {
        name: "tilde_star_is_case_insensitive",
        locations: r"location ~* \.png$ { }",
        requests: &[("/A.PNG", r"loc ~* \.png$"), ("/a.png", r"loc ~* \.png$")],
    },
    Case {
        name: "tilde_is_case_sensitive",
        locations: r"location ~ \.png$ { }",
        requests: &[("/A.PNG", "server"), ("/a.png", r"loc ~ \.png$")],
    },
    Case {
        name: "nested_prefix_inside_prefix",
        locations: "location /a/ { location /a/b/ { } }",
        requests: &[("/a/b/c", "loc /a/b/"), ("/a/c", "loc /a/")],
    },
    Case {
        name: "nested_regex_found_when_outer_prefix_is_longest",
        locations: r"location /a/ { location ~ \.php$ { } } location /a/b/ { } location /c/ { }",
        requests: &[
            ("/a/x.php", r"loc ~ \.php$"),
            ("/a/b/x.php", "loc /a/b/"),
            ("/c/x.php", "loc /c/"),
        ],
    },
    Case {
        name: "regex_location_searches_its_nested_locations",
        locations: r"location ~ ^/api/ { location ~ \.json$ { } location /api/v1/ { } }",
        requests: &[
            ("/api/x.json", r"loc ~ \.json$"),
            ("/api/v1/x", "loc /api/v1/"),
            ("/api/x", "loc ~ ^/api/"),
        ],
    },
    Case {
        name: "caret_tilde_with_nested_regex_still_checks_nested",
        locations: r"location ^~ /static/ { location ~ \.gz$ { } } location ~ \.(gz|css)$ { }",
        requests: &[
            ("/static/a.gz", r"loc ~ \.gz$"),
            ("/static/a.css", "loc ^~ /static/"),
            ("/other/a.css", r"loc ~ \.(gz|css)$"),
        ],
    },
    Case {
        name: "nested_caret_tilde_does_not_stop_outer_regexes",
        locations: r"location /a/ { location ^~ /a/b/ { } } location ~ \.php$ { }",
        requests: &[("/a/b/x.php", r"loc ~ \.php$"), ("/a/b/x", "loc ^~ /a/b/")],
    },
    Case {
        name: "outer_caret_tilde_covers_nested_prefix",
        locations: r"location ^~ /a/ { location /a/b/ { } } location ~ \.php$ { }",
        requests: &[("/a/b/x.php", "loc /a/b/")],
    },
    Case {
        // The example of nginx's location tree walk: the top regex wins over the
        // plain prefix /ca, and its nested regex wins inside it.
        name: "nested_regexes_in_prefix_and_regex",
        locations: r"location ^~ /c { }
            location /ca { location ~ /cab[0-1]m* { location ~ /cab[0-7]ms* { } } }
            location ~ /cab[0-9]m* { location ~ /cab[0-2]m* { } }",
        requests: &[
            ("/cab2ms", "loc ~ /cab[0-2]m*"),
            ("/cab1ms", "loc ~ /cab[0-7]ms*"),
            ("/cab8", "loc ~ /cab[0-9]m*"),
            ("/cx", "loc ^~ /c"),
            ("/ca", "loc /ca"),
        ],
    },
    Case {
        name: "auto_redirect_for_proxied_prefix",
        locations: "location /app/ { PROXY }",
        requests: &[
            ("/app", "redirect /app/"),
            ("/app/", "loc /app/"),
            ("/app/x", "loc /app/"),
            ("/ap", "server"),
            ("/appx", "server"),
        ],
    },
    Case {
        name: "auto_redirect_not_when_exact_exists",
        locations: "location = /app { } location /app/ { PROXY }",
        requests: &[("/app", "loc = /app")],
    },
    Case {
        name: "auto_redirect_not_when_prefix_equals_path",
        locations: "location /app { } location /app/ { PROXY }",
        requests: &[("/app", "loc /app"), ("/app/x", "loc /app/")],
    },
    Case {
        name: "auto_redirect_only_with_proxy_pass",
        locations: "location / { } location /app/ { }",
        requests: &[("/app", "loc /")],
    },
    Case {
        name: "auto_redirect_beats_shorter_prefix_and_regex",
        locations: "location / { PROXY } location /app/ { PROXY } location ~ ^/app$ { }",
        requests: &[("/app", "redirect /app/"), ("/apps", "loc /")],
    },
    Case {
        name: "auto_redirect_in_nested_prefix",
        locations: "location / { location /app/ { PROXY } }",
        requests: &[("/app", "redirect /app/")],
    },
    Case {
        name: "auto_redirect_ignored_under_regex_as_nginx",
        locations: "location ~ ^/x { location /x/app/ { PROXY } }",
        requests: &[("/x/app", "loc /x/app/"), ("/x/a", "loc ~ ^/x")],
    },
    Case {
        name: "auto_redirect_despite_sorting_sibling",
        locations: "location /app.x { } location /app/ { PROXY } location /app- { }",
        requests: &[("/app", "redirect /app/")],
    },
    Case {
        name: "named_location_is_not_matched_by_uri",
        locations: "location @fallback { }",
        requests: &[
            ("@fallback", "server"),
            ("/@fallback", "server"),
            ("/", "server"),
        ],
    },
    Case {
        name: "no_location_means_server",
        locations: "location /a/ { }",
        requests: &[("/b", "server"), ("/", "server")],
    },
    Case {
        name: "empty_server_means_server",
        locations: "",
        requests: &[("/", "server")],
    },
    Case {
        name: "nginx_documentation_example",
        locations: r"location = / { } location / { } location /documents/ { }
            location ^~ /images/ { } location ~* \.(gif|jpg|jpeg)$ { }",
        requests: &[
            ("/", "loc = /"),
            ("/index.html", "loc /"),
            ("/documents/document.html", "loc /documents/"),
            ("/images/1.gif", "loc ^~ /images/"),
            ("/documents/1.jpg", r"loc ~* \.(gif|jpg|jpeg)$"),
        ],
    },
    Case {
        name: "flask_guide_static_and_proxy",
        locations: "location /static/ { alias /var/www/flaskapp/static/; }
            location / { PROXY proxy_redirect off; }",
        requests: &[
            ("/static/css/a.css", "loc /static/"),
            ("/static/", "loc /static/"),
            ("/", "loc /"),
            ("/login", "loc /"),
            ("/staticx", "loc /"),
            ("/static", "loc /"),
        ],
    },
];

#[test]
fn location_selection_table() {
    let mut failures = Vec::new();
    for case in CASES {
        let (_http, router) = routed(&server_with(case.locations));
        for (uri, want) in case.requests {
            let got = describe(&router.select_location(FIRST, uri));
            if got != *want {
                failures.push(format!("{}: {uri:?} → {got:?}, want {want:?}", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn captures_of(locations: &str, uri: &str) -> Vec<Option<String>> {
    let (_http, router) = routed(&server_with(locations));
    match router.select_location(FIRST, uri) {
        LocationOutcome::Location {
            captures: Some(c), ..
        } => (0..c.len()).map(|i| c.get(i).map(String::from)).collect(),
        LocationOutcome::Location { captures: None, .. } => Vec::new(),
        other => panic!("{uri}: {}", describe(&other)),
    }
}

#[test]
fn regex_location_captures() {
    let some = |s: &str| Some(s.to_string());
    let (_http, router) = routed(&server_with(r"location ~ ^/user/(?<id>\d+)/(\w+)$ { }"));
    let LocationOutcome::Location {
        captures: Some(c), ..
    } = router.select_location(FIRST, "/user/42/edit")
    else {
        panic!("no captures");
    };
    assert_eq!(c.get(1), Some("42"));
    assert_eq!(c.get(2), Some("edit"));
    assert_eq!(c.name("id"), Some("42"));

    let cases: &[(&str, &str, &str, Vec<Option<String>>)] = &[
        (
            "regex_without_groups_has_no_captures",
            r"location ~ \.php$ { }",
            "/x.php",
            vec![],
        ),
        (
            "nested_regex_without_groups_keeps_outer_captures",
            r"location ~ ^/(\w+)/ { location ~ \.php$ { } }",
            "/app/x.php",
            vec![some("/app/"), some("app")],
        ),
        (
            "nested_regex_with_groups_replaces_outer_captures",
            r"location ~ ^/(\w+)/ { location ~ (\w+)\.php$ { } }",
            "/app/x.php",
            vec![some("x.php"), some("x")],
        ),
        (
            "nested_prefix_under_regex_keeps_regex_captures",
            r"location ~ ^/(\w+)/ { location /app/v1/ { } }",
            "/app/v1/x",
            vec![some("/app/"), some("app")],
        ),
        (
            "prefix_match_has_no_captures",
            r"location /app/ { } location ~ ^/(\w+)\.css$ { }",
            "/app/x",
            vec![],
        ),
    ];
    for (name, locations, uri, want) in cases {
        assert_eq!(&captures_of(locations, uri), want, "{name}");
    }
}

#[test]
fn internal_locations_are_matched_and_flagged() {
    let (_http, router) = routed(&server_with(
        "location /private/ { internal; } location / { }",
    ));
    let LocationOutcome::Location { location, .. } = router.select_location(FIRST, "/private/x")
    else {
        panic!("no location");
    };
    assert!(location.internal);
    let LocationOutcome::Location { location, .. } = router.select_location(FIRST, "/x") else {
        panic!("no location");
    };
    assert!(!location.internal);
}

#[test]
fn named_locations_are_found_by_name_per_server() {
    let (_http, router) = routed(
        "http {
            server { listen 8000; location / { } location @app { } }
            server { listen 8001; location @other { } }
        }",
    );
    let app = router.named(FIRST, "@app").unwrap();
    assert_eq!(app.matcher.describe(), "@app");
    assert!(
        router.named(FIRST, "app").is_none(),
        "the @ is part of the name"
    );
    assert!(router.named(FIRST, "@other").is_none(), "another server's");
    assert!(router.named(ServerId(1), "@other").is_some());
    assert!(
        router.named(ServerId(7), "@app").is_none(),
        "unknown server"
    );
}

#[test]
fn routed_location_resolves_to_its_block_and_shares_its_conf() {
    let (http, router) = routed(&server_with(
        "location / { } location /a/ { location /a/b/ { location /a/b/c/ { } } }",
    ));
    let LocationOutcome::Location { location, .. } = router.select_location(FIRST, "/a/b/c/d")
    else {
        panic!("no location");
    };
    assert_eq!(&*location.tree_path, &[1, 0, 0]);
    assert_eq!(location.server, FIRST);
    let block = location.resolve(&http).unwrap();
    assert_eq!(block.matcher.describe(), "/a/b/c/");
    assert!(Arc::ptr_eq(&block.conf, &location.conf));
    assert_eq!(router.location(location.id).unwrap().id, location.id);
}

#[test]
fn unknown_server_gets_server_outcome() {
    let (_http, router) = routed(&server_with("location / { }"));
    assert_eq!(
        describe(&router.select_location(ServerId(3), "/")),
        "server"
    );
}
