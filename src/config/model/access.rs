//! The access phase's settings: nginx's access module (`allow`, `deny`), the basic
//! authentication module (`auth_basic`, `auth_basic_user_file`), `satisfy`, and the
//! `limit_except` block that gives other methods their own access settings. The
//! worker applies them in `crate::access`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::realip::Cidr;
use crate::config::template::Template;
use crate::http1::Method;

/// Who an `allow` or `deny` rule names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessWho {
    /// An address or network (matched only against clients of its family).
    Network(Cidr),
    /// `all`: every client, whatever its family.
    All,
    /// `unix:`: every client of a unix socket.
    Unix,
}

/// One `allow` or `deny` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessRule {
    pub deny: bool,
    pub who: AccessWho,
}

impl AccessRule {
    /// Whether the rule names a client at `ip` (`None`: a unix-socket client).
    pub fn matches(&self, ip: Option<IpAddr>) -> bool {
        match (self.who, ip) {
            (AccessWho::All, _) => true,
            (AccessWho::Network(net), Some(ip)) => net.contains(ip),
            (AccessWho::Unix, None) => true,
            _ => false,
        }
    }
}

/// `satisfy all | any`: whether every access module must let the request through
/// (the default) or one is enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Satisfy {
    #[default]
    All,
    Any,
}

/// The access settings of a location (or of its `limit_except` block).
#[derive(Debug, Clone, Default)]
pub struct AccessConf {
    /// `allow`/`deny` in order; the first that names the client decides. Inherited
    /// only when a level writes none.
    pub rules: Arc<Vec<AccessRule>>,
    pub satisfy: Satisfy,
    /// `auth_basic REALM` (a template; `off` written or expanded turns it off).
    pub auth_basic: Option<Template>,
    /// `auth_basic_user_file PATH`: without one, `auth_basic` does nothing.
    pub auth_basic_user_file: Option<UserFile>,
    /// `limit_except`: the settings for the methods it does not list.
    pub limit_except: Option<Arc<LimitExcept>>,
}

/// `auth_basic_user_file PATH`: a literal path is already absolute; one with
/// variables that expands to a relative path is taken from `conf_dir`, as nginx
/// takes it from its configuration prefix.
#[derive(Debug, Clone)]
pub struct UserFile {
    pub path: Template,
    pub conf_dir: Arc<Path>,
}

impl UserFile {
    /// The file for one request, given the expanded path.
    pub fn resolve(&self, expanded: &str) -> PathBuf {
        let p = Path::new(expanded);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.conf_dir.join(p)
        }
    }
}

/// `limit_except METHOD ... { ... }`.
#[derive(Debug, Clone)]
pub struct LimitExcept {
    /// The methods listed (`GET` brings `HEAD`), which keep the location's settings.
    pub methods: Vec<Method>,
    /// The settings for every other method: the block's merged over the location's.
    pub access: AccessConf,
}

impl AccessConf {
    /// The settings that apply to a request with `method`.
    pub fn for_method(&self, method: &Method) -> &AccessConf {
        match &self.limit_except {
            Some(le) if !le.methods.contains(method) => &le.access,
            _ => self,
        }
    }

    /// Whether the access phase has anything to do.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty() && self.auth_basic.is_none() && self.limit_except.is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(deny: bool, text: &str) -> AccessRule {
        let who = match text {
            "all" => AccessWho::All,
            "unix:" => AccessWho::Unix,
            t => AccessWho::Network(Cidr::parse(t).unwrap().0),
        };
        AccessRule { deny, who }
    }

    #[test]
    fn rules_match_their_family() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        let cases = [
            ("all", None, true),
            ("all", ip("::1"), true),
            ("unix:", None, true),
            ("unix:", ip("127.0.0.1"), false),
            ("127.0.0.0/8", ip("127.0.0.1"), true),
            ("127.0.0.0/8", None, false),
            ("127.0.0.0/8", ip("::ffff:127.0.0.9"), true),
            ("::1", ip("::1"), true),
            ("::1", ip("127.0.0.1"), false),
        ];
        for (text, client, want) in cases {
            assert_eq!(rule(true, text).matches(client), want, "{text} {client:?}");
        }
    }
}
