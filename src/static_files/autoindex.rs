//! Directory listings (`autoindex on`), as nginx's `ngx_http_autoindex_module` writes
//! them, byte for byte: the HTML page with its 50-column names and the date and size
//! columns (`autoindex_exact_size`, `autoindex_localtime`), and the XML, JSON and
//! JSONP forms (`autoindex_format`).
//!
//! Place in the data path: the static handler's index step, for a URI ending in `/`
//! whose directory has none of the `index` files, when `autoindex` is on (otherwise
//! nginx's 403). [`read_entries`] reads the open directory (the one I/O function
//! here); the renderers are pure but for the local time zone's offset, read from
//! the C library under `autoindex_localtime on`.
//!
//! What nginx does, kept:
//!
//! - names starting with `.` are left out, and so is an entry `stat` may not look
//!   at; a symlink is listed as what it points to, a dangling or looping one as the
//!   link itself;
//! - directories come first, then files, each by byte order of the name;
//! - in HTML the link is the name with every byte but letters, digits and `-._~`
//!   percent-encoded, and the text is the name with `&<>"` escaped; a name longer
//!   than 50 characters (bytes, or UTF-8 characters when the page's charset is
//!   `utf-8`) is cut to 47 and ends in `..>`; a directory gets a `/` when it still fits.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

use crate::config::model::AutoindexFormat;
use crate::http1::date;

/// nginx's width of the name column (`NGX_HTTP_AUTOINDEX_NAME_LEN`).
const NAME_COLUMN: usize = 50;
/// The longest JSONP callback name nginx accepts.
const MAX_CALLBACK: usize = 128;

/// What an entry is, as the listing names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Directory,
    File,
    /// Anything else: a socket, a device, a dangling symlink. Listed without a size
    /// in XML and JSON.
    Other,
}

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: Vec<u8>,
    pub kind: Kind,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    pub size: u64,
}

impl Entry {
    fn dir(&self) -> bool {
        self.kind == Kind::Directory
    }
}

/// How the HTML page is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HtmlOptions {
    /// `autoindex_exact_size on`: bytes; off: rounded `K`, `M`, `G`.
    pub exact_size: bool,
    /// `autoindex_localtime on`: the date column in local time (the zone's offset
    /// at each file's time), else UTC.
    pub localtime: bool,
    /// The page's charset is UTF-8: names are measured and cut in characters.
    pub utf8: bool,
}

/// Reads the entries of the open directory `dir` (not `.`, `..` or any other name
/// starting with `.`), following symlinks for their type, size and time; sorted.
pub fn read_entries(dir: &File) -> io::Result<Vec<Entry>> {
    // SAFETY: dup of a descriptor we hold open; the copy is owned by the DIR stream
    // and closed by closedir below.
    let fd = unsafe { libc::dup(dir.as_raw_fd()) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor of a directory; on success the stream owns it.
    let stream = unsafe { libc::fdopendir(fd) };
    if stream.is_null() {
        let e = io::Error::last_os_error();
        // SAFETY: fdopendir failed, so fd is still ours to close.
        unsafe { libc::close(fd) };
        return Err(e);
    }
    // The copy shares the descriptor's position: start from the first entry whatever
    // read the directory before.
    // SAFETY: stream is a valid open DIR.
    unsafe { libc::rewinddir(stream) };
    let mut entries = Vec::new();
    let result = loop {
        // readdir signals the end and an error alike with NULL: errno tells them apart.
        // SAFETY: errno is thread-local.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: stream is a valid open DIR.
        let de = unsafe { libc::readdir(stream) };
        if de.is_null() {
            let e = io::Error::last_os_error();
            break if e.raw_os_error().unwrap_or(0) == 0 {
                Ok(())
            } else {
                Err(e)
            };
        }
        // SAFETY: d_name is NUL-terminated within the entry readdir returned.
        let name = unsafe { CStr::from_ptr((*de).d_name.as_ptr()) };
        if name.to_bytes().first() == Some(&b'.') {
            continue;
        }
        // SAFETY: stat is plain old data; zero is valid for every field.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fd stays open (the stream owns it), name is NUL-terminated, and
        // fstatat writes only into `st`.
        let rc = unsafe { libc::fstatat(fd, name.as_ptr(), &mut st, 0) };
        if rc != 0 {
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                // A dangling or looping symlink is listed as the link itself.
                Some(libc::ENOENT) | Some(libc::ELOOP) => {
                    // SAFETY: as above, without following the link.
                    let rc = unsafe {
                        libc::fstatat(fd, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW)
                    };
                    if rc != 0 {
                        break Err(io::Error::last_os_error());
                    }
                }
                Some(libc::EACCES) => continue,
                _ => break Err(e),
            }
        }
        entries.push(Entry {
            name: name.to_bytes().to_vec(),
            kind: match st.st_mode & libc::S_IFMT {
                libc::S_IFDIR => Kind::Directory,
                libc::S_IFREG => Kind::File,
                _ => Kind::Other,
            },
            mtime: st.st_mtime,
            size: u64::try_from(st.st_size).unwrap_or(0),
        });
    };
    // SAFETY: stream is open and not used after this.
    unsafe { libc::closedir(stream) };
    result?;
    sort(&mut entries);
    Ok(entries)
}

