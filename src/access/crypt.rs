//! Password hashes as nginx's `ngx_crypt` checks them: `$apr1$` (Apache's MD5),
//! `{PLAIN}`, `{SHA}` and `{SSHA}` computed here, anything else handed to the C
//! library's `crypt_rn` (libxcrypt on Debian: DES, `$1$`, `$5$`, `$6$`, bcrypt
//! `$2y$`/`$2b$`, yescrypt), as nginx hands it to `crypt()`. The worker calls
//! [`verify`] on its own thread; a bcrypt hash of cost 10 takes tens of
//! milliseconds there, as it does in an nginx worker.

use base64::Engine;
use md5::{Digest, Md5};

/// Why a hash could not be computed (nginx: `crypt() failed`, 500).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CryptFailed;

/// Whether `password` hashes to `hash` (a line's field from the user file).
pub fn verify(password: &[u8], hash: &[u8]) -> Result<bool, CryptFailed> {
    // nginx passes both as C strings: a NUL ends them.
    let password = until_nul(password);
    let hash = until_nul(hash);
    let computed = if hash.starts_with(b"$apr1$") {
        apr1(password, hash)
    } else if let Some(rest) = hash.strip_prefix(b"{PLAIN}") {
        return Ok(rest == password);
    } else if hash.starts_with(b"{SHA}") {
        let mut out = b"{SHA}".to_vec();
        out.extend_from_slice(b64().encode(sha1(&[password])).as_bytes());
        out
    } else if let Some(rest) = hash.strip_prefix(b"{SSHA}") {
        return Ok(ssha(password, rest));
    } else {
        libc_crypt(password, hash)?
    };
    Ok(computed == hash)
}

fn until_nul(b: &[u8]) -> &[u8] {
    b.iter().position(|&c| c == 0).map_or(b, |i| &b[..i])
}

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

fn sha1(parts: &[&[u8]]) -> Vec<u8> {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY);
    for p in parts {
        ctx.update(p);
    }
    ctx.finish().as_ref().to_vec()
}

/// `{SSHA}base64(sha1(password + salt) + salt)`.
fn ssha(password: &[u8], encoded: &[u8]) -> bool {
    let Ok(decoded) = b64().decode(encoded) else {
        return false;
    };
    let Some(salt) = decoded.get(20..) else {
        return false;
    };
    decoded.get(..20) == Some(sha1(&[password, salt]).as_slice())
}

const ITOA64: &[u8; 64] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn to64(out: &mut Vec<u8>, mut v: u32, n: usize) {
    for _ in 0..n {
        out.push(ITOA64[(v & 0x3f) as usize]);
        v >>= 6;
    }
}

/// Apache's `$apr1$` (the MD5 crypt of FreeBSD with another magic string).
fn apr1(password: &[u8], setting: &[u8]) -> Vec<u8> {
    const MAGIC: &[u8] = b"$apr1$";
    let rest = &setting[MAGIC.len().min(setting.len())..];
    let end = rest
        .iter()
        .take(8)
        .position(|&c| c == b'$')
        .unwrap_or(rest.len().min(8));
    let salt = &rest[..end];

    let mut ctx = Md5::new();
    ctx.update(password);
    ctx.update(MAGIC);
    ctx.update(salt);
    let alt = Md5::new()
        .chain_update(password)
        .chain_update(salt)
        .chain_update(password)
        .finalize();
    let mut n = password.len();
    while n > 0 {
        ctx.update(&alt[..n.min(16)]);
        n = n.saturating_sub(16);
    }
    let mut i = password.len();
    while i > 0 {
        if i & 1 == 1 {
            ctx.update([0u8]);
        } else {
            ctx.update(&password[..1]);
        }
        i >>= 1;
    }
    let mut fin = ctx.finalize();
    for round in 0..1000 {
        let mut c = Md5::new();
        if round & 1 == 1 {
            c.update(password);
        } else {
            c.update(fin);
        }
        if round % 3 != 0 {
            c.update(salt);
        }
        if round % 7 != 0 {
            c.update(password);
        }
        if round & 1 == 1 {
            c.update(fin);
        } else {
            c.update(password);
        }
        fin = c.finalize();
    }
    let f = |i: usize| u32::from(fin[i]);
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(salt);
    out.push(b'$');
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        to64(&mut out, (f(a) << 16) | (f(b) << 8) | f(c), 4);
    }
    to64(&mut out, f(11), 2);
    out
}

