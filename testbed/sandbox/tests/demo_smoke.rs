//! The demo end to end (about 12 s in debug): every invariant must hold.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use azp_sandbox::demo::{DemoArgs, run};
use azp_sandbox::invariants::Verdict;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_ends_with_every_invariant_held() {
    let verdict = run(DemoArgs::default()).await.unwrap();
    assert_eq!(verdict, Verdict::Passed);
}
