//! Integration tests of sluice-kds: the API answered in-process
//! (`api_tests`), and the HTTP server over loopback (`server_tests`).

mod api_tests;
mod server_tests;
