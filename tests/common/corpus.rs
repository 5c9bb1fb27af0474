//! The files the corpus configurations (tests/corpus/) name under `@DIR@`: a
//! certificate chain for the four names they serve, certbot's two TLS snippets,
//! Debian's `proxy_params`, `mime.types` and an htpasswd file; laid out by the corpus
//! test and by the import test alike.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::tls::{Ca, Key, OPTIONS_SSL_NGINX, SSL_DHPARAMS};

/// Debian's `/etc/nginx/proxy_params`, which the guides include (vestibule's own
/// conf/proxy_params adds `Forwarded`, whose variable nginx lacks).
pub const DEBIAN_PROXY_PARAMS: &str = "proxy_set_header Host $http_host;
proxy_set_header X-Real-IP $remote_addr;
proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
proxy_set_header X-Forwarded-Proto $scheme;
";

/// Makes `subdirs` under `dir` (`certs` among them) and writes the files there.
pub fn lay_out(dir: &Path, ca: &Ca, subdirs: &[&str]) {
    for sub in subdirs {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
    let leaf = ca.issue(
        &[
            "example.com",
            "www.example.com",
            "api.example.com",
            "live.example.com",
        ],
        Key::Ecdsa,
    );
    let certs = dir.join("certs");
    std::fs::write(
        certs.join("fullchain.pem"),
        format!("{}{}", leaf.cert_pem, ca.pem()),
    )
    .unwrap();
    std::fs::write(certs.join("privkey.pem"), &leaf.key_pem).unwrap();
    std::fs::set_permissions(
        certs.join("privkey.pem"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(certs.join("chain.pem"), ca.pem()).unwrap();
    std::fs::write(dir.join("ssl-dhparams.pem"), SSL_DHPARAMS).unwrap();
    std::fs::write(dir.join("options-ssl-nginx.conf"), OPTIONS_SSL_NGINX).unwrap();
    std::fs::write(dir.join("proxy_params"), DEBIAN_PROXY_PARAMS).unwrap();
    std::fs::copy(
        super::repo_dir().join("conf/mime.types"),
        dir.join("mime.types"),
    )
    .unwrap();
    // What `htpasswd -nb user secret` prints with its default MD5 form.
    std::fs::write(
        dir.join("htpasswd"),
        "user:$apr1$0pLAqFaL$Yw1ybAZ1RG0QxrN5R4U5e/\n",
    )
    .unwrap();
}
