//! Matches 1M Apache common-log lines with FAST_REGEX_LOG_PARSE patterns
//! on one core and prints lines/s: a seven-column pattern and the simple
//! two-column `(.*) (.*)`-style split. Run with
//! `cargo run --release -p sluice-fastregex --example frlp-bench`.

use std::time::Instant;

use sluice_fastregex::FastRegex;

fn main() -> Result<(), sluice_fastregex::FastRegexError> {
    let lines: Vec<String> = (0..1_000_000u64)
        .map(|i| {
            format!(
                r#"10.0.{}.{} - user{} [10/Oct/2000:13:{:02}:{:02} -0700] "GET /page/{}.html HTTP/1.0" {} {}"#,
                i % 250,
                (i / 250) % 250,
                i % 97,
                (i / 60) % 60,
                i % 60,
                i % 1000,
                [200, 404, 500][(i % 3) as usize],
                i % 5000
            )
        })
        .collect();
    let bytes: usize = lines.iter().map(String::len).sum();
    for pattern in [
        r#"([^ ]*) ([^ ]*) ([^ ]*) \[([^\]]*)\] \"([^\"]*)\" ([0-9]*) ([0-9]*)"#,
        r#"(.*) - (.*)"#,
    ] {
        let re = FastRegex::new(pattern)?;
        let mut cache = re.create_cache();
        let mut spans = Vec::new();
        let (mut matched, mut checksum) = (0usize, 0usize);
        let start = Instant::now();
        for line in &lines {
            if re.captures(&mut cache, line, &mut spans)? {
                matched += 1;
                checksum += spans.iter().map(|s| s.len()).sum::<usize>();
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{pattern}\n  {} lines ({:.1} MB), {matched} matched, {:.0} lines/s, {:.0} MB/s (checksum {checksum})",
            lines.len(),
            bytes as f64 / 1e6,
            lines.len() as f64 / secs,
            bytes as f64 / 1e6 / secs
        );
    }
    Ok(())
}
