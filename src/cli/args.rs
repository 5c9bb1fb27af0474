//! nginx's command-line syntax: single-letter flags that may be grouped (`-tq`), and
//! options whose value follows either in the same word (`-cFILE`) or the next one
//! (`-c FILE`). Errors are worded as nginx words them. Vestibule's own long options
//! (`--import-nginx DIR [--into DIR] [--force]`, which nginx does not have) follow
//! GNU's form: the value in the next word or after `=`.

use std::ffi::OsString;
use std::path::PathBuf;

/// What the user asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub help: bool,
    pub version: bool,
    pub version_verbose: bool,
    pub test: bool,
    pub dump: bool,
    pub quiet: bool,
    pub signal: Option<Signal>,
    pub prefix: Option<PathBuf>,
    pub error_log: Option<PathBuf>,
    pub conf_file: Option<PathBuf>,
    pub directives: Option<String>,
    /// `--import-nginx DIR`: the nginx tree to copy (docs/migration.md).
    pub import_nginx: Option<PathBuf>,
    /// `--into DIR`: where the import writes (default `/etc/vestibule`).
    pub import_into: Option<PathBuf>,
    /// `--force`: the import replaces an existing destination (kept beside it).
    pub force: bool,
}

/// `-s` signals and the Unix signal each sends, as nginx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Stop,
    Quit,
    Reopen,
    Reload,
}

impl Signal {
    fn parse(s: &str) -> Option<Signal> {
        Some(match s {
            "stop" => Signal::Stop,
            "quit" => Signal::Quit,
            "reopen" => Signal::Reopen,
            "reload" => Signal::Reload,
            _ => return None,
        })
    }

    pub fn number(self) -> i32 {
        match self {
            Signal::Stop => libc::SIGTERM,
            Signal::Quit => libc::SIGQUIT,
            Signal::Reopen => libc::SIGUSR1,
            Signal::Reload => libc::SIGHUP,
        }
    }
}

/// A command line nginx would refuse, with nginx's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    #[error("invalid option: \"{0}\"")]
    InvalidOption(String),
    #[error("option \"-{0}\" requires {1}")]
    MissingValue(char, &'static str),
    #[error("invalid option: \"-s {0}\"")]
    InvalidSignal(String),
    #[error("arguments must be valid UTF-8")]
    NotUtf8,
    #[error("option \"{0}\" requires directory name")]
    MissingLongValue(&'static str),
    #[error("option \"{0}\" is only used with \"--import-nginx\"")]
    OnlyWithImport(&'static str),
}

/// Parses the arguments after the program name.
pub fn parse<I: IntoIterator<Item = OsString>>(args: I) -> Result<Options, ArgsError> {
    let args: Vec<String> = args
        .into_iter()
        .map(|a| a.into_string().map_err(|_| ArgsError::NotUtf8))
        .collect::<Result<_, _>>()?;
    let mut opts = Options::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if let Some(long) = arg.strip_prefix("--") {
            i = long_option(long, &args, i, &mut opts)?;
            continue;
        }
        let Some(flags) = arg.strip_prefix('-') else {
            return Err(ArgsError::InvalidOption(arg.clone()));
        };
        if flags.is_empty() {
            return Err(ArgsError::InvalidOption(arg.clone()));
        }
        for (pos, flag) in flags.char_indices() {
            match flag {
                '?' | 'h' => opts.help = true,
                'v' => opts.version = true,
                'V' => {
                    opts.version = true;
                    opts.version_verbose = true;
                }
                't' => opts.test = true,
                'T' => {
                    opts.test = true;
                    opts.dump = true;
                }
                'q' => opts.quiet = true,
                'p' | 'c' | 'e' | 'g' | 's' => {
                    // The value is the rest of this word, or the next word.
                    let rest = &flags[pos + flag.len_utf8()..];
                    let value = if !rest.is_empty() {
                        rest.to_string()
                    } else {
                        i += 1;
                        args.get(i)
                            .cloned()
                            .ok_or(ArgsError::MissingValue(flag, what(flag)))?
                    };
                    match flag {
                        'p' => opts.prefix = Some(PathBuf::from(value)),
                        'c' => opts.conf_file = Some(PathBuf::from(value)),
                        'e' => opts.error_log = Some(PathBuf::from(value)),
                        'g' => opts.directives = Some(value),
                        _ => {
                            opts.signal =
                                Some(Signal::parse(&value).ok_or(ArgsError::InvalidSignal(value))?)
                        }
                    }
                    break;
                }
                other => return Err(ArgsError::InvalidOption(other.to_string())),
            }
        }
        i += 1;
    }
    if opts.import_nginx.is_none() {
        if opts.import_into.is_some() {
            return Err(ArgsError::OnlyWithImport("--into"));
        }
        if opts.force {
            return Err(ArgsError::OnlyWithImport("--force"));
        }
    }
    Ok(opts)
}

/// One long option, `long` being `args[i]` without its `--`; returns the index of the
/// next argument.
fn long_option(
    long: &str,
    args: &[String],
    mut i: usize,
    opts: &mut Options,
) -> Result<usize, ArgsError> {
    let (name, attached) = match long.split_once('=') {
        Some((name, value)) => (name, Some(value.to_string())),
        None => (long, None),
    };
    let mut value = |flag: &'static str| match attached.clone() {
        Some(v) => Ok(v),
        None => {
            i += 1;
            args.get(i)
                .cloned()
                .ok_or(ArgsError::MissingLongValue(flag))
        }
    };
    match name {
        "import-nginx" => opts.import_nginx = Some(PathBuf::from(value("--import-nginx")?)),
        "into" => opts.import_into = Some(PathBuf::from(value("--into")?)),
        "force" if attached.is_none() => opts.force = true,
        _ => return Err(ArgsError::InvalidOption(format!("--{long}"))),
    }
    Ok(i + 1)
}

