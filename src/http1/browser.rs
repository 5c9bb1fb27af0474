//! The browsers nginx's `keepalive_disable` names, told from the `User-Agent` header
//! as nginx's `ngx_http_process_user_agent` does: plain case-sensitive substring
//! tests, first `User-Agent` line only. Pure; run once per response, and only when a
//! `keepalive_disable` flag could apply.
//!
//! - `msie6`: `MSIE 4.x`, `MSIE 5.x`, and `MSIE 6.x` without `SV1` after the version
//!   (XP SP2's MSIE 6 is fine); not when `Opera` appears anywhere.
//! - `safari`: `Safari/` and `Mac OS X`, unless the agent is MSIE, Opera, or has
//!   `Gecko/` or `Chrome/` (which nginx tests first).

/// What `keepalive_disable` needs to know about a client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Browser {
    pub msie6: bool,
    pub safari: bool,
}

impl Browser {
    /// Reads a `User-Agent` value.
    pub fn from_user_agent(ua: &[u8]) -> Browser {
        let opera = contains(ua, b"Opera");
        let mut msie = false;
        let mut msie6 = false;
        if let Some(at) = find(ua, b"MSIE ") {
            // nginx: `msie + 7 < end`, so the version's first three bytes exist.
            if at + 7 < ua.len() {
                msie = true;
                if ua.get(at + 6) == Some(&b'.') {
                    msie6 = match ua.get(at + 5) {
                        Some(b'4' | b'5') => true,
                        Some(b'6') => !ua.get(at + 8..).is_some_and(|rest| contains(rest, b"SV1")),
                        _ => false,
                    };
                }
            }
        }
        if opera {
            return Browser::default();
        }
        let safari = !msie
            && !contains(ua, b"Gecko/")
            && !contains(ua, b"Chrome/")
            && contains(ua, b"Safari/")
            && contains(ua, b"Mac OS X");
        Browser { msie6, safari }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    find(haystack, needle).is_some()
}

#[cfg(test)]
mod tests {
    use super::Browser;

    #[test]
    fn agents_as_nginx_reads_them() {
        let none = Browser::default();
        let msie6 = Browser {
            msie6: true,
            safari: false,
        };
        let safari = Browser {
            msie6: false,
            safari: true,
        };
        #[rustfmt::skip]
        let cases: &[(&str, &str, Browser)] = &[
            ("msie_6", "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)", msie6),
            ("msie_6_sp2", "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)", none),
            ("msie_5", "Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)", msie6),
            ("msie_4", "Mozilla/2.0 (compatible; MSIE 4.01; Windows 95)", msie6),
            ("msie_7", "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)", none),
            ("msie_10", "Mozilla/5.0 (compatible; MSIE 10.0; Windows NT 6.1)", none),
            ("msie_cut_short", "MSIE 6.", none),
            ("msie_at_the_limit", "MSIE 6.0", msie6),
            ("opera_as_msie", "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1) Opera 8.0", none),
            ("lowercase_is_not_msie", "msie 6.0; windows", none),
            ("safari_mac", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15", safari),
            ("safari_ios_is_not_mac", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", safari),
            ("chrome_mac", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36", none),
            ("firefox_mac", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:120.0) Gecko/20100101 Firefox/120.0", none),
            ("safari_windows", "Mozilla/5.0 (Windows; U; Windows NT 6.1) AppleWebKit/533 (KHTML, like Gecko) Version/5.0 Safari/533", none),
            ("curl", "curl/8.0", none),
            ("empty", "", none),
        ];
        for (name, ua, want) in cases {
            assert_eq!(Browser::from_user_agent(ua.as_bytes()), *want, "{name}");
        }
    }
}
