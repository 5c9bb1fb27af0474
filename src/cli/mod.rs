//! The command line, with nginx's flags and messages: `-t`, `-T`, `-c`, `-p`, `-e`,
//! `-g`, `-s`, `-q`, `-v`, `-V`, `-h`, and vestibule's own `--import-nginx`
//! ([`import`]). `main.rs` calls [`main`] and exits with what it returns.

pub mod args;
mod import;
mod serve;
mod signal;
pub mod version;

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::config::model::LogTarget;
use crate::config::{self, LoadOptions, Loaded};

pub use args::{Options, Signal};

/// The configuration read when no `-c` is given.
pub const DEFAULT_CONF_FILE: &str = "/etc/vestibule/vestibule.conf";
pub use crate::config::{DEFAULT_ERROR_LOG, DEFAULT_PREFIX};
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Runs the command line (the program name, then its arguments) and returns the exit
/// code. Run as `nginx` (argv[0]'s file name), `-v` and `-V` print nginx's lines.
pub fn main<I: IntoIterator<Item = OsString>>(argv: I) -> ExitCode {
    let mut argv = argv.into_iter();
    let invocation = version::Invocation::from_argv0(argv.next().as_deref());
    let opts = match args::parse(argv) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("vestibule: {e}");
            return ExitCode::FAILURE;
        }
    };
    let paths = Paths::resolve(&opts);
    let out = Console::new(&paths);
    if opts.help || opts.version {
        print_version(&opts, invocation);
        return ExitCode::SUCCESS;
    }
    if let Some(source) = &opts.import_nginx {
        return import::run(source, opts.import_into.as_deref(), opts.force, &out);
    }
    let load_options = load_options(&opts, &paths);
    if opts.test {
        return test(&opts, &load_options, &out);
    }
    let loaded = match load(&load_options, &out, false) {
        Some(l) => l,
        None => return ExitCode::FAILURE,
    };
    if let Some(sig) = opts.signal {
        return signal::send(sig, &loaded.config.main.pid, &out);
    }
    serve::run(loaded, load_options, &out)
}

/// The files the command line names, resolved as nginx resolves them
/// (`ngx_process_options`): the prefix is `-p` (else [`DEFAULT_PREFIX`]); a relative
/// `-c` or `-e` is relative to the prefix, not to the working directory.
#[derive(Debug, Clone)]
struct Paths {
    prefix: PathBuf,
    conf_file: PathBuf,
    /// `-e`: `None` when not given.
    error_log: Option<LogTarget>,
}

impl Paths {
    fn resolve(opts: &Options) -> Paths {
        // nginx uses `-p` as given, so a relative one is relative to the working
        // directory; it is made absolute here so that it stays right after a chdir.
        let prefix = match &opts.prefix {
            Some(p) => absolute(p),
            None => PathBuf::from(DEFAULT_PREFIX),
        };
        let conf_file = match &opts.conf_file {
            Some(path) => prefix.join(path),
            None => PathBuf::from(DEFAULT_CONF_FILE),
        };
        let error_log = opts.error_log.as_ref().map(|path| {
            if path.as_os_str() == "stderr" {
                LogTarget::Stderr
            } else {
                LogTarget::File(prefix.join(path))
            }
        });
        Paths {
            prefix,
            conf_file,
            error_log,
        }
    }
}

fn load_options(opts: &Options, paths: &Paths) -> LoadOptions {
    LoadOptions {
        main_file: paths.conf_file.clone(),
        prefix: Some(paths.prefix.clone()),
        directives: opts.directives.clone(),
        embedded_if_missing: opts.conf_file.is_none(),
        error_log: paths.error_log.clone(),
    }
}

