//! Just enough of X.509 (DER) to read a certificate's names, serial number and
//! validity: for `$ssl_client_s_dn`, `$ssl_client_i_dn`, `$ssl_client_serial` and the
//! `-t` checks. Signatures are rustls's business; nothing here trusts anything.

/// One DER element: its tag and contents.
struct Element<'a> {
    tag: u8,
    body: &'a [u8],
}

/// Reads the element at the start of `input`, returning it and what follows.
fn element(input: &[u8]) -> Option<(Element<'_>, &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((
        Element {
            tag,
            body: &rest[..len],
        },
        &rest[len..],
    ))
}

/// The parts of a certificate this module reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    /// Upper-case hex, as OpenSSL prints it.
    pub serial: String,
    /// Seconds since the epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// The raw DER of the subject and issuer names (a chain links by them).
    pub subject_der: Vec<u8>,
    pub issuer_der: Vec<u8>,
    /// The DNS names of the subjectAltName extension.
    pub dns_names: Vec<String>,
}

/// Reads a DER certificate's summary.
pub fn summary(der: &[u8]) -> Option<CertSummary> {
    let (cert, _) = element(der)?;
    let (tbs, _) = element(cert.body)?;
    let mut rest = tbs.body;
    let (mut next, mut after) = element(rest)?;
    if next.tag == 0xa0 {
        rest = after;
        (next, after) = element(rest)?;
    }
    let serial = next.body;
    let (_sig_alg, after2) = element(after)?;
    let (issuer, after3) = element(after2)?;
    let (validity, after4) = element(after3)?;
    let (subject, after5) = element(after4)?;
    let (nb, va) = element(validity.body)?;
    let (na, _) = element(va)?;
    let dns_names = extensions(after5).unwrap_or_default();
    Some(CertSummary {
        subject: rfc2253(subject.body)?,
        issuer: rfc2253(issuer.body)?,
        serial: hex_serial(serial),
        not_before: time(&nb)?,
        not_after: time(&na)?,
        subject_der: subject.body.to_vec(),
        issuer_der: issuer.body.to_vec(),
        dns_names,
    })
}

/// `$ssl_client_s_dn`, `$ssl_client_i_dn`, `$ssl_client_serial` of a certificate.
pub fn names(der: &[u8]) -> Option<(String, String, String)> {
    summary(der).map(|s| (s.subject, s.issuer, s.serial))
}

fn hex_serial(bytes: &[u8]) -> String {
    let trimmed = match bytes {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => bytes,
    };
    trimmed.iter().map(|b| format!("{b:02X}")).collect()
}

/// The subjectAltName DNS names, from what follows the subject in the TBS.
fn extensions(mut rest: &[u8]) -> Option<Vec<String>> {
    const SAN: &[u8] = &[0x55, 0x1d, 0x11];
    let mut out = Vec::new();
    while !rest.is_empty() {
        let (e, after) = element(rest)?;
        rest = after;
        if e.tag != 0xa3 {
            continue;
        }
        let (list, _) = element(e.body)?;
        let mut exts = list.body;
        while !exts.is_empty() {
            let (ext, after) = element(exts)?;
            exts = after;
            let (oid, mut value) = element(ext.body)?;
            if oid.body != SAN {
                continue;
            }
            let (mut v, after) = element(value)?;
            if v.tag == 0x01 {
                (v, _) = element(after)?;
            }
            value = v.body;
            let (names, _) = element(value)?;
            let mut gn = names.body;
            while !gn.is_empty() {
                let (name, after) = element(gn)?;
                gn = after;
                if name.tag == 0x82 {
                    out.push(String::from_utf8_lossy(name.body).to_ascii_lowercase());
                }
            }
        }
    }
    Some(out)
}

/// UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) as epoch seconds.
fn time(e: &Element<'_>) -> Option<i64> {
    let s = std::str::from_utf8(e.body).ok()?;
    let s = s.strip_suffix('Z')?;
    let (year, rest) = match e.tag {
        0x17 => {
            let yy: i64 = s.get(..2)?.parse().ok()?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, s.get(2..)?)
        }
        0x18 => (s.get(..4)?.parse().ok()?, s.get(4..)?),
        _ => return None,
    };
    let field = |i: usize| -> Option<i64> { rest.get(i..i + 2)?.parse().ok() };
    let (month, day, hour, min, sec) = (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    Some(days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `2026-01-02 UTC` for epoch seconds (Howard Hinnant's civil_from_days).
pub fn utc_date(secs: i64) -> String {
    let z = secs.div_euclid(86400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} UTC")
}

/// A Name in RFC 2253 form, as nginx's `$ssl_client_s_dn`: the last RDN first,
/// `,` between RDNs, `+` within one.
fn rfc2253(mut name: &[u8]) -> Option<String> {
    let mut rdns = Vec::new();
    while !name.is_empty() {
        let (set, after) = element(name)?;
        name = after;
        let mut parts = Vec::new();
        let mut attrs = set.body;
        while !attrs.is_empty() {
            let (atv, after) = element(attrs)?;
            attrs = after;
            let (oid, rest) = element(atv.body)?;
            let (value, _) = element(rest)?;
            let text = String::from_utf8_lossy(value.body);
            parts.push(format!("{}={}", short_name(oid.body), escape(&text)));
        }
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

fn short_name(oid: &[u8]) -> String {
    match oid {
        [0x55, 0x04, 0x03] => "CN".into(),
        [0x55, 0x04, 0x06] => "C".into(),
        [0x55, 0x04, 0x07] => "L".into(),
        [0x55, 0x04, 0x08] => "ST".into(),
        [0x55, 0x04, 0x0a] => "O".into(),
        [0x55, 0x04, 0x0b] => "OU".into(),
        [0x55, 0x04, 0x05] => "serialNumber".into(),
        [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01] => "emailAddress".into(),
        [0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19] => "DC".into(),
        other => dotted(other),
    }
}

/// An OID in dotted form.
fn dotted(oid: &[u8]) -> String {
    let mut parts = Vec::new();
    let mut value: u64 = 0;
    for (i, &b) in oid.iter().enumerate() {
        value = (value << 7) | u64::from(b & 0x7f);
        if b & 0x80 == 0 {
            if parts.is_empty() && i < oid.len() {
                let first = (value / 40).min(2);
                parts.push(first);
                parts.push(value - first * 40);
            } else {
                parts.push(value);
            }
            value = 0;
        }
    }
    parts
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '));
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_generated_certificate() {
        let mut params =
            rcgen::CertificateParams::new(vec!["a.test".into(), "b.test".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "client, one");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Org");
        params.not_before = rcgen::date_time_ymd(2026, 1, 2);
        params.not_after = rcgen::date_time_ymd(2027, 3, 4);
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x0a, 0xbc]));
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let s = summary(cert.der()).unwrap();
        assert_eq!(s.subject, "O=Org,CN=client\\, one");
        assert_eq!(s.subject, s.issuer);
        assert_eq!(s.serial, "0ABC");
        assert_eq!(s.not_before, 1_767_312_000);
        assert_eq!(s.not_after, 1_804_118_400);
        assert_eq!(s.dns_names, ["a.test", "b.test"]);
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(utc_date(1_767_312_000), "2026-01-02 UTC");
        assert_eq!(utc_date(1_804_118_400), "2027-03-04 UTC");
        assert_eq!(utc_date(0), "1970-01-01 UTC");
    }

    #[test]
    fn garbage_is_none() {
        assert!(summary(b"\x30\x82\xff").is_none());
        assert!(summary(b"").is_none());
    }
}
