//! Tests for reading configuration files: includes, globs, the error lines for
//! unreadable files, and line numbers.

#![allow(clippy::unwrap_used, clippy::panic)]

use std::fs;
use std::path::Path;

use super::*;

/// Writes `files` (relative path, text) under a new temporary directory.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    dir
}

fn read(dir: &Path) -> Result<ReadResult, ConfigErrors> {
    read_config(&ReadOptions::new(dir.join("main.conf")))
}

/// `name args;` for every directive, depth-first, blocks as `name args {`.
fn flat(directives: &[Directive]) -> Vec<String> {
    let mut out = Vec::new();
    for d in directives {
        let head = std::iter::once(d.name.as_str())
            .chain(d.arg_strs())
            .collect::<Vec<_>>()
            .join(" ");
        match &d.block {
            Some(children) => {
                out.push(format!("{head} {{"));
                out.extend(flat(children));
                out.push("}".to_owned());
            }
            None => out.push(format!("{head};")),
        }
    }
    out
}

fn messages(errors: &ConfigErrors) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

#[test]
fn glob_include_reads_sorted_regular_visible_files() {
    let dir = tree(&[
        ("main.conf", "a;\ninclude sites/*;\nz;\n"),
        ("sites/b.conf", "b;\n"),
        ("sites/a.conf", "a2;\n"),
        ("sites/.a.conf.swp", "swap;\n"),
        ("sites/sub/c.conf", "c;\n"),
    ]);
    let got = read(dir.path()).unwrap();
    assert_eq!(flat(&got.directives), ["a;", "a2;", "b;", "z;"]);
    let origin = &got.directives[1].span.origin;
    assert_eq!(**origin, Origin::File(dir.path().join("sites/a.conf")));
}

#[test]
fn glob_matching_nothing_is_fine() {
    let dir = tree(&[("main.conf", "include conf.d/*.conf;\nx;\n")]);
    assert_eq!(flat(&read(dir.path()).unwrap().directives), ["x;"]);
}

#[test]
fn bad_glob_pattern_is_reported() {
    let dir = tree(&[("main.conf", "include \"[\";\n")]);
    let want = format!(
        "glob() \"{}/[\" failed: invalid range pattern in {}/main.conf:1",
        dir.path().display(),
        dir.path().display()
    );
    assert_eq!(messages(&read(dir.path()).unwrap_err()), [want]);
}

#[test]
fn missing_include_is_reported_and_reading_goes_on() {
    let dir = tree(&[(
        "main.conf",
        "http {\ninclude missing.conf;\ninclude /nonexistent/other.conf;\n}\n",
    )]);
    let d = dir.path().display();
    assert_eq!(
        messages(&read(dir.path()).unwrap_err()),
        [
            format!(
                "open() \"{d}/missing.conf\" failed (2: No such file or directory) \
                 in {d}/main.conf:2"
            ),
            format!(
                "open() \"/nonexistent/other.conf\" failed (2: No such file or directory) \
                 in {d}/main.conf:3"
            ),
        ]
    );
}

#[test]
fn include_of_a_directory_names_the_errno() {
    let dir = tree(&[("main.conf", "include sub;\n"), ("sub/x", "")]);
    let d = dir.path().display();
    assert_eq!(
        messages(&read(dir.path()).unwrap_err()),
        [format!(
            "open() \"{d}/sub\" failed (21: Is a directory) in {d}/main.conf:1"
        )]
    );
}

#[test]
fn missing_main_file_has_no_span() {
    let dir = tree(&[]);
    let d = dir.path().display();
    assert_eq!(
        messages(&read(dir.path()).unwrap_err()),
        [format!(
            "open() \"{d}/main.conf\" failed (2: No such file or directory)"
        )]
    );
}

#[test]
fn embedded_main_when_missing() {
    let dir = tree(&[]);
    let mut opts = ReadOptions::new(dir.path().join("main.conf"));
    opts.embedded_main_if_missing = true;
    let got = read_config(&opts).unwrap();
    let origins: Vec<Origin> = got.sources.iter().map(|s| (*s.origin).clone()).collect();
    assert_eq!(
        origins,
        [
            Origin::BuiltIn(dir.path().join("main.conf")),
            Origin::BuiltIn(dir.path().join("mime.types")),
        ]
    );
    assert_eq!(got.sources[0].text, builtin::EMBEDDED_MAIN);
    assert_eq!(got.directives[0].name, "daemon");
}

