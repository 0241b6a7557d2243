//! Cross-service tests, all in one test binary: the whole platform is linked
//! once rather than once per file, which keeps a fresh build's time and disk
//! use within what CI has. Each module is one capability; run one with
//! `cargo test -p concord --test cross <module>::`.

mod common;

mod actions;
mod alerts;
mod analytics;
mod audit;
mod briefing;
mod cohorts;
mod consent;
mod deploy;
mod directory;
mod external_client;
mod faults;
mod lifecycle;
mod metrics;
mod nats;
mod nats_security;
mod oidc;
mod platform;
mod processes;
mod publish;
mod replay;
mod structure;
mod traces;
mod unreadable;
mod vault_nats;
mod visibility;
mod web;
mod web_analysis;
mod web_audit;
mod web_briefing;
mod web_oidc;
mod web_publish;