/// nginx's order: directories first, then byte order of the names.
pub fn sort(entries: &mut [Entry]) {
    entries.sort_by(|a, b| b.dir().cmp(&a.dir()).then_with(|| a.name.cmp(&b.name)));
}

/// The seconds local time is ahead of UTC at `secs` (`autoindex_localtime on`).
pub fn local_offset(secs: i64) -> i64 {
    let t = secs as libc::time_t;
    // SAFETY: tm is plain old data; localtime_r writes only into it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the call.
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if ok {
        tm.tm_gmtoff
    } else {
        0
    }
}

/// The listing's `Content-Type` and body in `format`; for JSONP, `callback` is the
/// `callback` argument (`None`: plain JSON, as nginx).
pub fn render(
    format: AutoindexFormat,
    uri: &str,
    entries: &[Entry],
    html: HtmlOptions,
    callback: Option<&[u8]>,
) -> (&'static str, Vec<u8>) {
    match format {
        AutoindexFormat::Html => ("text/html", render_html(uri, entries, html)),
        AutoindexFormat::Xml => ("text/xml; charset=utf-8", render_xml(entries)),
        AutoindexFormat::Json => ("application/json", render_json(entries, None)),
        AutoindexFormat::Jsonp => match callback {
            Some(cb) => ("application/javascript", render_json(entries, Some(cb))),
            None => ("application/json", render_json(entries, None)),
        },
    }
}

/// The request's `callback` argument (`$arg_callback`: the first of that name, any
/// case), `None` when absent or empty.
pub fn callback_arg(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| k.eq_ignore_ascii_case("callback"))
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// Whether a JSONP callback name is one nginx accepts: at most 128 bytes of letters,
/// digits, `_` and `.` (anything else is a 400).
pub fn valid_callback(cb: &[u8]) -> bool {
    cb.len() <= MAX_CALLBACK
        && cb
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.')
}

/// The HTML page.
pub fn render_html(uri: &str, entries: &[Entry], o: HtmlOptions) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + entries.len() * 120);
    let title = escape_html(uri.as_bytes());
    out.extend_from_slice(b"<html>\r\n<head><title>Index of ");
    out.extend_from_slice(&title);
    out.extend_from_slice(b"</title></head>\r\n<body>\r\n<h1>Index of ");
    out.extend_from_slice(&title);
    out.extend_from_slice(b"</h1><hr><pre><a href=\"../\">../</a>\r\n");
    for e in entries {
        out.extend_from_slice(b"<a href=\"");
        escape_uri_component(&e.name, &mut out);
        if e.dir() {
            out.push(b'/');
        }
        out.extend_from_slice(b"\">");
        name_column(e, o.utf8, &mut out);
        out.push(b' ');
        let offset = if o.localtime {
            local_offset(e.mtime)
        } else {
            0
        };
        let c = date::civil(e.mtime.saturating_add(offset));
        let month = date::MONTHS
            .get((c.month as usize).wrapping_sub(1))
            .unwrap_or(&"???");
        let stamp = format!(
            "{:02}-{month}-{} {:02}:{:02} ",
            c.day, c.year, c.hour, c.minute
        );
        out.extend_from_slice(stamp.as_bytes());
        out.extend_from_slice(size_column(e, o.exact_size).as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"</pre><hr></body>\r\n</html>\r\n");
    out
}

