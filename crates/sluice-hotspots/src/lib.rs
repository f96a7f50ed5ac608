//! KDA's `HOTSPOTS` for Sluice: finds dense regions ("hotspots") among the
//! most recent `windowSize` records and describes them, after every record,
//! as the JSON text of the `HOTSPOTS_RESULT` column. No SQL here: the
//! engine's table function operator feeds each cursor row's numeric columns
//! in, in stream order, and appends the returned text to the row.
//!
//! Entry point: [`Hotspots::new`] with a [`HotspotsConfig`] (the SQL call's
//! `windowSize`, `scanRadius`, `minimumNumberOfPointsInAHotspot`), then per
//! record [`Hotspots::push`] (or [`Hotspots::push_hotspots`] for the
//! [`Hotspot`] values, and [`hotspots_json`] to write them).
//!
//! ```
//! use sluice_hotspots::{Hotspots, HotspotsConfig};
//!
//! // HOTSPOTS(CURSOR(SELECT STREAM "x", "y" FROM ...), 100, 0.5, 3)
//! let mut hotspots = Hotspots::new(HotspotsConfig::new(100, 0.5, 3, 2))?;
//! assert_eq!(hotspots.push(&[0.0, 0.0])?, r#"{"hotspots":[]}"#);
//! hotspots.push(&[0.0, 0.5])?;
//! hotspots.push(&[10.0, 10.0])?;
//! // (0, 0.5) now has 3 records within 0.5, itself included: a hotspot of
//! // 3 records in a 0.5 × 0.5 box, so 3 / 0.25 = 12 per unit area.
//! assert_eq!(
//!     hotspots.push(&[0.5, 0.5])?,
//!     r#"{"hotspots":[{"density":12.0,"minValues":[0.0,0.0],"maxValues":[0.5,0.5]}]}"#
//! );
//! # Ok::<(), sluice_hotspots::HotspotsError>(())
//! ```
//!
//! # What the KDA references say
//!
//! From the SQL Reference page `HOTSPOTS` (sqlrf-hotspots) and the Developer
//! Guide's hotspots example (app-hotspots-*.md), in paraphrase:
//!
//! * A hotspot is a small region of the space of the numeric columns that
//!   is relatively dense with records. Only the cursor's numeric columns
//!   are analysed; others are ignored.
//! * `windowSize`: how many records the sliding window over the stream
//!   considers at each step; **100 to 1,000 inclusive**. Larger windows
//!   estimate position and density better but run slower.
//! * `scanRadius`: the typical distance between a hotspot record and its
//!   nearest neighbours, **like ε in DBSCAN**; **any double greater than
//!   zero**. Smaller values give smaller, more numerous hotspots.
//! * `minimumNumberOfPointsInAHotspot`: the number of records needed to
//!   form a hotspot; **2 to `windowSize` inclusive**.
//! * No parameter has a default.
//! * The output has the input's columns plus one VARCHAR column, a JSON
//!   text describing every hotspot found around the record; all potential
//!   hotspots are returned and applications filter on `density`. Per
//!   hotspot: `density`, the records in the hotspot divided by the
//!   hotspot's size; `minValues` and `maxValues`, per data column, the
//!   smallest and largest value among the hotspot's records. (The section
//!   heading says `HOTSPOT_RESULTS`; every example names the column
//!   `HOTSPOTS_RESULT`.)
//! * The Developer Guide's viewer parses the column, reads its `hotspots`
//!   array and each entry's `density`, `minValues[i]` and `maxValues[i]`,
//!   keeps those with `density >= 40`, and draws the last row's hotspots as
//!   the current ones. Its data: x, y uniform in [0, 10], one record in five
//!   from a 1 × 1 square; `HOTSPOTS(..., 1000, 0.2, 17)`.
//!
//! The references show the output only as screenshots, so the text's exact
//! number formatting and field order could not be checked against KDA.
//!
//! # The algorithm (choices where the references are silent)
//!
//! * **DBSCAN over the window**, as the `scanRadius` ≈ ε analogy suggests:
//!   records are points of the numeric columns; two are neighbours when
//!   their Euclidean distance is at most `scanRadius`; a record with at
//!   least `minimumNumberOfPointsInAHotspot` neighbours (itself included)
//!   is a core record; a hotspot is a maximal set of core records linked
//!   through neighbours, plus the non-core records next to them (border
//!   records). Records in no hotspot are noise.
//! * **Per row, after taking it in.** Each record enters the window (the
//!   oldest leaving once there are `windowSize`), then the window is
//!   clustered and every hotspot is reported on that record's row. There is
//!   no warm-up: before `windowSize` records the window is simply shorter.
//! * **`density`** is the hotspot's record count divided by the volume of
//!   its bounding box (the `minValues`–`maxValues` box), in the columns' own
//!   units, with each side taken as at least `scanRadius` so that a flat or
//!   single-valued hotspot has a finite size. Not normalised by the
//!   window's overall density: the reference defines it as count over size,
//!   and the Developer Guide's fixed filter of 40 fits raw records per unit
//!   area there (its 1 × 1 hotspot holds about 200 of 1,000 records, about
//!   200 per unit area, over a background of 8; relative to the window's
//!   average of 10 it would be about 20, and the filter would drop it).
//!   Capped at `f64::MAX`.
//! * **Order**: densest first; equal densities in the order their oldest
//!   core record entered the window. A border record next to two hotspots
//!   goes to the one found first (DBSCAN's usual rule, deterministic here).
//! * **JSON**: `{"hotspots":[{"density":…,"minValues":[…],"maxValues":[…]}]}`,
//!   compact, `density` first, then `minValues`, `maxValues` (the order the
//!   viewer uses them in; the SQL Reference's list is alphabetical),
//!   `{"hotspots":[]}` when there is none. Numbers as `serde_json` writes
//!   `f64`s (see [`hotspots_json`]).
//! * **Bad input**: a NaN or infinite value, or the wrong number of
//!   columns, is an error and leaves the window unchanged.
//! * No randomness: the same records give the same output.
//!
//! # Cost and memory
//!
//! Each record's neighbours are kept as a list, updated as records enter
//! and leave. A new record finds its neighbours through a grid of cell side
//! `scanRadius` over its first three columns (see the `grid` module: only
//! the 3^min(d,3) cells around its own are searched); a leaving record is
//! unlinked from its neighbours' lists (lists are kept oldest first, so
//! it is at the front of each). Clustering then walks only the lists of
//! core records, and stops once every record is placed. So a record costs
//! about the number of records near it plus the neighbour links inside
//! hotspots: next to nothing for plain noise, over a hundred thousand
//! records per second in the Developer Guide's setting, tens of thousands
//! when every record neighbours every other (`examples/hotspots-bench.rs`).
//! The bound is O(windowSize²) per record, reached only when most records
//! have most others within `scanRadius` yet are not all in one hotspot.
//!
//! Memory is fixed by `windowSize` (w) and the column count (d), whatever
//! the stream's length: the ring of `w × d` f64; per record a cell key, two
//! list links, a scratch slot and its neighbour list (4 bytes a link); at
//! most `w` grid cells. About 100 KB plus the links for w = 1,000, d = 2;
//! the links are at most `w × (w − 1)`, 4 MB, when every record neighbours
//! every other.

mod config;
mod detector;
mod error;
mod grid;
mod json;

pub use config::{
    DIMENSIONS_RANGE, HotspotsConfig, MINIMUM_NUMBER_OF_POINTS_MIN, WINDOW_SIZE_RANGE,
};
pub use detector::{Hotspot, Hotspots};
pub use error::{HotspotsError, Result};
pub use json::hotspots_json;
