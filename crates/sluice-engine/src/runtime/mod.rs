//! The runtime: an [`Application`](app::Application) routes batches between
//! in-application streams through their pumps' operators, advances time,
//! and sends failed rows to `error_stream`.

pub mod app;
