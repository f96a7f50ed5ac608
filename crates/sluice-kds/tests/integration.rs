//! Integration tests of sluice-kds: the API answered in-process
//! (`api_tests`), and the HTTP server over loopback (`server_tests`).

// Test helpers outside #[test] functions panic on failure by design.
#![allow(clippy::unwrap_used)]

mod api_tests;
mod reader_commit_tests;
mod server_tests;
