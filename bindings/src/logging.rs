//! Forwarding the SDK's `tracing` logs to the app (Logcat, `os_log`, …).
//!
//! Logs never contain secrets: the core logs ids and error messages, never keys, pairing codes,
//! push tokens or token contents.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Once, RwLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

use crate::error::AuthError;

/// Severity of a log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, uniffi::Enum)]
pub enum LogLevel {
    /// Very detailed.
    Trace,
    /// Diagnostics.
    Debug,
    /// Normal operation (pairing, answers).
    Info,
    /// Something went wrong but the SDK carries on (a reconnect, a skipped request).
    Warn,
    /// A failure.
    Error,
}

impl LogLevel {
    fn from_tracing(level: tracing::Level) -> Self {
        match level {
            tracing::Level::TRACE => Self::Trace,
            tracing::Level::DEBUG => Self::Debug,
            tracing::Level::INFO => Self::Info,
            tracing::Level::WARN => Self::Warn,
            _ => Self::Error,
        }
    }

    fn as_u8(self) -> u8 {
        self as u8
    }
}

/// Receives the SDK's log lines. Called on SDK threads: keep it quick and do not call back into
/// the SDK from it.
#[uniffi::export(foreign)]
pub trait Logger: Send + Sync {
    /// One log line: `target` is the Rust module (e.g. `tapprove_core::authenticator`),
    /// `message` the text with its fields (`… account_id=acc_…`).
    fn log(&self, level: LogLevel, target: String, message: String) -> Result<(), AuthError>;
}

/// No logger installed yet: the level is above every real level.
const OFF: u8 = u8::MAX;

static MIN_LEVEL: AtomicU8 = AtomicU8::new(OFF);
static LOGGER: RwLock<Option<Arc<dyn Logger>>> = RwLock::new(None);
static INSTALL: Once = Once::new();

/// Sends the SDK's logs at `level` and above to `logger`. Call once at app start; calling again
/// replaces the logger and level. Only logs of the Tapprove crates are forwarded.
#[uniffi::export]
pub fn init_logging(level: LogLevel, logger: Arc<dyn Logger>) {
    *LOGGER.write().unwrap_or_else(|p| p.into_inner()) = Some(logger);
    MIN_LEVEL.store(level.as_u8(), Ordering::Relaxed);
    INSTALL.call_once(|| {
        // If the host process already installed a global subscriber (a Rust app embedding this
        // crate), leave it alone: its own subscriber gets the events.
        let _ = tracing::subscriber::set_global_default(ForeignSubscriber);
    });
    tracing::debug!(?level, "logging to the app's logger");
}

/// The `tracing` subscriber forwarding events to [`LOGGER`]. Spans are not tracked (the SDK
/// logs self-contained events); a hand-written subscriber instead of `tracing-subscriber` keeps
/// the library small.
struct ForeignSubscriber;

fn is_ours(meta: &Metadata<'_>) -> bool {
    meta.target().starts_with("tapprove")
}

impl Subscriber for ForeignSubscriber {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        // The level can change at run time: ask every time for our crates.
        if is_ours(meta) {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        is_ours(meta)
            && LogLevel::from_tracing(*meta.level()).as_u8() >= MIN_LEVEL.load(Ordering::Relaxed)
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let logger = LOGGER.read().unwrap_or_else(|p| p.into_inner()).clone();
        let Some(logger) = logger else { return };
        let mut line = Line::default();
        event.record(&mut line);
        let meta = event.metadata();
        // A failing app logger has nowhere to report to; drop the line.
        let _ = logger.log(
            LogLevel::from_tracing(*meta.level()),
            meta.target().to_owned(),
            line.0.trim_start().to_owned(),
        );
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

/// `message key=value key=value`.
#[derive(Default)]
struct Line(String);

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.push_message(format_args!("{value}"));
        } else {
            self.push_field(field, format_args!("{value}"));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.push_message(format_args!("{value:?}"));
        } else {
            self.push_field(field, format_args!("{value:?}"));
        }
    }
}

impl Line {
    fn push_message(&mut self, m: std::fmt::Arguments<'_>) {
        let fields = std::mem::take(&mut self.0);
        let _ = write!(self.0, "{m}");
        self.0.push_str(&fields);
    }

    fn push_field(&mut self, field: &Field, v: std::fmt::Arguments<'_>) {
        let _ = write!(self.0, " {}={v}", field.name());
    }
}