#[test]
fn relative_include_resolves_against_conf_dir() {
    let dir = tree(&[
        (
            "etc/main.conf",
            "include part.conf;\ninclude sites/*.conf;\n",
        ),
        ("etc/part.conf", "from_conf_dir;\n"),
        ("etc/sites/s.conf", "from_glob;\n"),
        ("elsewhere/part.conf", "wrong;\n"),
    ]);
    let mut opts = ReadOptions::new(dir.path().join("elsewhere/main.conf"));
    opts.main_file = dir.path().join("etc/main.conf");
    opts.conf_dir = dir.path().join("etc");
    let got = read_config(&opts).unwrap();
    assert_eq!(flat(&got.directives), ["from_conf_dir;", "from_glob;"]);
}

#[test]
fn conf_dir_with_glob_characters_is_taken_literally() {
    let dir = tree(&[
        ("we[i]rd/main.conf", "include s/*.conf;\n"),
        ("we[i]rd/s/a.conf", "a;\n"),
    ]);
    let got = read_config(&ReadOptions::new(dir.path().join("we[i]rd/main.conf")));
    assert_eq!(flat(&got.unwrap().directives), ["a;"]);
}

#[test]
fn built_in_proxy_params_and_mime_types_when_not_on_disk() {
    let dir = tree(&[(
        "main.conf",
        "http {\ninclude mime.types;\nlocation / {\ninclude proxy_params;\n}\n}\n",
    )]);
    let got = read(dir.path()).unwrap();
    let origins: Vec<Origin> = got.sources.iter().map(|s| (*s.origin).clone()).collect();
    assert_eq!(
        origins,
        [
            Origin::File(dir.path().join("main.conf")),
            Origin::BuiltIn(dir.path().join("mime.types")),
            Origin::BuiltIn(dir.path().join("proxy_params")),
        ]
    );
    let http = got.directives[0].block.as_ref().unwrap();
    assert_eq!(http[0].name, "types");
    let location = http[1].block.as_ref().unwrap();
    assert_eq!(location.len(), 5); // the five lines of proxy_params
    assert_eq!(
        location[0].span.to_string(),
        format!("in {}/proxy_params:1", dir.path().display())
    );
}

#[test]
fn file_on_disk_wins_over_built_in() {
    let dir = tree(&[
        ("main.conf", "include proxy_params;\n"),
        ("proxy_params", "proxy_set_header A b;\n"),
    ]);
    let got = read(dir.path()).unwrap();
    assert_eq!(flat(&got.directives), ["proxy_set_header A b;"]);
}

#[test]
fn include_in_nested_blocks_is_replaced_in_place() {
    let dir = tree(&[
        (
            "main.conf",
            "http {\n server {\n  location / {\n   a;\n   include loc.conf;\n   d;\n  }\n }\n}\n",
        ),
        ("loc.conf", "b;\ninclude deeper.conf;\n"),
        ("deeper.conf", "c {\n x;\n}\n"),
    ]);
    let got = read(dir.path()).unwrap();
    assert_eq!(
        flat(&got.directives),
        [
            "http {",
            "server {",
            "location / {",
            "a;",
            "b;",
            "c {",
            "x;",
            "}",
            "d;",
            "}",
            "}",
            "}"
        ]
    );
    let c = &got.directives[0].block.as_ref().unwrap()[0]
        .block
        .as_ref()
        .unwrap()[0]
        .block
        .as_ref()
        .unwrap()[2];
    assert_eq!(
        c.span.to_string(),
        format!("in {}/deeper.conf:1", dir.path().display())
    );
}

#[test]
fn include_shape_errors() {
    let dir = tree(&[("main.conf", "include;\ninclude a b;\ninclude x { }\n")]);
    let d = dir.path().display();
    assert_eq!(
        messages(&read(dir.path()).unwrap_err()),
        [
            format!("invalid number of arguments in \"include\" directive in {d}/main.conf:1"),
            format!("invalid number of arguments in \"include\" directive in {d}/main.conf:2"),
            format!("directive \"include\" is not terminated by \";\" in {d}/main.conf:3"),
        ]
    );
}

#[test]
fn self_include_hits_the_depth_limit() {
    let dir = tree(&[
        ("main.conf", "include self.conf;\n"),
        ("self.conf", "x;\ninclude self.conf;\n"),
    ]);
    let d = dir.path().display();
    assert_eq!(
        messages(&read(dir.path()).unwrap_err()),
        [format!(
            "include nesting is deeper than {MAX_INCLUDE_DEPTH} files \
             (is \"{d}/self.conf\" including itself?) in {d}/self.conf:2"
        )]
    );
}

#[test]
fn include_chain_at_the_depth_limit_is_fine() {
    let dir = tree(&[("main.conf", "include f1;\n")]);
    for level in 1..=MAX_INCLUDE_DEPTH {
        let text = if level == MAX_INCLUDE_DEPTH {
            "last;\n".to_owned()
        } else {
            format!("include f{};\n", level + 1)
        };
        fs::write(dir.path().join(format!("f{level}")), text).unwrap();
    }
    assert_eq!(flat(&read(dir.path()).unwrap().directives), ["last;"]);

    let last = dir.path().join(format!("f{MAX_INCLUDE_DEPTH}"));
    fs::write(&last, "include one_too_many;\n").unwrap();
    let err = read(dir.path()).unwrap_err();
    assert!(matches!(
        err.0[0].kind,
        ConfigErrorKind::IncludeTooDeep { .. }
    ));
}

