//! The Prometheus exposition formats: text format 0.0.4, and OpenMetrics 1.0 for a
//! scraper that asks for it (`Accept: application/openmetrics-text`). A pure writer:
//! families and samples in, text out; what the metrics are is src/worker/metrics.rs.
//!
//! The two differ where it matters here: an OpenMetrics counter family is named
//! without `_total` (its samples carry it) and the text ends with `# EOF`; text format
//! 0.0.4 names the counter with `_total` in `# TYPE`. Label values are escaped the
//! same way in both (`\\`, `\"`, `\n`).

use std::fmt::Write;

/// Which format a scrape gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when the `Accept` header names it (Prometheus sends
    /// `application/openmetrics-text;version=1.0.0,...;q=0.5,...`), else text.
    pub fn from_accept(accept: Option<&[u8]>) -> Format {
        let names_it = accept.is_some_and(|a| {
            a.windows(OPENMETRICS.len())
                .any(|w| w.eq_ignore_ascii_case(OPENMETRICS.as_bytes()))
        });
        if names_it {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

const OPENMETRICS: &str = "application/openmetrics-text";

/// A metric family's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Writes one exposition.
#[derive(Debug)]
pub struct Writer {
    format: Format,
    out: String,
    /// The current family's name (without `_total`).
    family: String,
}

impl Writer {
    pub fn new(format: Format) -> Writer {
        Writer {
            format,
            out: String::with_capacity(8192),
            family: String::new(),
        }
    }

    /// Starts a family: `name` without `_total` for a counter.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        self.family = name.to_owned();
        let typed = match (kind, self.format) {
            (Kind::Counter, Format::Text) => format!("{name}_total"),
            _ => name.to_owned(),
        };
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let _ = writeln!(self.out, "# HELP {typed} {help}");
        let _ = writeln!(self.out, "# TYPE {typed} {kind}");
    }

    fn sample(
        &mut self,
        suffix: &str,
        labels: &[(&str, &str)],
        extra: Option<(&str, &str)>,
        value: &str,
    ) {
        self.out.push_str(&self.family);
        self.out.push_str(suffix);
        let all = labels.iter().copied().chain(extra);
        let mut first = true;
        for (k, v) in all {
            self.out.push(if first { '{' } else { ',' });
            first = false;
            self.out.push_str(k);
            self.out.push_str("=\"");
            escape_into(&mut self.out, v);
            self.out.push('"');
        }
        if !first {
            self.out.push('}');
        }
        self.out.push(' ');
        self.out.push_str(value);
        self.out.push('\n');
    }

    /// A sample of the current counter family.
    pub fn counter(&mut self, labels: &[(&str, &str)], value: u64) {
        self.sample("_total", labels, None, &value.to_string());
    }

    /// A sample of the current gauge family.
    pub fn gauge(&mut self, labels: &[(&str, &str)], value: f64) {
        self.sample("", labels, None, &number(value));
    }

    /// The samples of one histogram of the current family: `per_bucket` counts per
    /// bound of `bounds` then `+Inf` (not cumulative; summed here), `sum` in the
    /// family's unit.
    pub fn histogram(
        &mut self,
        labels: &[(&str, &str)],
        bounds: &[f64],
        per_bucket: &[u64],
        sum: f64,
    ) {
        let mut cumulative = 0u64;
        for (i, n) in per_bucket.iter().enumerate() {
            cumulative = cumulative.wrapping_add(*n);
            let le = bounds
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |b| format!("{b:?}"));
            self.sample(
                "_bucket",
                labels,
                Some(("le", &le)),
                &cumulative.to_string(),
            );
        }
        self.sample("_sum", labels, None, &number(sum));
        self.sample("_count", labels, None, &cumulative.to_string());
    }

    /// The text, ended as the format wants.
    pub fn finish(mut self) -> String {
        if self.format == Format::OpenMetrics {
            self.out.push_str("# EOF\n");
        }
        self.out
    }
}

/// A value as both formats read it: an integer without a fraction, else the
/// shortest decimal that reads back the same.
fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn escape_into(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_openmetrics_name_counters_their_way() {
        for (format, typed, end) in [
            (Format::Text, "# TYPE x_requests_total counter\n", ""),
            (
                Format::OpenMetrics,
                "# TYPE x_requests counter\n",
                "# EOF\n",
            ),
        ] {
            let mut w = Writer::new(format);
            w.family("x_requests", Kind::Counter, "Requests.");
            w.counter(&[("server", "a\"b\\c\nd")], 3);
            w.family("x_up", Kind::Gauge, "Up.");
            w.gauge(&[], 1.0);
            w.family("x_seconds", Kind::Histogram, "Durations.");
            w.histogram(&[("s", "a")], &[0.5, 1.0], &[1, 0, 2], 2.25);
            let text = w.finish();
            assert!(text.contains(typed), "{text}");
            assert!(
                text.contains("x_requests_total{server=\"a\\\"b\\\\c\\nd\"} 3\n"),
                "{text}"
            );
            assert!(text.contains("x_up 1\n"), "{text}");
            assert!(text.contains("x_seconds_bucket{s=\"a\",le=\"0.5\"} 1\nx_seconds_bucket{s=\"a\",le=\"1.0\"} 1\nx_seconds_bucket{s=\"a\",le=\"+Inf\"} 3\nx_seconds_sum{s=\"a\"} 2.25\nx_seconds_count{s=\"a\"} 3\n"), "{text}");
            assert!(text.ends_with(&format!("3\n{end}")), "{text}");
        }
    }

    #[test]
    fn the_accept_header_chooses() {
        let om = b"application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5";
        assert_eq!(Format::from_accept(Some(om)), Format::OpenMetrics);
        assert_eq!(Format::from_accept(Some(b"text/plain")), Format::Text);
        assert_eq!(Format::from_accept(None), Format::Text);
    }
}
