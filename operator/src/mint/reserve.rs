//! A small reserve of agent keys generated ahead of need.
//!
//! An RSA-2048 key takes tens of milliseconds of CPU (about 60 ms on the 2-core benchmark
//! machine), and a minted registration needs one before Azure DevOps is called: without a
//! reserve, every pod of a burst waits for its key. The reserve is filled in the background once
//! an operator-minted AgentPool is seen ([`KeyReserve::warm`]) and topped up after every key
//! taken, one blocking task at a time; when it is empty a key is generated on the spot, so a
//! burst larger than the reserve is no slower than without one. An operator without minted
//! AgentPools never generates a key. Keys live only in memory and are used once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tracing::debug;

use super::key::{AgentKey, KeyError};

/// Keys generated ahead of need; shared by every pass of the controller.
#[derive(Debug)]
pub struct KeyReserve {
    capacity: usize,
    keys: Mutex<Vec<AgentKey>>,
    refilling: AtomicBool,
}

impl KeyReserve {
    /// A reserve that holds up to `capacity` keys (0: none; every key is generated on the spot).
    pub fn new(capacity: usize) -> Arc<Self> {
        Arc::new(Self {
            capacity,
            keys: Mutex::new(Vec::with_capacity(capacity)),
            refilling: AtomicBool::new(false),
        })
    }

    /// Keys ready now.
    pub fn ready(&self) -> usize {
        self.lock().len()
    }

    /// A key: from the reserve when it holds one, else generated now (off the async workers).
    /// Either way the reserve is topped up in the background.
    pub async fn take(self: &Arc<Self>) -> Result<AgentKey, KeyError> {
        let reserved = self.lock().pop();
        self.warm();
        match reserved {
            Some(key) => Ok(key),
            None => tokio::task::spawn_blocking(AgentKey::generate)
                .await
                .map_err(|_| KeyError::Generate)?,
        }
    }

    /// Starts filling the reserve unless it is full or already being filled.
    pub fn warm(self: &Arc<Self>) {
        if self.capacity == 0 || self.ready() >= self.capacity {
            return;
        }
        if self.refilling.swap(true, Ordering::AcqRel) {
            return;
        }
        let reserve = Arc::clone(self);
        tokio::task::spawn_blocking(move || reserve.fill());
    }

    /// Generates keys until the reserve is full (runs on a blocking thread).
    fn fill(&self) {
        while self.ready() < self.capacity {
            match AgentKey::generate() {
                Ok(key) => self.lock().push(key),
                Err(error) => {
                    // `take` generates on the spot and reports the error where it matters.
                    debug!(%error, "agent key reserve not refilled");
                    break;
                }
            }
        }
        self.refilling.store(false, Ordering::Release);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<AgentKey>> {
        // A panic while pushing or popping leaves a valid Vec: keep using it.
        self.keys.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    async fn until_ready(reserve: &KeyReserve, n: usize) {
        for _ in 0..500 {
            if reserve.ready() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("reserve holds {} keys, wanted {n}", reserve.ready());
    }

    #[tokio::test]
    async fn warming_fills_the_reserve_and_a_taken_key_is_replaced() {
        let reserve = KeyReserve::new(3);
        assert_eq!(
            reserve.ready(),
            0,
            "nothing is generated before it is asked for"
        );
        reserve.warm();
        until_ready(&reserve, 3).await;
        let first = reserve.take().await.unwrap();
        until_ready(&reserve, 3).await;
        let second = reserve.take().await.unwrap();
        assert_ne!(first.modulus, second.modulus, "every key is used once");
        until_ready(&reserve, 3).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(reserve.ready(), 3, "never more than its capacity");
    }

    #[tokio::test]
    async fn an_empty_or_disabled_reserve_still_hands_out_distinct_keys() {
        let reserve = KeyReserve::new(0);
        let a = reserve.take().await.unwrap();
        let b = reserve.take().await.unwrap();
        assert_ne!(a.modulus, b.modulus);
        assert_eq!(reserve.ready(), 0, "capacity 0 keeps nothing");
    }
}
