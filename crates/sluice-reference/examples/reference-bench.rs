//! Reference-table load benchmark (the crate's share of issue 6's "a 1M-row
//! reference table loads in under 2 s"; the engine's KDA decoder is measured
//! by `sluice bench` once wired):
//! `cargo run --release -p sluice-reference --example reference-bench -- [ROWS]`.
//!
//! Writes a CSV object of ROWS rows (default 1,000,000) to a temporary
//! directory and prints, each as the best of three:
//! - the load with a decoder that only counts rows (fetch + hash: this
//!   crate's own cost);
//! - the load with a simple CSV → Arrow decoder (three VARCHAR columns);
//! - a reload through `refresh` after the object changed.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{RecordBatch, StringBuilder};
use sluice_reference::{Decode, ObjectLocation, ReferenceOptions, ReferenceTable, Refresh};

fn write_object(path: &Path, rows: usize, salt: &str) -> std::io::Result<u64> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    for i in 0..rows {
        writeln!(w, "T{i:07},Company number {i}{salt},SECTOR{}", i % 17)?;
    }
    w.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

fn count_rows() -> Decode<usize> {
    Arc::new(|bytes: &[u8]| Ok(bytes.iter().filter(|&&b| b == b'\n').count()))
}

fn csv_to_arrow() -> Decode {
    Arc::new(|bytes: &[u8]| {
        let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
        let mut cols = [
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
        ];
        for (n, line) in text.lines().enumerate() {
            let mut fields = line.split(',');
            for col in &mut cols {
                let field = fields
                    .next()
                    .ok_or_else(|| format!("line {}: fewer than 3 columns", n + 1))?;
                col.append_value(field);
            }
        }
        let [a, b, c] = cols.map(|mut c| Arc::new(c.finish()) as _);
        RecordBatch::try_from_iter([("TICKER", a), ("COMPANY", b), ("SECTOR", c)])
            .map_err(|e| e.to_string())
    })
}

type BoxResult<T> = Result<T, Box<dyn std::error::Error>>;

#[tokio::main]
async fn main() -> BoxResult<()> {
    let rows: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("companies.csv");
    let size = write_object(&file, rows, "")?;
    let location = ObjectLocation::parse("companies.csv", dir.path())?;
    let options = ReferenceOptions {
        check_interval: None,
        ..ReferenceOptions::default()
    };
    println!("reference object: {rows} rows, {:.1} MB", size as f64 / 1e6);

    let mut fetch = Duration::MAX;
    let mut arrow = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let table = ReferenceTable::load(location.clone(), count_rows(), options.clone()).await?;
        fetch = fetch.min(t.elapsed());
        assert_eq!(table.current().data, rows);

        let t = Instant::now();
        let table = ReferenceTable::load(location.clone(), csv_to_arrow(), options.clone()).await?;
        arrow = arrow.min(t.elapsed());
        assert_eq!(table.current().data.num_rows(), rows);
    }
    println!(
        "load, fetch + hash only:  {:>8.1} ms ({:.0} MB/s)",
        fetch.as_secs_f64() * 1e3,
        size as f64 / 1e6 / fetch.as_secs_f64()
    );
    println!(
        "load, CSV -> Arrow batch: {:>8.1} ms ({:.2} M rows/s)",
        arrow.as_secs_f64() * 1e3,
        rows as f64 / 1e6 / arrow.as_secs_f64()
    );

    let table = ReferenceTable::load(location.clone(), csv_to_arrow(), options.clone()).await?;
    let mut reload = Duration::MAX;
    for salt in 1..=3 {
        write_object(&file, rows, &format!("-{salt}"))?;
        let t = Instant::now();
        let refreshed = table.refresh().await?;
        reload = reload.min(t.elapsed());
        match refreshed {
            Refresh::Reloaded(s) => assert_eq!(s.data.num_rows(), rows),
            Refresh::Unchanged => return Err("the change was not seen".into()),
        }
    }
    let t = Instant::now();
    let unchanged = table.refresh().await?;
    let check = t.elapsed();
    assert!(matches!(unchanged, Refresh::Unchanged));
    println!(
        "reload after a change:    {:>8.1} ms (HEAD + GET + hash + CSV -> Arrow + swap)",
        reload.as_secs_f64() * 1e3
    );
    println!(
        "check, unchanged:         {:>8.3} ms (HEAD only)",
        check.as_secs_f64() * 1e3
    );
    Ok(())
}
