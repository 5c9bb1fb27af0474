//! Server selection, one row per nginx rule.

use std::path::PathBuf;

use super::routed;
use crate::config::model::ListenAddr;
use crate::route::{normalize_host, NameMatch, Router};

fn tcp(s: &str) -> ListenAddr {
    ListenAddr::Tcp(s.parse().unwrap())
}

fn unix(p: &str) -> ListenAddr {
    ListenAddr::Unix(PathBuf::from(p))
}

/// `(server index, how)` for a request, `None` when nothing listens on `local`.
fn select(router: &Router, local: &ListenAddr, host: Option<&str>) -> Option<(usize, NameMatch)> {
    router
        .select_server(local, host)
        .map(|m| (m.server.index(), m.by))
}

const NAMES: &str = r"http {
    server { listen 8000; server_name first.test; }
    server { listen 8000; server_name example.com www.example.com; }
    server { listen 8000; server_name *.example.com; }
    server { listen 8000; server_name *.api.example.com; }
    server { listen 8000; server_name www.example.*; }
    server { listen 8000; server_name www.*; }
    server { listen 8000; server_name ~^(?<sub>\w+)\.regex\.test$; }
    server { listen 8000; server_name ~\.test$; }
    server { listen 8000 default_server; server_name dflt.test .dot.org; }
    server { listen 8000; server_name example.com; }
}";

#[test]
fn server_name_order() {
    use NameMatch::*;
    let (_http, router) = routed(NAMES);
    let local = tcp("127.0.0.1:8000");
    let cases: &[(&str, Option<&str>, (usize, NameMatch))] = &[
        ("exact", Some("example.com"), (1, Exact)),
        ("exact_beats_wildcards", Some("www.example.com"), (1, Exact)),
        (
            "leading_wildcard",
            Some("a.example.com"),
            (2, LeadingWildcard),
        ),
        (
            "leading_wildcard_any_depth",
            Some("a.b.example.com"),
            (2, LeadingWildcard),
        ),
        (
            "longest_leading_wildcard",
            Some("v1.api.example.com"),
            (3, LeadingWildcard),
        ),
        (
            "star_dot_needs_a_subdomain",
            Some("api.example.com"),
            (2, LeadingWildcard),
        ),
        (
            "leading_beats_trailing",
            Some("www.foo.example.com"),
            (2, LeadingWildcard),
        ),
        (
            "trailing_wildcard",
            Some("www.example.org"),
            (4, TrailingWildcard),
        ),
        (
            "shorter_trailing_wildcard",
            Some("www.other.org"),
            (5, TrailingWildcard),
        ),
        ("dot_form_matches_bare_name", Some("dot.org"), (8, Exact)),
        (
            "dot_form_matches_subdomains",
            Some("a.dot.org"),
            (8, LeadingWildcard),
        ),
        ("first_regex_in_order", Some("abc.regex.test"), (6, Regex)),
        ("later_regex", Some("other.test"), (7, Regex)),
        ("exact_beats_regex", Some("first.test"), (0, Exact)),
        ("default_server", Some("unknown.org"), (8, DefaultServer)),
        ("first_name_claim_wins", Some("example.com"), (1, Exact)),
        (
            "no_host_matches_empty_name_else_default",
            None,
            (8, DefaultServer),
        ),
        (
            "underscore_is_an_ordinary_name",
            Some("_"),
            (8, DefaultServer),
        ),
    ];
    for (name, host, want) in cases {
        assert_eq!(select(&router, &local, *host), Some(*want), "{name}");
    }
}

#[test]
fn regex_server_name_captures() {
    let (_http, router) = routed(NAMES);
    let m = router
        .select_server(&tcp("127.0.0.1:8000"), Some("shop.regex.test"))
        .unwrap();
    let c = m.captures.unwrap();
    assert_eq!(c.name("sub"), Some("shop"));
    assert_eq!(c.get(1), Some("shop"));
    let m = router
        .select_server(&tcp("127.0.0.1:8000"), Some("x.test"))
        .unwrap();
    assert!(
        m.captures.is_none(),
        "a regex without groups captures nothing"
    );
}

#[test]
fn fallbacks_without_default_server() {
    use NameMatch::*;
    let (_http, router) = routed(
        r#"http {
            server { listen 8000; server_name a.test; }
            server { listen 8000; server_name ""; }
            server { listen 8000; server_name ~.; }
            server { listen 8000; }
        }"#,
    );
    let local = tcp("0.0.0.0:8000");
    let cases: &[(&str, Option<&str>, (usize, NameMatch))] = &[
        ("any_host_matches_catch_all_regex", Some("b"), (2, Regex)),
        ("no_host_matches_empty_name", None, (1, Exact)),
        ("regex_not_tried_for_empty_host", None, (1, Exact)),
    ];
    for (name, host, want) in cases {
        assert_eq!(select(&router, &local, *host), Some(*want), "{name}");
    }
    let (_http, router) = routed(
        "http {
            server { listen 8000; server_name a.test; }
            server { listen 8000; server_name b.test; }
        }",
    );
    assert_eq!(
        select(&router, &local, Some("c.test")),
        Some((0, FirstServer))
    );
    assert_eq!(select(&router, &local, None), Some((0, FirstServer)));
}

