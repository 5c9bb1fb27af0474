//! What the builder makes of a configuration: nginx's defaults resolved, its
//! inheritance rules applied, `proxy_pass` and `listen` forms understood. One test per
//! rule, each loading real text through `config::load`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use vestibule::config::model::{
    Config, DocRoot, Expires, ListenAddr, Location, LocationConf, LocationMatch, Op, ProxyRedirect,
    ProxyTarget, RedirectRule, Return, Server, ServerName, UpstreamAddr, WorkerProcesses,
};
use vestibule::config::{load, LoadOptions};

fn config(text: &str) -> Config {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vestibule.conf");
    std::fs::write(&path, text).unwrap();
    let loaded = load(&LoadOptions {
        main_file: path,
        prefix: Some(PathBuf::from("/prefix")),
        directives: None,
        embedded_if_missing: false,
        error_log: None,
    })
    .unwrap_or_else(|e| panic!("{e}"));
    loaded.config
}

fn server(c: &Config, i: usize) -> &Server {
    &c.http.as_ref().unwrap().servers[i]
}

/// The `return` a location's script starts with.
fn return_of(conf: &LocationConf) -> Option<&Return> {
    match conf.rewrite.as_deref()?.ops.first()? {
        Op::Return(r) => Some(r),
        _ => None,
    }
}

fn location<'a>(s: &'a Server, describe: &str) -> &'a Location {
    fn walk<'a>(locs: &'a [Location], d: &str) -> Option<&'a Location> {
        locs.iter().find_map(|l| {
            (l.matcher.describe() == d)
                .then_some(l)
                .or_else(|| walk(&l.locations, d))
        })
    }
    walk(&s.locations, describe).unwrap_or_else(|| panic!("no location {describe}"))
}

fn header_names(h: &[vestibule::config::model::HeaderSetting]) -> Vec<String> {
    h.iter()
        .map(|h| format!("{}: {}", h.name, h.value))
        .collect()
}

#[test]
fn defaults_match_nginx() {
    let c = config("http { server { } }");
    assert_eq!(c.main.worker_processes, WorkerProcesses::Count(1));
    assert_eq!(c.main.worker_connections, 512);
    assert!(c.main.daemon);
    assert_eq!(c.main.pid, PathBuf::from("/run/vestibule.pid"));
    let s = server(&c, 0);
    // Not root in CI? The default listen depends on it, as in nginx.
    let port = if vestibule::sys::is_root() { 80 } else { 8000 };
    assert_eq!(
        s.listen[0].addr,
        ListenAddr::Tcp(format!("0.0.0.0:{port}").parse().unwrap())
    );
    assert_eq!(s.listen[0].options.backlog, 511);
    assert_eq!(s.server_names, vec![ServerName::Exact(String::new())]);
    assert_eq!(s.client_header_buffer_size, 1024);
    assert_eq!(s.large_client_header_buffers, (4, 8192));
    assert_eq!(s.client_header_timeout, Duration::from_secs(60));
    let conf = &s.conf;
    assert_eq!(
        conf.root,
        DocRoot::Root(vestibule::config::template::Template::literal(
            "/prefix/html"
        ))
    );
    assert_eq!(conf.index[0].as_static(), Some("index.html"));
    assert_eq!(conf.client_max_body_size, 1 << 20);
    assert_eq!(conf.client_body_buffer_size, 16 << 10);
    assert_eq!(conf.keepalive_timeout, Duration::from_secs(75));
    assert_eq!(conf.keepalive_requests, 1000);
    assert_eq!(conf.send_timeout, Duration::from_secs(60));
    assert_eq!(conf.default_type, "text/plain");
    assert_eq!(conf.types.lookup("html"), Some("text/html"));
    assert!(!conf.sendfile && conf.tcp_nodelay && conf.server_tokens && conf.absolute_redirect);
    assert_eq!(conf.access_log.len(), 1);
    assert_eq!(conf.access_log[0].format, "combined");
    let p = &conf.proxy;
    assert!(p.pass.is_none());
    assert_eq!(p.connect_timeout, Duration::from_secs(60));
    assert_eq!(p.read_timeout, Duration::from_secs(60));
    assert!(p.buffering && p.request_buffering);
    assert_eq!(p.http_version, (1, 1));
    assert!(p.next_upstream.error && p.next_upstream.timeout && !p.next_upstream.http_502);
    assert!(
        matches!(&p.redirect, ProxyRedirect::Rules(r) if matches!(r.as_slice(), [RedirectRule::Default]))
    );
}

