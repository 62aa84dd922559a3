//! Structured logs on stderr (stdout is reserved for the CLI's JSON), as text or JSON lines.

use std::io::{BufWriter, IsTerminal};

use clap::ValueEnum;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// `RUST_LOG` overrides `default_level`. Lines go through a queue that a dedicated thread
/// writes out, so request handlers never wait on a write to stderr; when the queue is full,
/// handlers wait rather than drop a line (audit lines must not be lost). Keep the guard alive
/// until the process ends: dropping it flushes what is buffered.
pub fn init(format: LogFormat, default_level: &str) -> WorkerGuard {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    // The writer thread drains every queued line into the buffer and flushes once the queue
    // is empty (and at exit): one write to stderr per burst instead of one per line.
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        // The channel to the writer thread is allocated whole at start (the default, 128 000
        // lines, is about 4 MiB); a burst beyond this many lines waits for the writer.
        .buffered_lines_limit(8192)
        .finish(BufWriter::with_capacity(64 * 1024, std::io::stderr()));
    // Colour codes only for a person at a terminal: in a file or a log collector they are
    // noise, and writing them costs every line.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(writer);
    // A second initialisation (tests) keeps the first subscriber; nothing to report.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    guard
}

pub use ostiary_core::error_chain;