/// The link text, cut and padded to the name column, and `</a>`.
fn name_column(e: &Entry, utf8: bool, out: &mut Vec<u8>) {
    let chars = if utf8 { utf8_length(&e.name) } else { None };
    let len = chars.unwrap_or(e.name.len());
    let keep = if len > NAME_COLUMN {
        NAME_COLUMN - 3
    } else {
        len
    };
    let shown = match chars {
        Some(_) => utf8_prefix(&e.name, keep),
        None => e.name.get(..keep).unwrap_or(&e.name),
    };
    out.extend_from_slice(&escape_html(shown));
    if len > NAME_COLUMN {
        out.extend_from_slice(b"..&gt;</a>");
        return;
    }
    let mut len = len;
    if e.dir() && len < NAME_COLUMN {
        out.push(b'/');
        len += 1;
    }
    out.extend_from_slice(b"</a>");
    out.resize(out.len() + (NAME_COLUMN - len), b' ');
}

/// The size column: 19 wide in bytes, or 7 wide rounded (`autoindex_exact_size off`).
fn size_column(e: &Entry, exact: bool) -> String {
    if exact {
        return if e.dir() {
            format!("{:>19}", "-")
        } else {
            format!("{:>19}", e.size)
        };
    }
    if e.dir() {
        return format!("{:>7}", "-");
    }
    const K: u64 = 1024;
    let size = e.size;
    // nginx rounds half up at each scale.
    let (scaled, unit) = if size > K * K * K - 1 {
        (
            size / (K * K * K) + u64::from(size % (K * K * K) > K * K * K / 2 - 1),
            'G',
        )
    } else if size > K * K - 1 {
        (
            size / (K * K) + u64::from(size % (K * K) > K * K / 2 - 1),
            'M',
        )
    } else if size > 9999 {
        (size / K + u64::from(size % K > K / 2 - 1), 'K')
    } else {
        return format!(" {size:>6}");
    };
    format!("{scaled:>6}{unit}")
}

/// The number of characters when `name` is valid UTF-8 with some multi-byte
/// character; `None` when it is ASCII or not UTF-8 (measured in bytes, as nginx).
fn utf8_length(name: &[u8]) -> Option<usize> {
    let s = std::str::from_utf8(name).ok()?;
    let n = s.chars().count();
    (n != name.len()).then_some(n)
}

/// The first `chars` characters of a valid UTF-8 name.
fn utf8_prefix(name: &[u8], chars: usize) -> &[u8] {
    let s = std::str::from_utf8(name).unwrap_or("");
    let end = s.char_indices().nth(chars).map_or(s.len(), |(i, _)| i);
    name.get(..end).unwrap_or(name)
}

/// The XML form.
pub fn render_xml(entries: &[Entry]) -> Vec<u8> {
    let mut out = b"<?xml version=\"1.0\"?>\r\n<list>\r\n".to_vec();
    for e in entries {
        let c = date::civil(e.mtime);
        let mtime = format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        );
        let (head, tail) = match e.kind {
            Kind::Directory => (format!("<directory mtime=\"{mtime}\">"), "</directory>"),
            Kind::File => (
                format!("<file mtime=\"{mtime}\" size=\"{}\">", e.size),
                "</file>",
            ),
            Kind::Other => (format!("<other mtime=\"{mtime}\">"), "</other>"),
        };
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(&escape_html(&e.name));
        out.extend_from_slice(tail.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"</list>\r\n");
    out
}

