//! Integration tests: one binary, one module per behaviour.

mod browser;
mod casework;
mod cli;
mod conversation;
mod golden;
mod harness;
mod ingest;
mod local_run;
mod mail_servers;
mod mailbox;
mod outbox;
mod privacy;
mod privacy_servers;
mod report;
mod robustness;
mod timers;
mod web;
