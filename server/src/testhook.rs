//! Test-only pause points, so a fault test can kill the service at one exact step
//! (tests/e2e/faults.rs). Debug builds only: a release build has no pause points and ignores
//! the variable.

/// The environment variable naming the point to pause at.
#[cfg(debug_assertions)]
const PAUSE_VAR: &str = "TAPPROVE_TEST_PAUSE_AT";

/// In a debug build with `TAPPROVE_TEST_PAUSE_AT=<point>`: prints `tapprove: test pause at
/// <point>` on stderr and never returns (the test kills the process there).
pub(crate) async fn pause(point: &str) {
    #[cfg(debug_assertions)]
    if std::env::var(PAUSE_VAR).is_ok_and(|v| v == point) {
        eprintln!("tapprove: test pause at {point}");
        std::future::pending::<()>().await;
    }
    #[cfg(not(debug_assertions))]
    let _ = point;
}