/// The JSON form; with a callback, nginx's JSONP wrapping of it.
pub fn render_json(entries: &[Entry], callback: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(cb) = callback {
        out.extend_from_slice(b"/* callback */\r\n");
        out.extend_from_slice(cb);
        out.push(b'(');
    }
    out.extend_from_slice(b"[\r\n");
    for (i, e) in entries.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b",\r\n");
        }
        out.extend_from_slice(b"{ \"name\":\"");
        escape_json(&e.name, &mut out);
        let when = date::format_http_date(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(e.mtime.max(0).unsigned_abs()),
        );
        let rest = match e.kind {
            Kind::Directory => format!("\", \"type\":\"directory\", \"mtime\":\"{when}\" }}"),
            Kind::File => format!(
                "\", \"type\":\"file\", \"mtime\":\"{when}\", \"size\":{} }}",
                e.size
            ),
            Kind::Other => format!("\", \"type\":\"other\", \"mtime\":\"{when}\" }}"),
        };
        out.extend_from_slice(rest.as_bytes());
    }
    if !entries.is_empty() {
        out.extend_from_slice(b"\r\n");
    }
    out.push(b']');
    if callback.is_some() {
        out.extend_from_slice(b");");
    }
    out
}

/// `&`, `<`, `>` and `"` as entities (nginx's `ngx_escape_html`).
fn escape_html(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    for &b in s {
        match b {
            b'&' => out.extend_from_slice(b"&amp;"),
            b'<' => out.extend_from_slice(b"&lt;"),
            b'>' => out.extend_from_slice(b"&gt;"),
            b'"' => out.extend_from_slice(b"&quot;"),
            _ => out.push(b),
        }
    }
    out
}

/// Every byte but letters, digits and `-._~` as `%XX`, uppercase.
fn escape_uri_component(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.push(b'%');
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        }
    }
}