#[test]
fn array_directives_are_inherited_only_when_the_inner_level_sets_none() {
    let c = config(
        r#"http {
            add_header X-Http 1;
            proxy_set_header Host $host;
            proxy_set_header X-Real-IP $remote_addr;
            server {
                listen 8080;
                location /inherits/ { proxy_pass http://127.0.0.1:8000; }
                location /replaces/ {
                    proxy_pass http://127.0.0.1:8000;
                    proxy_set_header X-Only $scheme;
                    add_header X-Loc 2 always;
                }
            }
        }"#,
    );
    let s = server(&c, 0);
    let inherits = &location(s, "/inherits/").conf;
    assert_eq!(
        header_names(&inherits.proxy.set_headers),
        ["Host: $host", "X-Real-IP: $remote_addr"]
    );
    assert_eq!(header_names(&inherits.add_headers), ["X-Http: 1"]);
    let replaces = &location(s, "/replaces/").conf;
    assert_eq!(
        header_names(&replaces.proxy.set_headers),
        ["X-Only: $scheme"]
    );
    assert_eq!(header_names(&replaces.add_headers), ["X-Loc: 2"]);
    assert!(replaces.add_headers[0].always);
}

#[test]
fn scalar_settings_inherit_innermost_and_handlers_do_not() {
    let c = config(
        r#"http {
            client_max_body_size 2m;
            server {
                listen 8080;
                client_max_body_size 4m;
                location /a/ {
                    client_max_body_size 8m;
                    proxy_pass http://127.0.0.1:8000;
                    return 418;
                    try_files $uri =404;
                    location /a/nested/ { }
                }
                location /b/ { }
            }
        }"#,
    );
    let s = server(&c, 0);
    assert_eq!(s.conf.client_max_body_size, 4 << 20);
    let a = location(s, "/a/");
    assert_eq!(a.conf.client_max_body_size, 8 << 20);
    assert!(
        a.conf.proxy.pass.is_some() && return_of(&a.conf).is_some() && a.conf.try_files.is_some()
    );
    let nested = location(s, "/a/nested/");
    assert_eq!(nested.conf.client_max_body_size, 8 << 20, "scalars inherit");
    assert!(
        nested.conf.proxy.pass.is_none(),
        "proxy_pass is not inherited"
    );
    assert!(nested.conf.rewrite.is_none(), "return is not inherited");
    assert!(
        nested.conf.try_files.is_none(),
        "try_files is not inherited"
    );
    assert_eq!(location(s, "/b/").conf.client_max_body_size, 4 << 20);
}

