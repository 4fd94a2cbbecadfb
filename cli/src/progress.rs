//! Progress on stderr for long waits: a spinner when stderr is a terminal, nothing otherwise.

use std::io::{IsTerminal, Write};
use std::time::Duration;

/// A running spinner; stopped (and its line cleared) when dropped.
pub struct Spinner {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Spinner {
    /// Starts a spinner with `message` on stderr, if stderr is a terminal.
    pub fn start(message: &str) -> Self {
        if !std::io::stderr().is_terminal() {
            return Self { task: None };
        }
        let message = message.to_owned();
        let task = tokio::spawn(async move {
            const FRAMES: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            for i in 0usize.. {
                tick.tick().await;
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r{} {message}", FRAMES[i % FRAMES.len()]);
                let _ = err.flush();
            }
        });
        Self { task: Some(task) }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[2K");
            let _ = err.flush();
        }
    }
}

/// Runs `fut` with a spinner showing `message` while it is pending.
pub async fn with_spinner<T>(message: &str, fut: impl std::future::Future<Output = T>) -> T {
    let _spinner = Spinner::start(message);
    fut.await
}
