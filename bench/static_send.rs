//! Measures the ways a file's bytes can reach a socket, for the size classes static
//! files come in: sendfile(2), splice(2) through a pipe, and read + write through the
//! runtime (io_uring, or epoll with `MONOIO_FORCE_LEGACY_DRIVER=1`). A client thread
//! on loopback reads and discards; the server side's CPU time (this thread, from
//! `getrusage(RUSAGE_THREAD)`) is divided by the bytes moved.
//!
//! Run: `cargo bench --bench static_send` (add `-- quick` for a short run). The table
//! it prints is what docs/static-files.md records.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// A measuring program: its libc calls are the thing measured, each obviously valid.
#![allow(clippy::undocumented_unsafe_blocks)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use vestibule::net::stream::Stream;

#[derive(Clone, Copy, Debug)]
enum Method {
    Sendfile,
    Splice,
    ReadWrite,
}

fn thread_cpu() -> Duration {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut u) };
    let t = |tv: libc::timeval| Duration::new(tv.tv_sec as u64, (tv.tv_usec as u32) * 1000);
    t(u.ru_utime) + t(u.ru_stime)
}

fn splice_all(file: &std::fs::File, sock: i32, len: u64, pipe: (i32, i32)) {
    let mut off: libc::loff_t = 0;
    let mut left = len as usize;
    while left > 0 {
        let n = unsafe {
            libc::splice(
                file.as_raw_fd(),
                &mut off,
                pipe.1,
                std::ptr::null_mut(),
                left.min(1 << 20),
                libc::SPLICE_F_MOVE,
            )
        };
        assert!(n > 0, "splice in: {}", std::io::Error::last_os_error());
        let mut inpipe = n as usize;
        while inpipe > 0 {
            let m = unsafe {
                libc::splice(
                    pipe.0,
                    std::ptr::null_mut(),
                    sock,
                    std::ptr::null_mut(),
                    inpipe,
                    libc::SPLICE_F_MOVE,
                )
            };
            if m < 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::WouldBlock {
                    std::thread::yield_now();
                    continue;
                }
                panic!("splice out: {e}");
            }
            inpipe -= m as usize;
        }
        left -= n as usize;
    }
}

fn run(method: Method, size: usize, total_bytes: u64) -> (f64, f64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, vec![7u8; size]).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let rounds = (total_bytes / size as u64).max(1);
    let reader = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let mut want = rounds * size as u64;
        while want > 0 {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0);
            want -= n as u64;
        }
        s.write_all(b"k").unwrap();
    });
    let (std_sock, _) = listener.accept().unwrap();
    std_sock.set_nonblocking(true).unwrap();
    let mut rt = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()
        .unwrap();
    let result = rt.block_on(async move {
        let mut stream = Stream::Tcp(monoio::net::TcpStream::from_std(std_sock).unwrap());
        let file = std::fs::File::open(&path).unwrap();
        let mut pipe = [0i32; 2];
        unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) };
        unsafe { libc::fcntl(pipe[0], libc::F_SETPIPE_SZ, 1 << 20) };
        let mfile = monoio::fs::File::open(&path).await.unwrap();
        let mut buf = Vec::with_capacity(size.min(1 << 20));
        let cpu0 = thread_cpu();
        let t0 = Instant::now();
        for _ in 0..rounds {
            match method {
                Method::Sendfile => {
                    stream
                        .sendfile(&file, 0, size as u64, Duration::from_secs(30))
                        .await
                        .unwrap();
                }
                Method::Splice => {
                    let fd = stream.raw_fd();
                    splice_all(&file, fd, size as u64, (pipe[0], pipe[1]));
                }
                Method::ReadWrite => {
                    let mut off = 0u64;
                    while off < size as u64 {
                        buf.clear();
                        let (r, b) = mfile.read_at(buf, off).await;
                        let n = r.unwrap();
                        off += n as u64;
                        let (w, b) = stream.write_all(b).await;
                        w.unwrap();
                        buf = b;
                    }
                }
            }
        }
        let elapsed = t0.elapsed();
        let cpu = thread_cpu() - cpu0;
        unsafe {
            libc::close(pipe[0]);
            libc::close(pipe[1]);
        }
        (elapsed, cpu)
    });
    reader.join().unwrap();
    let bytes = rounds as f64 * size as f64;
    let gib = bytes / (1u64 << 30) as f64;
    let mib_s = bytes / (1 << 20) as f64 / result.0.as_secs_f64();
    (mib_s, result.1.as_secs_f64() / gib)
}

fn main() {
    // `cargo bench` passes --bench: measure. `cargo test --all-targets` runs this
    // binary without it: a smoke run that only checks every method still works.
    let args: Vec<String> = std::env::args().collect();
    let measuring = args.iter().any(|a| a == "--bench");
    let quick = args.iter().any(|a| a == "quick");
    let driver = if monoio::utils::detect_uring() {
        "io_uring"
    } else {
        "epoll"
    };
    println!("driver: {driver}");
    println!("| size | method | MiB/s | server CPU s/GiB |");
    println!("|---|---|---|---|");
    for (label, size) in [
        ("1 KiB", 1usize << 10),
        ("64 KiB", 64 << 10),
        ("1 MiB", 1 << 20),
        ("100 MiB", 100 << 20),
    ] {
        let total: u64 = match (measuring, quick) {
            (false, _) => 1 << 20,
            (true, true) => 64 << 20,
            (true, false) => 1 << 30,
        };
        let total = total.max(size as u64);
        for method in [Method::Sendfile, Method::Splice, Method::ReadWrite] {
            let (mib_s, cpu) = run(method, size, total);
            println!("| {label} | {method:?} | {mib_s:.0} | {cpu:.3} |");
        }
    }
}
