//! What the client accepts: `Accept-Encoding` with its q-values (RFC 9110 §12.5.3),
//! and nginx's `msie6` test on `User-Agent`. Beyond nginx, which looks for the word
//! `gzip` alone: a client that writes `gzip;q=0` or `*;q=0` gets no gzip, `x-gzip`
//! counts as gzip, and of several codings the client's preferred one wins.

use super::encoder::Coding;

/// How much the client wants each coding, in thousandths (`q=0.5` → 500); 0 when it
/// does not accept it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accepted {
    pub gzip: u16,
    pub brotli: u16,
}

impl Accepted {
    /// Reads an `Accept-Encoding` value; `None` (no header) accepts nothing but
    /// identity.
    pub fn parse(value: Option<&[u8]>) -> Accepted {
        let Some(value) = value else {
            return Accepted::default();
        };
        let (mut gzip, mut brotli, mut any) = (None, None, None);
        for element in value.split(|b| *b == b',') {
            let mut parts = element.split(|b| *b == b';');
            let token = parts.next().unwrap_or_default().trim_ascii();
            let q = parts
                .filter_map(|p| {
                    let p = p.trim_ascii();
                    let v = p.strip_prefix(b"q=").or_else(|| p.strip_prefix(b"Q="))?;
                    Some(qvalue(v))
                })
                .next()
                .unwrap_or(1000);
            if token.eq_ignore_ascii_case(b"gzip") || token.eq_ignore_ascii_case(b"x-gzip") {
                gzip = Some(q);
            } else if token.eq_ignore_ascii_case(b"br") {
                brotli = Some(q);
            } else if token == b"*" {
                any = Some(q);
            }
        }
        Accepted {
            gzip: gzip.or(any).unwrap_or(0),
            brotli: brotli.or(any).unwrap_or(0),
        }
    }

    /// The coding to use of those the response may take: the client's highest
    /// q-value; brotli on a tie (smaller output).
    pub fn choose(self, gzip_ok: bool, brotli_ok: bool) -> Option<Coding> {
        let g = if gzip_ok { self.gzip } else { 0 };
        let b = if brotli_ok { self.brotli } else { 0 };
        match (g, b) {
            (0, 0) => None,
            (g, b) if b >= g => Some(Coding::Brotli),
            _ => Some(Coding::Gzip),
        }
    }
}

/// A q-value (`0`, `0.5`, `1.000`) in thousandths; a malformed one counts as 0, so
/// the coding is not used.
fn qvalue(v: &[u8]) -> u16 {
    let v = v.trim_ascii();
    let (int, frac) = match v.iter().position(|b| *b == b'.') {
        Some(i) => (&v[..i], &v[i + 1..]),
        None => (v, &b""[..]),
    };
    if frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return 0;
    }
    match int {
        b"1" if frac.iter().all(|b| *b == b'0') => 1000,
        b"0" | b"" if !frac.is_empty() || int == b"0" => {
            let mut n: u16 = 0;
            for i in 0..3 {
                n = n * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
            }
            n
        }
        _ => 0,
    }
}

/// nginx's `msie6`: Internet Explorer 4, 5 or 6 without `SV1` (XP SP2, which fixed
/// its gzip handling), and not Opera pretending to be it.
pub fn is_msie6(user_agent: &[u8]) -> bool {
    let Some(at) = find(user_agent, b"MSIE ") else {
        return false;
    };
    let rest = &user_agent[at..];
    if rest.len() <= 7 || rest[6] != b'.' || find(user_agent, b"Opera").is_some() {
        return false;
    }
    match rest[5] {
        b'4' | b'5' => true,
        b'6' => find(&rest[8..], b"SV1").is_none(),
        _ => false,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> (u16, u16) {
        let a = Accepted::parse(Some(s.as_bytes()));
        (a.gzip, a.brotli)
    }

    #[test]
    fn accept_encoding_with_q_values() {
        assert_eq!(q("gzip, deflate, br"), (1000, 1000));
        assert_eq!(q("gzip;q=0"), (0, 0));
        assert_eq!(q("GZIP"), (1000, 0));
        assert_eq!(q("x-gzip"), (1000, 0));
        assert_eq!(q("deflate, gzip;q=0.5"), (500, 0));
        assert_eq!(q("br;q=0.8, gzip;q=0.9"), (900, 800));
        assert_eq!(q("*"), (1000, 1000));
        assert_eq!(q("*;q=0.1, br;q=0"), (100, 0));
        assert_eq!(q("gzip; q=1.0"), (1000, 0));
        assert_eq!(q("gzip;q=2"), (0, 0));
        assert_eq!(q("gzip;q=0.0001"), (0, 0));
        assert_eq!(q("identity"), (0, 0));
        assert_eq!(Accepted::parse(None), Accepted::default());
    }

    #[test]
    fn the_client_preference_chooses() {
        let a = Accepted::parse(Some(b"gzip, br"));
        assert_eq!(a.choose(true, true), Some(Coding::Brotli));
        assert_eq!(a.choose(true, false), Some(Coding::Gzip));
        let a = Accepted::parse(Some(b"br;q=0.5, gzip"));
        assert_eq!(a.choose(true, true), Some(Coding::Gzip));
        assert_eq!(a.choose(false, true), Some(Coding::Brotli));
        assert_eq!(a.choose(false, false), None);
    }

    #[test]
    fn msie6_as_nginx_tells_it() {
        assert!(is_msie6(
            b"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1)"
        ));
        assert!(is_msie6(b"Mozilla/4.0 (compatible; MSIE 5.5; Windows 98)"));
        assert!(!is_msie6(
            b"Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)"
        ));
        assert!(!is_msie6(
            b"Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0)"
        ));
        assert!(!is_msie6(
            b"Opera/9.0 (compatible; MSIE 6.0; Windows NT 5.1)"
        ));
        assert!(!is_msie6(b"curl/8.0"));
    }
}
