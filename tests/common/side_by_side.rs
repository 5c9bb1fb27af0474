//! One configuration, two servers: vestibule and nginx get the same server blocks and
//! the same requests, and each answer is checked against what the test says nginx
//! answers — for both, so a row that stops being true of nginx fails too. A small
//! upstream (a vestibule answering `UP $request_uri`) shows what a proxied request
//! carried; the server blocks name it `@UP@`.

use std::path::Path;

use super::nginx::Nginx;
use super::{Response, Vestibule};

/// One request and nginx's answer to it.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub name: &'static str,
    /// `METHOD TARGET`, e.g. `GET /a/b?q=1`.
    pub request: &'static str,
    /// Extra header lines, each ending in `\r\n`; a `Host` line here replaces the
    /// default `Host: h.test`.
    pub headers: &'static str,
    pub status: u16,
    /// The `Location` header; `@PORT@` stands for the server's port.
    pub location: Option<&'static str>,
    /// The whole body, for answers that are not nginx's own error pages.
    pub body: Option<&'static str>,
}

/// A case with only a status to check.
pub const fn status(name: &'static str, request: &'static str, status: u16) -> Case {
    Case {
        name,
        request,
        headers: "",
        status,
        location: None,
        body: None,
    }
}

/// A case answered with `body`.
pub const fn body(name: &'static str, request: &'static str, body: &'static str) -> Case {
    Case {
        name,
        request,
        headers: "",
        status: 200,
        location: None,
        body: Some(body),
    }
}

/// A redirect to `location`.
pub const fn redirect(
    name: &'static str,
    request: &'static str,
    status: u16,
    location: &'static str,
) -> Case {
    Case {
        name,
        request,
        headers: "",
        status,
        location: Some(location),
        body: None,
    }
}

impl Case {
    /// The same case with extra header lines.
    pub const fn with(self, headers: &'static str) -> Case {
        Case { headers, ..self }
    }

    fn raw(&self) -> Vec<u8> {
        let host = if self.headers.to_ascii_lowercase().contains("host:") {
            ""
        } else {
            "Host: h.test\r\n"
        };
        format!(
            "{} HTTP/1.1\r\n{host}{}Connection: close\r\n\r\n",
            self.request, self.headers
        )
        .into_bytes()
    }

    fn check(&self, who: &str, port: u16, r: &Response) {
        let name = self.name;
        assert_eq!(r.status, self.status, "{who}, {name}: {r}");
        if let Some(want) = self.location {
            let want = want.replace("@PORT@", &port.to_string());
            assert_eq!(
                r.header("location"),
                Some(want.as_str()),
                "{who}, {name}: {r}"
            );
        }
        if let Some(want) = self.body {
            assert_eq!(r.text(), want, "{who}, {name}: {r}");
        }
    }
}

/// The two servers running one configuration, and the upstream they may proxy to.
pub struct Pair {
    pub vestibule: Vestibule,
    pub nginx: Option<Nginx>,
    pub upstream: Vestibule,
}

/// Starts the upstream, then vestibule and nginx with `servers` (`@UP@` is the
/// upstream's port); `prepare` runs on each one's directory (files to serve).
pub fn start(servers: &str, prepare: impl Fn(&Path)) -> Pair {
    let upstream = Vestibule::start(
        "server { listen 127.0.0.1:@PORT@; location / { return 200 \"UP $request_uri\\n\"; } }",
    );
    let servers = servers.replace("@UP@", &upstream.port.to_string());
    let vestibule = Vestibule::start(&servers);
    prepare(vestibule.dir.path());
    let nginx = Nginx::start(&servers, &prepare);
    Pair {
        vestibule,
        nginx,
        upstream,
    }
}

impl Pair {
    /// Asks both servers every case and checks both answers.
    pub fn check(&self, cases: &[Case]) {
        for case in cases {
            let r = self.vestibule.request(&case.raw());
            case.check("vestibule", self.vestibule.port, &r);
            if let Some(nginx) = &self.nginx {
                let r = nginx.request(&case.raw());
                case.check("nginx", nginx.port, &r);
            }
        }
    }

    /// Both error logs have a line containing every one of `needles` (nginx's is
    /// read as it stands: its lines are written before the response).
    pub fn both_logged(&self, needles: &[&str]) {
        self.vestibule.wait_for_error_line(needles);
        if let Some(nginx) = &self.nginx {
            let log = nginx.error_log();
            assert!(
                log.lines().any(|l| needles.iter().all(|n| l.contains(n))),
                "nginx logged no line with {needles:?}:\n{log}"
            );
        }
    }
}
