//! Where a request's audit rows come from: its id and source IP, kept in a task-local for the
//! request. The HTTP layer sets it (`http::origin`); `record` reads it, so no domain function
//! has to carry them.

use std::future::Future;

/// The request a piece of work belongs to.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub request_id: String,
    pub source_ip: Option<String>,
}

tokio::task_local! {
    static ORIGIN: Origin;
}

pub(super) fn current_origin() -> Option<Origin> {
    ORIGIN.try_with(Origin::clone).ok()
}

/// Runs `work` with `origin` as the origin of every audit row it records.
pub(crate) async fn scope<F: Future>(origin: Origin, work: F) -> F::Output {
    ORIGIN.scope(origin, work).await
}
