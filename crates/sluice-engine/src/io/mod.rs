//! Records in and rows out: decoding source records by their
//! [`InputSchema`](input::InputSchema) into Arrow batches ([`input`]), and
//! encoding output rows as JSON or CSV ([`output`]); inferring an
//! InputSchema from sample records, as KDA's DiscoverInputSchema does
//! ([`discover`]).

pub mod discover;
pub mod input;
mod json_flat;
pub mod output;
