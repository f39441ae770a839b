//! Raw argon2id PIN verifications per second on this machine, the ceiling
//! for PIN-confirmed transfers: `cargo bench --bench pin [-- threads]`.

use mkoba::auth::PinHasher;
use mkoba::config::{Argon2Config, Secret};
use mkoba::domain::Pin;
use std::time::{Duration, Instant};

fn main() {
    let threads: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(2);
    let argon = Argon2Config::default();
    let hasher = PinHasher::new(&Secret::new("bench-pepper"), &argon, threads).expect("hasher");
    let pin = Pin::parse("1357", 4).expect("pin");
    let stored = hasher.hash(&pin).expect("hash");
    println!("argon2id m={} KiB t={} p={}", argon.memory_kib, argon.iterations, argon.parallelism);
    for n in 1..=threads {
        let run_for = Duration::from_secs(5);
        let started = Instant::now();
        let counts: Vec<u64> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|_| {
                    let (hasher, pin, stored) = (hasher.clone(), pin.clone(), stored.clone());
                    s.spawn(move || {
                        // One working buffer per thread, as mkoba's PIN threads keep.
                        let mut blocks = Vec::new();
                        let mut count = 0u64;
                        while started.elapsed() < run_for {
                            assert!(hasher.verify_in(&pin, Some(&stored), &mut blocks));
                            count += 1;
                        }
                        count
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        let total: u64 = counts.iter().sum();
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{n} thread(s): {total} verifies in {secs:.1} s = {:.1} verifies/s ({:.1} ms each)",
            total as f64 / secs,
            secs * 1000.0 * n as f64 / total as f64
        );
    }
}
