//! Logging to stderr with tracing. Logs carry case references and message ids, never
//! names, addresses, phone numbers or message text.

use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};

/// The protocol crates write whole emails (headers, bodies, addresses) at debug: they
/// stay at info whatever level is asked for.
const CONTENT_LOGGERS: [&str; 3] = ["lettre=info", "async_imap=info", "imap_proto=info"];

pub fn init(config: &Config) {
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    for directive in CONTENT_LOGGERS {
        filter = filter.add_directive(directive.parse().expect("a valid directive"));
    }
    // Colours only for a person at a terminal, never in a log file or journal.
    let colours = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours)
        .with_writer(std::io::stderr);
    // A second init (tests, embedded use) keeps the first subscriber.
    let _ = match config.log.format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