/// The size of libxcrypt's `struct crypt_data`, the scratch `crypt_rn` needs.
const CRYPT_DATA_SIZE: usize = 32768;

#[link(name = "crypt")]
extern "C" {
    fn crypt_rn(
        phrase: *const libc::c_char,
        setting: *const libc::c_char,
        data: *mut libc::c_void,
        size: libc::c_int,
    ) -> *mut libc::c_char;
}

/// The C library's hash of `password` with `setting` (the stored hash).
fn libc_crypt(password: &[u8], setting: &[u8]) -> Result<Vec<u8>, CryptFailed> {
    let phrase = std::ffi::CString::new(password).map_err(|_| CryptFailed)?;
    let setting = std::ffi::CString::new(setting).map_err(|_| CryptFailed)?;
    let mut data = vec![0u8; CRYPT_DATA_SIZE];
    let size = libc::c_int::try_from(CRYPT_DATA_SIZE).map_err(|_| CryptFailed)?;
    // SAFETY: both strings are NUL-terminated and live across the call; `data` is a
    // writable buffer of `size` bytes, which crypt_rn uses as its `crypt_data` and
    // into which the returned pointer points (or it is NULL).
    let out = unsafe {
        crypt_rn(
            phrase.as_ptr(),
            setting.as_ptr(),
            data.as_mut_ptr().cast(),
            size,
        )
    };
    // A failure (a password past libxcrypt's length limit, a locked or unknown hash
    // such as `!` or `*`): nginx's `crypt_r` gives libxcrypt's failure token, which
    // matches no stored hash, so the answer is a mismatch (401), not an error.
    if out.is_null() {
        return Ok(b"*0".to_vec());
    }
    // SAFETY: a non-NULL result is a NUL-terminated string inside `data`, alive here.
    let text = unsafe { std::ffi::CStr::from_ptr(out) }.to_bytes().to_vec();
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_of_each_kind() {
        // Made with `openssl passwd` (-apr1, -1, -5, -6), Perl's crypt (DES, bcrypt)
        // and `openssl sha1 | base64` ({SHA}).
        let cases: &[(&str, &str, bool)] = &[
            ("secret", "{PLAIN}secret", true),
            ("secreT", "{PLAIN}secret", false),
            ("secret", "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", true),
            ("secret2", "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=", false),
            ("secret", "$apr1$WdcYOygH$8hz.hvVyC8doSmnDYU0UD1", true),
            ("Secret", "$apr1$WdcYOygH$8hz.hvVyC8doSmnDYU0UD1", false),
            ("secret", "$1$KrEEDlN/$n5M9BYs3R5olk96zmH4Gb0", true),
            ("secret", "$5$aV4I4X.ePqak3alQ$1U8AjRA5qEOfZzMNCu4CMAe5YJkUxfg457wffOOcpcD", true),
            ("secret", "$6$qTwiI0Qc.sNx/dom$A9vGpd3GDIW1Kz4mYmxG8vQVQFS1eATC/lshmqgeMUnoAR1w6NxwEu7rw707Fclz1ee/czpc6ClEGukgAr0za0", true),
            ("secret", "abNANd1rDfiNc", true),
            ("secres", "abNANd1rDfiNc", false),
            ("secret", "$2y$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0a", true),
            ("secret", "$2y$05$abcdefghijklmnopqrstuuOQiyCxlgf/oeuTqixKmWdcYUh4Hjl0b", false),
        ];
        for (pw, hash, want) in cases {
            assert_eq!(
                verify(pw.as_bytes(), hash.as_bytes()),
                Ok(*want),
                "{pw} {hash}"
            );
        }
    }
}