/// nginx's JSON string escaping: `"` and `\` with a backslash, the control bytes as
/// `\b \t \n \f \r` or `\u00XX`; everything else as it is.
fn escape_json(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            0..=0x1f => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
            _ => out.push(b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-07 01:09:33 UTC.
    const T: i64 = 1_796_605_773;

    fn file(name: &str, size: u64) -> Entry {
        Entry {
            name: name.as_bytes().to_vec(),
            kind: Kind::File,
            mtime: T,
            size,
        }
    }

    fn dir(name: &str) -> Entry {
        Entry {
            kind: Kind::Directory,
            size: 4096,
            ..file(name, 0)
        }
    }

    const GMT: HtmlOptions = HtmlOptions {
        exact_size: true,
        localtime: false,
        utf8: false,
    };

    fn line(e: &Entry, o: HtmlOptions) -> String {
        let page = render_html("/", std::slice::from_ref(e), o);
        let page = String::from_utf8_lossy(&page);
        page.lines().nth(4).unwrap().to_string()
    }

    #[test]
    fn html_lines_as_nginx_writes_them() {
        let x60 = format!("{}.txt", "x".repeat(60));
        let cut = format!("<a href=\"{x60}\">{}..&gt;</a> ", "x".repeat(47));
        #[rustfmt::skip]
        let rows: Vec<(&str, Entry, String)> = vec![
            ("dir_gets_slash", dir("sub"),
             format!("<a href=\"sub/\">sub/</a>{} 07-Dec-2026 01:09 {:>19}", " ".repeat(46), "-")),
            ("file_exact", file("a.txt", 5),
             format!("<a href=\"a.txt\">a.txt</a>{} 07-Dec-2026 01:09 {:>19}", " ".repeat(45), 5)),
            ("escaped", file("a&b <c>.html", 8),
             format!("<a href=\"a%26b%20%3Cc%3E.html\">a&amp;b &lt;c&gt;.html</a>{} 07-Dec-2026 01:09 {:>19}", " ".repeat(38), 8)),
            ("long_name_cut", file(&x60, 5000),
             format!("{cut}07-Dec-2026 01:09 {:>19}", 5000)),
            ("fifty_exactly", file(&"y".repeat(50), 1),
             format!("<a href=\"{y}\">{y}</a> 07-Dec-2026 01:09 {:>19}", 1, y = "y".repeat(50))),
            ("dir_of_fifty_has_no_room_for_slash", dir(&"e".repeat(50)),
             format!("<a href=\"{e}/\">{e}</a> 07-Dec-2026 01:09 {:>19}", "-", e = "e".repeat(50))),
            ("cut_before_escaping", file(&format!("{}&h&h&h", "g".repeat(46)), 1),
             format!("<a href=\"{g}%26h%26h%26h\">{g}&amp;..&gt;</a> 07-Dec-2026 01:09 {:>19}", 1, g = "g".repeat(46))),
        ];
        for (name, entry, want) in rows {
            assert_eq!(line(&entry, GMT), want, "{name}");
        }
    }

    #[test]
    fn utf8_names_are_measured_in_characters_only_under_utf8() {
        let e = file(&"é".repeat(60), 1);
        let utf8 = HtmlOptions { utf8: true, ..GMT };
        let shown = line(&e, utf8);
        assert!(
            shown.contains(&format!(">{}..&gt;</a>", "é".repeat(47))),
            "{shown}"
        );
        let bytes = line(&e, GMT);
        let text = bytes.split("\">").nth(1).unwrap();
        assert!(text.starts_with(&"é".repeat(23)), "{bytes}");
        let short = file(&"é".repeat(30), 1);
        let padded = line(&short, utf8);
        assert!(padded.contains(&format!("{}</a>{} 07", "é".repeat(30), " ".repeat(20))));
    }

    #[test]
    fn rounded_sizes() {
        for (size, want) in [
            (5, "      5"),
            (9999, "   9999"),
            (10_000, "    10K"),
            (10_752, "    11K"),
            (2_000_000, "      2M"),
            (1 << 30, "      1G"),
        ] {
            let got = size_column(&file("f", size), false);
            assert_eq!(got.trim_start(), want.trim_start(), "{size}");
            assert_eq!(got.len(), 7, "{size}: {got:?}");
        }
        assert_eq!(size_column(&dir("d"), false), "      -");
    }

    #[test]
    fn directories_first_then_bytes() {
        let mut v = vec![
            file("b", 1),
            dir("z"),
            file("B", 1),
            dir("a"),
            file("a.txt", 1),
        ];
        sort(&mut v);
        let names: Vec<&[u8]> = v.iter().map(|e| e.name.as_slice()).collect();
        assert_eq!(names, [&b"a"[..], b"z", b"B", b"a.txt", b"b"]);
    }

    #[test]
    fn xml_and_json_forms() {
        let v = vec![dir("sub"), file("q\"<&\n\u{1}.txt", 3)];
        let xml = String::from_utf8(render_xml(&v)).unwrap();
        assert_eq!(
            xml,
            "<?xml version=\"1.0\"?>\r\n<list>\r\n\
             <directory mtime=\"2026-12-07T01:09:33Z\">sub</directory>\r\n\
             <file mtime=\"2026-12-07T01:09:33Z\" size=\"3\">q&quot;&lt;&amp;\n\u{1}.txt</file>\r\n\
             </list>\r\n"
        );
        let json = String::from_utf8(render_json(&v, None)).unwrap();
        assert_eq!(
            json,
            "[\r\n\
             { \"name\":\"sub\", \"type\":\"directory\", \"mtime\":\"Mon, 07 Dec 2026 01:09:33 GMT\" },\r\n\
             { \"name\":\"q\\\"<&\\n\\u0001.txt\", \"type\":\"file\", \"mtime\":\"Mon, 07 Dec 2026 01:09:33 GMT\", \"size\":3 }\r\n\
             ]"
        );
        assert_eq!(render_json(&[], None), b"[\r\n]");
        let other = Entry {
            kind: Kind::Other,
            ..file("dangling", 7)
        };
        let xml = String::from_utf8(render_xml(std::slice::from_ref(&other))).unwrap();
        assert!(xml.contains("<other mtime=\"2026-12-07T01:09:33Z\">dangling</other>\r\n"));
        let json = String::from_utf8(render_json(&[other], None)).unwrap();
        assert!(json.contains("\"type\":\"other\", \"mtime\":\"Mon, 07 Dec 2026 01:09:33 GMT\" }"));
        assert_eq!(
            render_json(&[], Some(b"cb")),
            b"/* callback */\r\ncb([\r\n]);"
        );
    }

    #[test]
    fn callbacks_nginx_accepts() {
        assert!(valid_callback(b"jQuery_1.done"));
        assert!(valid_callback(&[b'a'; 128]));
        assert!(!valid_callback(&[b'a'; 129]));
        for bad in [&b"a$b"[..], b"a-b", b"a%41", b"a b", b"f()"] {
            assert!(!valid_callback(bad), "{bad:?}");
        }
    }
}
