//! What tests and benchmarks generate instead of a real host: recordings written through the
//! store's own writer ([`fixture`]) and a synthetic day of host samples ([`synthetic`]). A dev
//! dependency only: nothing sysmon ships depends on it.

// A generator for tests and benchmarks: a failure may abort it, and the xorshift generator's
// `next` is not an iterator.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::should_implement_trait
)]

pub mod fixture;
pub mod synthetic;
