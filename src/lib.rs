//! Regional Mailbox runs a regional support mailbox for displaced international care
//! workers in England: it reads each email, collects consent, extracts the worker's facts,
//! routes them to their council or home region, and hands exceptions to staff.
//!
//! # Layout
//! - [`domain`]: the vocabulary (email addresses, postcodes, phones, kinds, routes).
//! - [`pipeline`]: the pure message brain, one email in, facts and a route out:
//!   `parse → quote → context → classify → extract → triage`.
//! - [`rules`] and [`gazetteer`]: the data staff can change (`rules/`), validated at load.
//! - [`config`], [`telemetry`], [`cli`]: the edges of the program.
//!
//! ```text
//! .eml / IMAP ──► pipeline::triage ──► Triage { kind, facts, readiness, route, reasons }
//!                      ▲
//!               rules/ + gazetteer
//! ```

pub mod alerts;
pub mod app;
pub mod casework;
pub mod cli;
pub mod config;
pub mod conversation;
pub mod daemon;
pub mod domain;
pub mod fetcher;
pub mod gazetteer;
pub mod http;
pub mod imap;
pub mod ingest;
pub mod maildir;
pub mod oauth;
pub mod outbox;
pub mod outgoing;
pub mod pipeline;
pub mod privacy;
pub mod replies;
pub mod report;
pub mod rules;
pub mod scheduler;
pub mod smtp;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod web;
