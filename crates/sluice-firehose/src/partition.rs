//! Dynamic partitioning: [`PartitionQuery`] runs a `MetadataExtractionQuery`
//! (jq syntax, through the `jaq` crates) over each JSON record and turns the
//! resulting object into the record's partition keys, which fill
//! `!{partitionKeyFromQuery:key}` in the prefix.

use std::collections::BTreeMap;

use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Vars, data, unwrap_valr};
use jaq_json::Val;
use serde_json::Value;

use crate::error::{FirehoseError, Result};

/// Most active partitions per stream (AWS's default quota).
pub const MAX_ACTIVE_PARTITIONS: usize = 500;

/// A compiled-checked metadata extraction query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionQuery {
    query: String,
}

type Filter = jaq_core::compile::Filter<jaq_core::Native<data::JustLut<Val>>>;

fn compile(query: &str) -> std::result::Result<Filter, String> {
    let defs = jaq_core::defs()
        .chain(jaq_std::defs())
        .chain(jaq_json::defs());
    let funs = jaq_core::funs()
        .chain(jaq_std::funs())
        .chain(jaq_json::funs());
    let loader = Loader::new(defs);
    let arena = Arena::default();
    let modules = loader
        .load(
            &arena,
            File {
                code: query,
                path: (),
            },
        )
        .map_err(|e| format!("cannot parse query: {e:?}"))?;
    Compiler::default()
        .with_funs(funs)
        .compile(modules)
        .map_err(|e| format!("cannot compile query: {e:?}"))
}

impl PartitionQuery {
    /// Checks that `query` parses and compiles.
    pub fn new(query: &str) -> Result<Self> {
        compile(query).map_err(|reason| {
            FirehoseError::invalid(
                "MetadataExtractionQuery",
                format!("Invalid MetadataExtractionQuery {query:?}: {reason}"),
            )
        })?;
        Ok(Self {
            query: query.to_owned(),
        })
    }

    /// The query text.
    pub fn as_str(&self) -> &str {
        &self.query
    }

    /// Partition keys for each record, or why a record has none.
    pub fn evaluate(
        &self,
        records: &[bytes::Bytes],
    ) -> Vec<std::result::Result<BTreeMap<String, String>, String>> {
        let filter = match compile(&self.query) {
            Ok(f) => f,
            Err(e) => return records.iter().map(|_| Err(e.clone())).collect(),
        };
        records
            .iter()
            .map(|data| {
                let input = jaq_json::read::parse_single(data)
                    .map_err(|e| format!("Non JSON record provided: {e}"))?;
                let ctx = Ctx::<data::JustLut<Val>>::new(&filter.lut, Vars::new([]));
                let mut out = filter.id.run((ctx, input)).map(unwrap_valr);
                let first = match out.next() {
                    Some(Ok(v)) => v,
                    Some(Err(e)) => return Err(format!("query failed: {e}")),
                    None => return Err("query produced no output".to_owned()),
                };
                let v: Value = serde_json::from_str(&first.to_string())
                    .map_err(|e| format!("query output is not JSON: {e}"))?;
                let Value::Object(map) = v else {
                    return Err(format!("query output {v} is not an object"));
                };
                let mut keys = BTreeMap::new();
                for (k, v) in map {
                    let s = match v {
                        Value::String(s) => s,
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Null => {
                            return Err(format!("partition key '{k}' is null or missing"));
                        }
                        other => {
                            return Err(format!("partition key '{k}' is not a scalar: {other}"));
                        }
                    };
                    keys.insert(k, s);
                }
                Ok(keys)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn extracts_keys() {
        let q = PartitionQuery::new("{customer:.customer_id, n:.n}").unwrap();
        let out = q.evaluate(&[
            Bytes::from_static(br#"{"customer_id":"c1","n":3}"#),
            Bytes::from_static(br#"{"n":3}"#),
            Bytes::from_static(b"not json"),
        ]);
        assert_eq!(
            out[0].as_ref().unwrap(),
            &BTreeMap::from([
                ("customer".to_owned(), "c1".to_owned()),
                ("n".to_owned(), "3".to_owned())
            ])
        );
        assert!(
            out[1].as_ref().unwrap_err().contains("null"),
            "{:?}",
            out[1]
        );
        assert!(out[2].is_err());
    }

    #[test]
    fn strftime_works() {
        let q = PartitionQuery::new(r#"{year:.ts|strftime("%Y")}"#).unwrap();
        let out = q.evaluate(&[Bytes::from_static(br#"{"ts":1700000000}"#)]);
        assert_eq!(out[0].as_ref().unwrap()["year"], "2023");
    }

    #[test]
    fn bad_query_is_rejected() {
        assert!(PartitionQuery::new("{a:").is_err());
    }
}