#[test]
fn command_line_directives_come_first() {
    let dir = tree(&[
        ("main.conf", "worker_processes 2;\n"),
        ("g.conf", "from_g_include;\n"),
    ]);
    let mut opts = ReadOptions::new(dir.path().join("main.conf"));
    opts.command_line = Some("daemon off; include g.conf;".to_owned());
    let got = read_config(&opts).unwrap();
    assert_eq!(
        flat(&got.directives),
        ["daemon off;", "from_g_include;", "worker_processes 2;"]
    );
    assert_eq!(got.directives[0].span.to_string(), "in command line");
    assert_eq!(*got.sources[0].origin, Origin::CommandLine);
}

#[test]
fn command_line_error_is_collected_with_file_errors() {
    let dir = tree(&[("main.conf", "}\n")]);
    let mut opts = ReadOptions::new(dir.path().join("main.conf"));
    opts.command_line = Some("daemon off".to_owned());
    let d = dir.path().display();
    assert_eq!(
        messages(&read_config(&opts).unwrap_err()),
        [
            "unexpected end of parameter, expecting \";\" in command line".to_owned(),
            format!("unexpected \"}}\" in {d}/main.conf:1"),
        ]
    );
}

#[test]
fn syntax_error_ends_only_that_file() {
    let dir = tree(&[
        (
            "main.conf",
            "include bad.conf;\ninclude missing.conf;\nok;\n",
        ),
        ("bad.conf", "a;\nb;\n}\n"),
    ]);
    let d = dir.path().display();
    assert_eq!(
        messages(&read(dir.path()).unwrap_err()),
        [
            format!("unexpected \"}}\" in {d}/bad.conf:3"),
            format!(
                "open() \"{d}/missing.conf\" failed (2: No such file or directory) \
                 in {d}/main.conf:2"
            ),
        ]
    );
}

#[test]
fn sources_are_verbatim_and_read_once() {
    let part = "# comment kept\nx   \"y\";"; // no final newline
    let dir = tree(&[
        (
            "main.conf",
            "include part.conf;\ninclude part.conf;\ninclude p*.conf;\n",
        ),
        ("part.conf", part),
    ]);
    let got = read(dir.path()).unwrap();
    assert_eq!(got.directives.len(), 3);
    assert_eq!(got.sources.len(), 2);
    assert_eq!(got.sources[1].text, part);
    assert_eq!(
        *got.sources[1].origin,
        Origin::File(dir.path().join("part.conf"))
    );
}

#[test]
fn non_utf8_is_reported_at_its_line() {
    let dir = tree(&[("main.conf", "include bin.conf;\n")]);
    fs::write(dir.path().join("bin.conf"), b"a;\nb \xff;\n").unwrap();
    let d = dir.path().display();
    assert_eq!(
        messages(&read(dir.path()).unwrap_err()),
        [format!(
            "configuration text is not valid UTF-8 in {d}/bin.conf:2"
        )]
    );
}

#[test]
fn shipped_layout_reads_with_built_ins() {
    let dir = tree(&[
        ("vestibule.conf", include_str!("../../conf/vestibule.conf")),
        (
            "sites-enabled/default",
            include_str!("../../conf/sites-available/default"),
        ),
    ]);
    let got = read_config(&ReadOptions::new(dir.path().join("vestibule.conf"))).unwrap();
    let names: Vec<String> = got
        .sources
        .iter()
        .map(|s| {
            s.origin
                .path()
                .unwrap()
                .strip_prefix(dir.path())
                .unwrap()
                .display()
                .to_string()
        })
        .collect();
    assert_eq!(
        names,
        [
            "vestibule.conf",
            "mime.types",
            "sites-enabled/default",
            "proxy_params"
        ]
    );
}

#[test]
fn errno_text_matches_the_c_library() {
    let cases = [
        (libc::ENOENT, "No such file or directory"),
        (libc::EACCES, "Permission denied"),
        (libc::EISDIR, "Is a directory"),
    ];
    for (errno, want) in cases {
        assert_eq!(strerror(errno), want, "{errno}");
    }
}

#[test]
fn line_of_offset_counts_newlines_before_it() {
    let cases: [(&[u8], usize, u32); 4] = [
        (b"", 0, 1),
        (b"a\nb", 2, 2),
        (b"a\nb", 1, 1),
        (b"\n\n", 9, 3),
    ];
    for (bytes, offset, want) in cases {
        assert_eq!(line_of_offset(bytes, offset), want);
    }
}