/// nginx's wording for what an option needs.
fn what(flag: char) -> &'static str {
    match flag {
        'p' => "directory name",
        'c' | 'e' => "file name",
        'g' => "parameter",
        _ => "parameter",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Options, ArgsError> {
        parse(args.iter().map(OsString::from))
    }

    #[test]
    fn flags_group_and_values_attach_or_follow() {
        let o = p(&["-tq", "-c", "/x.conf", "-p/prefix", "-g", "daemon off;"]).unwrap();
        assert!(o.test && o.quiet && !o.dump);
        assert_eq!(o.conf_file, Some(PathBuf::from("/x.conf")));
        assert_eq!(o.prefix, Some(PathBuf::from("/prefix")));
        assert_eq!(o.directives.as_deref(), Some("daemon off;"));
        let o = p(&["-T", "-sreload"]).unwrap();
        assert!(o.test && o.dump);
        assert_eq!(o.signal, Some(Signal::Reload));
        let o = p(&["-tc/a.conf"]).unwrap();
        assert!(o.test);
        assert_eq!(o.conf_file, Some(PathBuf::from("/a.conf")));
    }

    #[test]
    fn errors_in_nginx_words() {
        let cases: &[(&[&str], &str)] = &[
            (&["-x"], "invalid option: \"x\""),
            (&["foo"], "invalid option: \"foo\""),
            (&["-"], "invalid option: \"-\""),
            (&["-c"], "option \"-c\" requires file name"),
            (&["-p"], "option \"-p\" requires directory name"),
            (&["-g"], "option \"-g\" requires parameter"),
            (&["-s"], "option \"-s\" requires parameter"),
            (&["-s", "restart"], "invalid option: \"-s restart\""),
        ];
        for (args, want) in cases {
            assert_eq!(p(args).unwrap_err().to_string(), *want, "{args:?}");
        }
    }

    #[test]
    fn import_takes_long_options_in_either_form() {
        let o = p(&["--import-nginx", "/etc/nginx", "--into=/tmp/v", "--force"]).unwrap();
        assert_eq!(o.import_nginx, Some(PathBuf::from("/etc/nginx")));
        assert_eq!(o.import_into, Some(PathBuf::from("/tmp/v")));
        assert!(o.force);
        let o = p(&["--import-nginx=/srv/nginx"]).unwrap();
        assert_eq!(o.import_nginx, Some(PathBuf::from("/srv/nginx")));
        assert!(!o.force && o.import_into.is_none());
        let cases: &[(&[&str], &str)] = &[
            (
                &["--import-nginx"],
                "option \"--import-nginx\" requires directory name",
            ),
            (
                &["--into", "/x"],
                "option \"--into\" is only used with \"--import-nginx\"",
            ),
            (
                &["--force"],
                "option \"--force\" is only used with \"--import-nginx\"",
            ),
            (&["--import", "/x"], "invalid option: \"--import\""),
            (&["--force=yes"], "invalid option: \"--force=yes\""),
        ];
        for (args, want) in cases {
            assert_eq!(p(args).unwrap_err().to_string(), *want, "{args:?}");
        }
    }

    #[test]
    fn signals_map_to_nginx_numbers() {
        assert_eq!(Signal::Reload.number(), libc::SIGHUP);
        assert_eq!(Signal::Reopen.number(), libc::SIGUSR1);
        assert_eq!(Signal::Stop.number(), libc::SIGTERM);
        assert_eq!(Signal::Quit.number(), libc::SIGQUIT);
    }
}