/// A path relative to the working directory made absolute.
fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// Loads the configuration and prints its warnings and errors (and, with `infos`, the
/// info-level notes `-t` gives); `None` on failure.
fn load(options: &LoadOptions, out: &Console, infos: bool) -> Option<Loaded> {
    if options.embedded_if_missing && !options.main_file.exists() {
        out.say(
            "notice",
            &format!(
                "\"{}\" does not exist, using the built-in configuration (pass -c FILE to use another)",
                options.main_file.display()
            ),
        );
    }
    match config::load(options) {
        Ok(loaded) => {
            for i in loaded.infos.iter().filter(|_| infos) {
                out.say("info", &i.to_string());
            }
            for w in &loaded.warnings {
                out.say("warn", &w.to_string());
            }
            Some(loaded)
        }
        Err(errors) => {
            for e in errors.iter() {
                out.say("emerg", &e.to_string());
            }
            None
        }
    }
}

/// `-t` / `-T`.
fn test(opts: &Options, options: &LoadOptions, out: &Console) -> ExitCode {
    let file = options.main_file.display();
    // `-q` keeps only errors and warnings.
    match load(options, out, !opts.quiet) {
        Some(loaded) => {
            if !opts.quiet {
                out.plain(&format!("the configuration file {file} syntax is ok"));
                out.plain(&format!("configuration file {file} test is successful"));
            }
            if opts.dump {
                let mut stdout = std::io::stdout().lock();
                // A closed stdout (`-T | head`) is not an error worth reporting.
                let _ = stdout.write_all(config::dump::dump(&loaded.sources).as_bytes());
            }
            ExitCode::SUCCESS
        }
        None => {
            out.plain(&format!("configuration file {file} test failed"));
            ExitCode::FAILURE
        }
    }
}

/// `-v`, `-V` (on standard error, as nginx: certbot reads it there), `-h`.
fn print_version(opts: &Options, invocation: version::Invocation) {
    if opts.version_verbose {
        eprint!("{}", version::verbose(invocation));
    } else {
        eprintln!("{}", version::version_line(invocation));
    }
    if opts.help {
        eprint!("{}", HELP);
    }
}

const HELP: &str = "\
Usage: vestibule [-?hvVtTq] [-s signal] [-p prefix]
                 [-e filename] [-c filename] [-g directives]
       vestibule --import-nginx dir [--into dir] [--force]

Options:
  -?,-h         : this help
  -v            : show version and exit
  -V            : show version and configure options then exit
  -t            : test configuration and exit
  -T            : test configuration, dump it and exit
  -q            : suppress non-error messages during configuration testing
  -s signal     : send signal to a master process: stop, quit, reopen, reload
  -p prefix     : set prefix path (default: /usr/share/vestibule/)
  -e filename   : set error log file (default: /var/log/vestibule/error.log)
  -c filename   : set configuration file (default: /etc/vestibule/vestibule.conf)
  -g directives : set global directives out of configuration file

  --import-nginx dir : copy the nginx configuration in dir (/etc/nginx) to
                       /etc/vestibule with its paths rewritten, test the copy
                       and report what must change (docs/migration.md)
  --into dir    : with --import-nginx: write the copy there instead
  --force       : with --import-nginx: replace an existing copy (kept beside it)
";

/// Where the command line's messages go: stderr, as nginx, and also the `-e` file
/// when one is given (nginx's early error log).
pub struct Console {
    error_log: Option<PathBuf>,
}

impl Console {
    fn new(paths: &Paths) -> Console {
        let error_log = match &paths.error_log {
            Some(LogTarget::File(path)) => Some(path.clone()),
            Some(LogTarget::Stderr) | None => None,
        };
        Console { error_log }
    }

    /// `vestibule: [level] message`
    pub fn say(&self, level: &str, message: &str) {
        self.plain(&format!("[{level}] {message}"));
    }

    /// `vestibule: message`
    pub fn plain(&self, message: &str) {
        let line = format!("vestibule: {message}\n");
        let _ = std::io::stderr().write_all(line.as_bytes());
        if let Some(path) = &self.error_log {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path);
            if let Ok(mut f) = file {
                let _ = f.write_all(line.as_bytes());
            }
        }
    }
}

impl std::fmt::Debug for Console {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Console")
            .field("error_log", &self.error_log)
            .finish()
    }
}
