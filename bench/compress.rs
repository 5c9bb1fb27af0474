//! Criterion benchmarks of response compression: the encoders on a 64 KiB HTML page at
//! the levels deployments use (the side-by-side figure against nginx is
//! `bash bench/run.sh --only gzip`), and the per-response decision, which every
//! response under `gzip on` pays whether or not it is compressed.
//!
//! Run: `cargo bench --bench compress`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use vestibule::compress::{policy, Coding, Encoder};
use vestibule::config::model::compress::{Coder, Compression};
use vestibule::exchange::response::BodyLength;
use vestibule::http1::{parse_request_head, HeadLimits};

/// A 64 KiB page that compresses as real HTML does (the bench scenario's generator,
/// bench/compare/configs.py `html_page`, written again here).
fn page() -> Vec<u8> {
    let words = [
        "account",
        "order",
        "shipped",
        "pending",
        "invoice",
        "customer",
        "total",
        "refund",
        "status",
        "delivery",
        "warehouse",
        "Berlin",
        "Lisbon",
        "Osaka",
    ];
    let mut text =
        String::from("<!doctype html>\n<html><head><title>Orders</title></head><body><table>\n");
    let mut n = 0usize;
    while text.len() < 64 * 1024 {
        n += 1;
        let w = |k: usize| words[n * k % words.len()];
        text.push_str(&format!(
            "<tr class=\"r{}\"><td>{}</td><td>{} {}</td><td><a href=\"/orders/{}\">{}</a></td><td>{}.{:02}</td></tr>\n",
            n % 5,
            n * 7919 % 100000,
            w(7),
            w(11),
            n * 104729 % 1000000,
            w(3),
            n * 31 % 997,
            n % 100
        ));
    }
    text.truncate(64 * 1024);
    text.into_bytes()
}

fn encode(coding: Coding, coder: &Coder, input: &[u8], out: &mut Vec<u8>) -> usize {
    out.clear();
    let mut e = Encoder::new(coding, coder, Some(input.len() as u64));
    for piece in input.chunks(64 << 10) {
        e.write(piece, out, false).unwrap();
    }
    e.finish(out).unwrap();
    out.len()
}

fn encoders(c: &mut Criterion) {
    let input = page();
    let mut out = Vec::with_capacity(input.len());
    let mut g = c.benchmark_group("encode_64k_html");
    g.throughput(Throughput::Bytes(input.len() as u64));
    for (name, coding, level) in [
        ("gzip_1", Coding::Gzip, 1),
        ("gzip_6", Coding::Gzip, 6),
        ("brotli_4", Coding::Brotli, 4),
        ("brotli_6", Coding::Brotli, 6),
    ] {
        let defaults = Compression::default();
        let mut coder = match coding {
            Coding::Gzip => defaults.gzip,
            Coding::Brotli => defaults.brotli,
        };
        coder.level = level;
        let size = encode(coding, &coder, &input, &mut out);
        eprintln!("{name}: 65536 -> {size} bytes");
        g.bench_function(name, |b| {
            b.iter(|| encode(coding, &coder, black_box(&input), &mut out))
        });
    }
    g.finish();
}

fn decision(c: &mut Criterion) {
    let raw = b"GET /static/app.css HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0\r\nAccept-Encoding: gzip, deflate, br\r\n\r\n";
    let (head, _) = parse_request_head(raw, &HeadLimits::default())
        .unwrap()
        .unwrap();
    let mut conf = Compression::default();
    conf.gzip.enabled = true;
    conf.vary = true;
    conf.gzip.types.types = vec!["text/css".into(), "application/javascript".into()];
    let fields = [
        ("Content-Type", &b"text/css"[..]),
        ("ETag", &b"\"a-1\""[..]),
    ];
    c.bench_function("compress_decision", |b| {
        b.iter(|| {
            let r = policy::Response::new(200, BodyLength::Known(5000), &fields, &[]);
            policy::decide(black_box(&conf), black_box(&head), &r)
        })
    });
}

criterion_group!(benches, encoders, decision);
criterion_main!(benches);
