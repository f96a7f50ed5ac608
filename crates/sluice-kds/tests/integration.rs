//! Integration tests of sluice-kds: the API answered in-process
//! (`api_tests`), the HTTP server over loopback (`server_tests`), and the
//! stream reader through the remote client against that server (`reader_tests`),
//! and SubscribeToShard's event stream (`subscribe_tests`).

// Test helpers outside #[test] functions panic on failure by design.
#![allow(clippy::unwrap_used)]

mod api_tests;
mod put_tests;
mod reader_commit_tests;
mod reader_tests;
mod server_tests;
mod subscribe_tests;
