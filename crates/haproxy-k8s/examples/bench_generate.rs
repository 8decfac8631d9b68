//! Generator benchmark (not a test): time to parse, validate and render for growing node
//! counts, side by side in one run. Linear means the time per node stays flat.
//!
//!     cargo run --release -p haproxy-k8s --example bench_generate
//!
//! Results go into docs/benchmarks.md.

use std::time::{Duration, Instant};

fn option_set(nodes: usize) -> String {
    let nodes: Vec<String> = (0..nodes)
        .map(|i| {
            // Host part 1..=250 per /24, so every address is distinct and valid.
            format!(
                r#"{{"name": "cp-{i}", "address": "10.{}.{}.{}", "port": 6443}}"#,
                i / 250 / 256,
                (i / 250) % 256,
                i % 250 + 1
            )
        })
        .collect();
    format!(
        r#"{{"bindAddress": "192.168.8.1", "statsPort": 8404, "controlPlaneNodes": [{}]}}"#,
        nodes.join(",")
    )
}

/// Median of `runs` timings of one full generate().
fn median_time(json: &str, runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            let out = haproxy_k8s::generate(json, "services.haproxy-k8s").expect("valid input");
            std::hint::black_box(out);
            start.elapsed()
        })
        .collect();
    times.sort();
    times[runs / 2]
}

fn main() {
    let sizes = [3usize, 100, 10_000];
    println!("| nodes | input bytes | median generate | per node | per node vs 100 nodes |");
    println!("|---:|---:|---:|---:|---:|");
    let mut per_node_at_100 = None;
    for nodes in sizes {
        let json = option_set(nodes);
        let runs = if nodes >= 10_000 { 21 } else { 201 };
        // Warm-up, so the first size does not pay for page faults and lazy statics.
        median_time(&json, 3);
        let median = median_time(&json, runs);
        let per_node = median.as_secs_f64() / nodes as f64;
        if nodes == 100 {
            per_node_at_100 = Some(per_node);
        }
        let ratio = per_node_at_100
            .map(|base| format!("{:.2}×", per_node / base))
            .unwrap_or_else(|| "–".into());
        println!(
            "| {nodes} | {} | {:.3} ms | {:.2} µs | {ratio} |",
            json.len(),
            median.as_secs_f64() * 1e3,
            per_node * 1e6
        );
    }
}
