//! Object storage with one global, monotonically increasing resourceVersion and a bounded
//! event history that watches replay from.
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;
use tokio::sync::broadcast;

/// Identifies a stored object; version-independent, like etcd keys of the real server.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    /// API group (empty for core).
    pub group: String,
    /// Plural resource name.
    pub resource: String,
    /// Namespace (empty for cluster-scoped).
    pub namespace: String,
    /// Object name.
    pub name: String,
}

/// Kind of change, as in the watch protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
}

impl EventKind {
    /// The watch-protocol name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Added => "ADDED",
            EventKind::Modified => "MODIFIED",
            EventKind::Deleted => "DELETED",
        }
    }
}

/// One change, kept in the history and broadcast to watches.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    /// resourceVersion of this change.
    pub rv: u64,
    /// What happened.
    pub kind: EventKind,
    /// Which object.
    pub key: ObjectKey,
    /// The object after the change (for DELETED: the last state, with the deletion's resourceVersion).
    pub object: Value,
    /// The object before the change, so filtered watches can turn "stopped matching" into DELETED.
    pub previous: Option<Value>,
}

/// The mutable state; only reachable while holding the store lock.
#[derive(Debug)]
pub struct StoreState {
    rv: u64,
    objects: BTreeMap<ObjectKey, Value>,
    history: VecDeque<Arc<StoredEvent>>,
    history_cap: usize,
    /// Every event with rv > compacted_rv is still in `history`.
    compacted_rv: u64,
    tx: broadcast::Sender<Arc<StoredEvent>>,
}

/// Thread-safe storage shared by all handlers.
#[derive(Debug)]
pub struct Store {
    state: Mutex<StoreState>,
}

impl Store {
    /// An empty store keeping `history_cap` events.
    pub fn new(history_cap: usize) -> Self {
        let (tx, _) = broadcast::channel(4096);
        Self {
            state: Mutex::new(StoreState {
                rv: 1,
                objects: BTreeMap::new(),
                history: VecDeque::new(),
                history_cap: history_cap.max(1),
                compacted_rv: 0,
                tx,
            }),
        }
    }

    /// Locks the store; every read-modify-write happens under this one lock.
    pub fn lock(&self) -> MutexGuard<'_, StoreState> {
        // A panic while holding the lock leaves consistent data (mutations are applied last), so recover.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Where a watch starts: replayed history plus a live receiver.
pub struct WatchStart {
    /// Events after the requested resourceVersion, oldest first.
    pub backlog: Vec<Arc<StoredEvent>>,
    /// Live events.
    pub live: broadcast::Receiver<Arc<StoredEvent>>,
}

impl StoreState {
    /// The current (latest) resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.rv
    }

    /// Oldest resourceVersion a watch may resume from.
    pub fn compacted_rv(&self) -> u64 {
        self.compacted_rv
    }

    /// Reads an object.
    pub fn get(&self, key: &ObjectKey) -> Option<&Value> {
        self.objects.get(key)
    }

    /// All objects of one resource (optionally one namespace), ordered by namespace then name.
    pub fn list(
        &self,
        group: &str,
        resource: &str,
        namespace: Option<&str>,
    ) -> Vec<(&ObjectKey, &Value)> {
        self.objects
            .iter()
            .filter(|(k, _)| {
                k.group == group
                    && k.resource == resource
                    && namespace.is_none_or(|ns| k.namespace == ns)
            })
            .collect()
    }

    /// Every stored object (for the garbage collector).
    pub fn all(&self) -> impl Iterator<Item = (&ObjectKey, &Value)> {
        self.objects.iter()
    }

    /// Writes an object, assigning the next resourceVersion; returns the stored object.
    pub fn put(&mut self, key: ObjectKey, mut object: Value) -> Value {
        self.rv += 1;
        set_rv(&mut object, self.rv);
        let previous = self.objects.insert(key.clone(), object.clone());
        let kind = if previous.is_some() {
            EventKind::Modified
        } else {
            EventKind::Added
        };
        self.record(kind, key, object.clone(), previous);
        object
    }

    /// Removes an object, assigning the next resourceVersion to its last state.
    pub fn remove(&mut self, key: &ObjectKey) -> Option<Value> {
        let mut object = self.objects.remove(key)?;
        let previous = object.clone();
        self.rv += 1;
        set_rv(&mut object, self.rv);
        self.record(
            EventKind::Deleted,
            key.clone(),
            object.clone(),
            Some(previous),
        );
        Some(object)
    }

    fn record(&mut self, kind: EventKind, key: ObjectKey, object: Value, previous: Option<Value>) {
        let event = Arc::new(StoredEvent {
            rv: self.rv,
            kind,
            key,
            object,
            previous,
        });
        self.history.push_back(event.clone());
        while self.history.len() > self.history_cap {
            if let Some(dropped) = self.history.pop_front() {
                self.compacted_rv = dropped.rv;
            }
        }
        // No receivers is fine: nobody is watching.
        let _ = self.tx.send(event);
    }

    /// Drops every retained event and moves the resourceVersion on by one (no event), so every
    /// resourceVersion handed out before is now too old: any resume gets 410 Gone.
    pub fn compact(&mut self) {
        self.history.clear();
        self.rv += 1;
        self.compacted_rv = self.rv;
    }

    /// Starts a watch after `from_rv`; `None` when `from_rv` is older than the retained history.
    pub fn watch_from(&self, from_rv: u64) -> Option<WatchStart> {
        if from_rv < self.compacted_rv {
            return None;
        }
        let backlog = self
            .history
            .iter()
            .filter(|e| e.rv > from_rv)
            .cloned()
            .collect();
        Some(WatchStart {
            backlog,
            live: self.tx.subscribe(),
        })
    }
}

fn set_rv(object: &mut Value, rv: u64) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}