#[test]
fn proxy_pass_forms() {
    let c = config(
        r#"http {
            upstream app { server 127.0.0.1:8001; server 127.0.0.1:8002 weight=2 backup; }
            server {
                listen 8080;
                location /tcp/ { proxy_pass http://127.0.0.1:8000; }
                location /uri/ { proxy_pass http://localhost:8000/app/; }
                location /sock/ { proxy_pass http://unix:/run/gunicorn.sock; }
                location /sockuri/ { proxy_pass http://unix:/run/gunicorn.sock:/x/; }
                location /group/ { proxy_pass http://app; }
                location /port80 { proxy_pass http://127.0.0.1; }
            }
        }"#,
    );
    let s = server(&c, 0);
    let pass = |d: &str| location(s, d).conf.proxy.pass.clone().unwrap();
    let tcp = pass("/tcp/");
    assert_eq!(
        tcp.target,
        ProxyTarget::Direct(vec![UpstreamAddr::Tcp("127.0.0.1:8000".parse().unwrap())])
    );
    assert_eq!(
        (tcp.uri, tcp.proxy_host.as_ref(), tcp.proxy_port),
        (None, "127.0.0.1:8000", 8000)
    );
    let uri = pass("/uri/");
    assert_eq!(uri.uri.as_deref(), Some("/app/"));
    assert_eq!(&*uri.proxy_host, "localhost:8000");
    let sock = pass("/sock/");
    assert_eq!(
        sock.target,
        ProxyTarget::Direct(vec![UpstreamAddr::Unix("/run/gunicorn.sock".into())])
    );
    assert_eq!((sock.uri, sock.proxy_host.as_ref()), (None, "localhost"));
    assert_eq!(pass("/sockuri/").uri.as_deref(), Some("/x/"));
    let group = pass("/group/");
    assert_eq!(
        (group.target, group.proxy_host.as_ref()),
        (ProxyTarget::Group("app".into()), "app")
    );
    assert_eq!(&*pass("/port80").proxy_host, "127.0.0.1");
    assert!(
        location(s, "/tcp/").auto_redirect,
        "a proxied prefix ending in / redirects /tcp"
    );
    assert!(!location(s, "/port80").auto_redirect);
    let app = c.http.as_ref().unwrap().upstream("app").unwrap();
    assert_eq!(app.servers.len(), 2);
    assert_eq!((app.servers[1].weight, app.servers[1].backup), (2, true));
    assert_eq!(
        app.keepalive,
        vestibule::config::model::DEFAULT_UPSTREAM_KEEPALIVE
    );
}

#[test]
fn location_and_server_name_forms() {
    let c = config(
        r#"http {
            server {
                listen 8080;
                server_name Example.COM *.example.org www.example.* .example.net ~^(?<app>\w+)\.test$ _;
                location = /exact { }
                location ^~ /static/ { }
                location ~* \.(png|jpg)$ { }
                location ~\.php$ { }
                location =/glued { }
                location @fallback { }
            }
        }"#,
    );
    let s = server(&c, 0);
    let names: Vec<String> = s.server_names.iter().map(ServerName::source).collect();
    assert_eq!(
        names,
        [
            "example.com",
            "*.example.org",
            "www.example.*",
            "example.net",
            "*.example.net",
            "~^(?<app>\\w+)\\.test$",
            "_"
        ]
    );
    let kinds: Vec<String> = s.locations.iter().map(|l| l.matcher.describe()).collect();
    assert_eq!(
        kinds,
        [
            "= /exact",
            "^~ /static/",
            "~* \\.(png|jpg)$",
            "~ \\.php$",
            "= /glued",
            "@fallback"
        ]
    );
    assert!(
        matches!(&s.locations[2].matcher, LocationMatch::Regex { regex, .. } if regex.is_match("/A.PNG"))
    );
}

#[test]
fn expires_return_and_error_page_values() {
    let c = config(
        r#"http {
            server {
                listen 8080;
                error_page 404 = @missing;
                location /a { expires 1h; return 301 https://example.com$request_uri; }
                location /b { expires modified -30s; return https://example.com/; }
                location /c { expires max; return 204; }
                location @missing { return 404 "gone\n"; }
            }
        }"#,
    );
    let s = server(&c, 0);
    let a = location(s, "/a");
    assert_eq!(a.conf.expires, Expires::Access(3600));
    let r = return_of(&a.conf).unwrap();
    assert_eq!(
        (r.code, r.text.as_ref().unwrap().source.as_str()),
        (301, "https://example.com$request_uri")
    );
    let b = location(s, "/b");
    assert_eq!(b.conf.expires, Expires::Modified(-30));
    assert_eq!(return_of(&b.conf).unwrap().code, 302);
    assert_eq!(location(s, "/c").conf.expires, Expires::Max);
    assert_eq!(s.conf.error_pages[0].codes, [404]);
}

#[test]
fn command_line_directives_come_first_and_conflict_as_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.conf");
    std::fs::write(&path, "worker_processes 2;\n").unwrap();
    let opts = |g: &str| LoadOptions {
        main_file: path.clone(),
        prefix: None,
        directives: Some(g.to_string()),
        embedded_if_missing: false,
        error_log: None,
    };
    let loaded = load(&opts("daemon off;")).unwrap();
    assert!(!loaded.config.main.daemon);
    let err = load(&opts("worker_processes 4;")).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "\"worker_processes\" directive is duplicate in {}:1",
            path.display()
        )
    );
}

#[test]
fn embedded_configuration_loads_when_the_default_file_is_missing() {
    let loaded = load(&LoadOptions {
        main_file: PathBuf::from("/nonexistent-vestibule-dir/vestibule.conf"),
        prefix: None,
        directives: None,
        embedded_if_missing: true,
        error_log: None,
    })
    .unwrap();
    let s = server(&loaded.config, 0);
    assert_eq!(
        s.listen[0].addr,
        ListenAddr::Tcp("127.0.0.1:8080".parse().unwrap())
    );
    assert!(!loaded.config.main.daemon);
    assert!(return_of(&location(s, "/").conf).is_some());
}
