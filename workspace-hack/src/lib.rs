//! Pins one feature set for every third-party dependency of the workspace, so that each cargo
//! invocation, whatever packages it names, compiles each dependency once per profile. Managed by
//! `cargo hakari` (see `.config/hakari.toml`); this crate has no code.