#[test]
fn server_without_server_name_answers_requests_without_host() {
    let (_http, router) = routed(
        "http {
            server { listen 8000; server_name a.test; }
            server { listen 8000; }
        }",
    );
    let local = tcp("127.0.0.1:8000");
    assert_eq!(select(&router, &local, None), Some((1, NameMatch::Exact)));
    assert_eq!(
        select(&router, &local, Some("z")),
        Some((0, NameMatch::FirstServer))
    );
}

#[test]
fn listen_address_groups() {
    use NameMatch::*;
    let (_http, router) = routed(
        "http {
            server { listen 127.0.0.1:8080; server_name a.test; }
            server { listen 8080; server_name b.test; }
            server { listen 8081; listen 127.0.0.1:8080; server_name c.test; }
            server { listen [::]:8080; server_name v6.test; }
            server { listen [::1]:8080; server_name v6lo.test; }
            server { listen unix:/run/v.sock; server_name u.test; }
            server { listen unix:/run/w.sock; server_name u.test; }
        }",
    );
    type Row = (
        &'static str,
        ListenAddr,
        Option<&'static str>,
        Option<(usize, NameMatch)>,
    );
    let cases: &[Row] = &[
        (
            "specific_address_ignores_wildcard_servers",
            tcp("127.0.0.1:8080"),
            Some("b.test"),
            Some((0, FirstServer)),
        ),
        (
            "specific_address_names",
            tcp("127.0.0.1:8080"),
            Some("c.test"),
            Some((2, Exact)),
        ),
        (
            "other_address_falls_to_wildcard",
            tcp("127.0.0.2:8080"),
            Some("b.test"),
            Some((1, Exact)),
        ),
        (
            "wildcard_group_has_only_its_servers",
            tcp("127.0.0.2:8080"),
            Some("a.test"),
            Some((1, FirstServer)),
        ),
        (
            "other_port",
            tcp("10.0.0.1:8081"),
            Some("a.test"),
            Some((2, FirstServer)),
        ),
        ("nothing_on_port", tcp("127.0.0.1:9999"), None, None),
        (
            "ipv6_specific",
            tcp("[::1]:8080"),
            None,
            Some((4, FirstServer)),
        ),
        (
            "ipv6_wildcard",
            tcp("[::2]:8080"),
            Some("v6.test"),
            Some((3, Exact)),
        ),
        (
            "ipv6_has_no_wildcard_on_8081",
            tcp("[::2]:8081"),
            None,
            None,
        ),
        (
            "unix_by_path",
            unix("/run/v.sock"),
            Some("u.test"),
            Some((5, Exact)),
        ),
        (
            "unix_other_path",
            unix("/run/w.sock"),
            Some("u.test"),
            Some((6, Exact)),
        ),
        ("unix_unknown_path", unix("/run/x.sock"), None, None),
    ];
    for (name, local, host, want) in cases {
        assert_eq!(select(&router, local, *host), *want, "{name}");
    }
    assert_eq!(router.addresses().count(), 7);
    let group = router.listen_group(&tcp("127.0.0.1:8080")).unwrap();
    assert_eq!(group.default_server().index(), 0);
}

#[test]
fn normalized_host_selects_server() {
    let (_http, router) = routed(NAMES);
    let host = normalize_host("WWW.Example.COM.:8000").unwrap();
    assert_eq!(
        select(&router, &tcp("127.0.0.1:8000"), Some(&host)),
        Some((1, NameMatch::Exact))
    );
}

#[test]
fn router_without_http_routes_nothing() {
    let router = Router::default();
    assert!(router.select_server(&tcp("127.0.0.1:80"), None).is_none());
}

#[test]
fn regex_with_an_uppercase_letter_matches_without_case() {
    // nginx compiles a server_name regex caselessly when it has an uppercase letter;
    // the Host is lowercased before matching either way.
    let (_http, router) = routed(
        r"http {
            server { listen 8000; server_name first.test; }
            server { listen 8000; server_name ~^WWW\.Shop\.test$; }
            server { listen 8000; server_name ~^www\.Lower\.test$; }
        }",
    );
    let local = tcp("127.0.0.1:8000");
    assert_eq!(
        select(&router, &local, Some("www.shop.test")),
        Some((1, NameMatch::Regex))
    );
    assert_eq!(
        select(&router, &local, Some("WWW.SHOP.TEST")),
        Some((1, NameMatch::Regex))
    );
    assert_eq!(
        select(&router, &local, Some("www.lower.test")),
        Some((2, NameMatch::Regex))
    );
}
