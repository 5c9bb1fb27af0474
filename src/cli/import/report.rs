//! The import's report: the copy checked exactly as `-t` checks it ([`config::load`]),
//! then every directive sorted into what vestibule honours, what it accepts without
//! effect (the info lines `-t` prints, with vestibule's reason) and what must change
//! (the error lines `-t` prints, each with what to do), plus `-t`'s warnings. The
//! messages are the configuration layer's own; this file only groups them. The loader
//! reports every error it finds, not the first, so one run lists all there is to
//! change.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::config::build::unimplemented;
use crate::config::error::ConfigErrorKind;
use crate::config::read::{self, ReadOptions};
use crate::config::source::{Origin, Span};
use crate::config::tree::Directive;
use crate::config::{self, ConfigError, ConfigWarning, LoadOptions};

/// The outcome of checking the copy.
#[derive(Debug, Default)]
pub struct Checked {
    /// Directive names vestibule honours, with how many times each is written: those
    /// `-t` says nothing about (a directive with a warning is listed with it).
    pub honoured: BTreeMap<String, usize>,
    pub no_effect: Vec<ConfigWarning>,
    pub warnings: Vec<ConfigWarning>,
    pub must_change: Vec<ConfigError>,
    /// Directives of a module vestibule does not implement that `-t` does not name
    /// because it gives a module's advice once (`proxy_cache_valid` after
    /// `proxy_cache_path`): they must go too.
    pub same_module: Vec<(String, Span)>,
    /// Whether the copy passes `-t`.
    pub passes: bool,
}

/// Checks the configuration whose main file is `main`, with vestibule's default prefix
/// and error log, as `vestibule -t -c MAIN` would.
pub fn check(main: &Path) -> Checked {
    let options = LoadOptions {
        main_file: main.to_path_buf(),
        prefix: None,
        error_log: None,
        directives: None,
        embedded_if_missing: false,
    };
    let mut checked = Checked::default();
    let loaded = config::load(&options);
    match loaded {
        Ok(loaded) => {
            checked.passes = true;
            checked.no_effect = loaded.infos;
            checked.warnings = loaded.warnings;
        }
        Err(errors) => checked.must_change = errors.0,
    }
    // The tree again, for the directives nothing was said about. When the files do not
    // read, the read errors are all there is to report.
    if let Ok(tree) = read::read_config(&ReadOptions::new(main)) {
        let spoken_of: HashSet<(Arc<Origin>, u32)> = checked
            .must_change
            .iter()
            .filter_map(|e| e.span.as_ref())
            .chain(checked.no_effect.iter().filter_map(|i| i.span.as_ref()))
            .chain(checked.warnings.iter().filter_map(|w| w.span.as_ref()))
            .map(|s| (Arc::clone(&s.origin), s.line))
            .collect();
        count_honoured(&tree.directives, &spoken_of, &mut checked);
    }
    checked
}

fn count_honoured(
    directives: &[Directive],
    spoken_of: &HashSet<(Arc<Origin>, u32)>,
    checked: &mut Checked,
) {
    for d in directives {
        let Span { origin, line } = &d.span;
        if spoken_of.contains(&(Arc::clone(origin), *line)) {
            // Reported in its group.
        } else if unimplemented::advice(&d.name).is_some() {
            checked.same_module.push((d.name.clone(), d.span.clone()));
        } else if let Some(var) = unimplemented_variable(d) {
            checked
                .same_module
                .push((format!("{} ... ${var}", d.name), d.span.clone()));
        } else {
            *checked.honoured.entry(d.name.clone()).or_default() += 1;
        }
        // A `types` or `map` block holds table rows, not directives.
        let table = matches!(d.name.as_str(), "types" | "map" | "charset_map");
        if let Some(block) = d.block.as_ref().filter(|_| !table) {
            count_honoured(block, spoken_of, checked);
        }
    }
}

/// The first `$variable` in `d`'s arguments that belongs to a module vestibule does
/// not implement (`$upstream_cache_status`).
fn unimplemented_variable(d: &Directive) -> Option<String> {
    d.args.iter().find_map(|arg| {
        arg.value.split('$').skip(1).find_map(|after| {
            let name: String = after
                .trim_start_matches('{')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            unimplemented::advice(&name).map(|_| name)
        })
    })
}

