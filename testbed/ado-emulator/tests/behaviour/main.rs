//! Behaviour tests of the emulator over HTTP, as a client (or the stand-in) would see it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod auth;
mod common;
mod faults;
mod hooks;
mod jobs;
mod routing;
mod sessions;
