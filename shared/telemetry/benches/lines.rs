//! The metric lines of one warm `POST /callback`: the request line (`Requests`, `Latency`) and the
//! sign-in line (`SignIns`), built and written through the process's sink: one that only counts
//! the bytes (building the lines), and one that writes each line to `/dev/null` with one `write`
//! as the stdout sink does (building and the system call). In Lambda stdout is a pipe to the log
//! collector; that is in the end-to-end figures of infra/coldstart.

use std::hint::black_box;
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use telemetry::metrics::{self, SignInOutcome};

static BYTES: AtomicU64 = AtomicU64::new(0);
static TO_DEV_NULL: AtomicBool = AtomicBool::new(false);

fn lines(c: &mut Criterion) {
    let dev_null = Mutex::new(std::fs::File::create("/dev/null").expect("/dev/null"));
    telemetry::sink::install(Box::new(move |line: &str| {
        if TO_DEV_NULL.load(Ordering::Relaxed) {
            let mut buf = Vec::with_capacity(line.len() + 1);
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
            let _ = dev_null.lock().unwrap().write_all(&buf);
        } else {
            BYTES.fetch_add(line.len() as u64, Ordering::Relaxed);
        }
    }));
    let request_id = "8f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
    c.bench_function("request_line", |b| {
        b.iter(|| {
            metrics::http_request(
                black_box("POST /callback"),
                black_box(303),
                black_box(Duration::from_micros(1234)),
                black_box(request_id),
            )
        })
    });
    let callback_lines = |b: &mut criterion::Bencher| {
        b.iter(|| {
            metrics::http_request(
                black_box("POST /callback"),
                black_box(303),
                black_box(Duration::from_micros(1234)),
                black_box(request_id),
            );
            metrics::sign_in(
                SignInOutcome::SignedIn,
                black_box("signed_in"),
                Some(black_box("Cust12345")),
                Some("sign_in"),
                black_box(request_id),
            );
        })
    };
    c.bench_function("callback_lines", callback_lines);
    TO_DEV_NULL.store(true, Ordering::Relaxed);
    c.bench_function("callback_lines_written_to_dev_null", callback_lines);
    black_box(BYTES.load(Ordering::Relaxed));
}

criterion_group!(benches, lines);
criterion_main!(benches);