/// What to do about an error, when its message does not already say.
pub fn what_to_do(kind: &ConfigErrorKind) -> Option<String> {
    Some(match kind {
        ConfigErrorKind::Unsupported(name, _) => match name.split_once(" ... ") {
            // `listen ... proxy_protocol`: a parameter of a directive.
            Some((directive, parameter)) => format!(
                "remove \"{parameter}\" from the \"{directive}\" line: vestibule does not do it yet"
            ),
            None => format!(
                "remove {}, or change it as the message says: vestibule does not do it yet",
                quoted(name)
            ),
        },
        ConfigErrorKind::UnknownDirective(name) => format!(
            "remove {}: no nginx module vestibule knows has it (a third-party module's?)",
            quoted(name)
        ),
        ConfigErrorKind::Open { path, .. } => format!(
            "create \"{}\", or remove the line that names it",
            path.display()
        ),
        ConfigErrorKind::Glob { .. } => "fix the include pattern".to_string(),
        // The message names the fix (a not-implemented directive's advice, a module
        // to unload) or the value nginx would also refuse.
        _ => return None,
    })
}

fn quoted(name: &str) -> String {
    if name.starts_with('"') {
        name.to_string()
    } else {
        format!("\"{name}\"")
    }
}

/// Prints the checked copy's groups; `main` is the copy's main file.
pub fn print(checked: &Checked, main: &Path, out: &mut String) {
    let total: usize = checked.honoured.values().sum();
    out.push_str(&format!("\nhonoured ({total} directives):\n"));
    let names: Vec<String> = checked
        .honoured
        .iter()
        .map(|(name, n)| match n {
            1 => name.clone(),
            n => format!("{name} ×{n}"),
        })
        .collect();
    for line in wrap(&names, 88) {
        out.push_str(&format!("  {line}\n"));
    }
    out.push_str(&format!(
        "\naccepted without effect ({}):\n",
        checked.no_effect.len()
    ));
    for info in &checked.no_effect {
        out.push_str(&format!("  {info}\n"));
    }
    out.push_str(&format!(
        "\nwarnings, as -t gives them ({}):\n",
        checked.warnings.len()
    ));
    for w in &checked.warnings {
        out.push_str(&format!("  {w}\n"));
    }
    out.push_str(&format!(
        "\nmust change ({}):\n",
        checked.must_change.len() + checked.same_module.len()
    ));
    for e in &checked.must_change {
        out.push_str(&format!("  {e}\n"));
        if let Some(todo) = what_to_do(&e.kind) {
            out.push_str(&format!("    -> {todo}\n"));
        }
    }
    for (name, span) in &checked.same_module {
        let what = if name.contains(" ... $") {
            "uses a variable of a module vestibule does not implement"
        } else {
            "is of a module vestibule does not implement"
        };
        out.push_str(&format!("  \"{name}\" {span} {what}: remove it too\n"));
    }
    if !checked.must_change.is_empty() {
        out.push_str(&format!(
            "    then run: vestibule -t -c {}\n",
            main.display()
        ));
    }
}

/// `words` joined with ", " into lines of at most about `width` characters.
fn wrap(words: &[String], width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in words {
        if !line.is_empty() && line.len() + word.len() + 2 > width {
            lines.push(std::mem::take(&mut line) + ",");
        }
        if !line.is_empty() {
            line.push_str(", ");
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The logs' directory the copy now names, when it does not exist yet.
pub fn missing_log_dir(rewritten_to: &[&str]) -> Option<PathBuf> {
    let dir = Path::new(super::rewrite::VESTIBULE_LOG_DIR);
    let named = rewritten_to.iter().any(|to| Path::new(to).starts_with(dir));
    (named && !dir.exists()).then(|| dir.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_wrap_at_the_width() {
        let words: Vec<String> = ["listen ×2", "root", "server_name"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(wrap(&words, 100), ["listen ×2, root, server_name"]);
        assert_eq!(wrap(&words, 16), ["listen ×2, root,", "server_name"]);
    }

    #[test]
    fn unsupported_and_unknown_say_what_to_do() {
        let kind = ConfigErrorKind::UnknownDirective("foo".into());
        assert!(what_to_do(&kind).is_some_and(|t| t.starts_with("remove \"foo\"")));
        let kind = ConfigErrorKind::NotImplemented("uwsgi_pass".into(), "use proxy_pass");
        assert_eq!(what_to_do(&kind), None, "the message already says");
        let kind = ConfigErrorKind::Unsupported("listen ... quic".into(), "not implemented");
        assert_eq!(
            what_to_do(&kind).as_deref(),
            Some("remove \"quic\" from the \"listen\" line: vestibule does not do it yet")
        );
    }
}
