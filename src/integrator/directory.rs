//! Which allowance an API request names: its public id resolved to the row
//! id, customer and till, which never change once the allowance exists. A
//! charge needs only these before it joins the group commit; everything
//! that does change (status, what was spent in the period) is read and
//! decided by the posting engine inside its write transaction. So resolved
//! allowances are kept in a bounded, least-recently-used map per process,
//! and a charge under a known allowance reads nothing before the engine.

use super::approvals::Approval;
use super::ApprovalKind;
use crate::ledger::AccountId;
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};

/// Allowances remembered per process (a few MiB at most).
const REMEMBERED: usize = 50_000;

/// What never changes about an approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fixed {
    pub id: i64,
    pub kind: ApprovalKind,
    pub till: AccountId,
    pub customer: AccountId,
    pub expires_at_ms: i64,
}

impl From<&Approval> for Fixed {
    fn from(a: &Approval) -> Fixed {
        Fixed { id: a.id, kind: a.kind, till: a.till, customer: a.customer, expires_at_ms: a.expires_at_ms }
    }
}

/// A bounded, least-recently-used map from a string to what it names, for
/// what never changes once it exists; shared by the process's workers.
pub struct Remembered<V> {
    known: Arc<Mutex<LruCache<String, V>>>,
}

impl<V> Clone for Remembered<V> {
    fn clone(&self) -> Self {
        Remembered { known: self.known.clone() }
    }
}

/// Public id → [`Fixed`].
pub type Directory = Remembered<Fixed>;

impl Default for Directory {
    fn default() -> Self {
        Directory::with_capacity(REMEMBERED)
    }
}

impl<V: Clone> Remembered<V> {
    pub fn with_capacity(capacity: usize) -> Remembered<V> {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Remembered { known: Arc::new(Mutex::new(LruCache::new(capacity))) }
    }

    pub fn get(&self, key: &str) -> Option<V> {
        self.known.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned()
    }

    pub fn remember(&self, key: &str, value: V) {
        self.known.lock().unwrap_or_else(|p| p.into_inner()).put(key.to_string(), value);
    }

    pub fn len(&self) -> usize {
        self.known.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(id: i64) -> Fixed {
        Fixed { id, kind: ApprovalKind::Allowance, till: AccountId(1), customer: AccountId(2), expires_at_ms: 3 }
    }

    #[test]
    fn it_remembers_up_to_its_capacity_and_forgets_the_least_recently_used() {
        let d = Directory::with_capacity(2);
        d.remember("a", fixed(1));
        d.remember("b", fixed(2));
        assert_eq!(d.get("a"), Some(fixed(1)));
        d.remember("c", fixed(3));
        assert_eq!(d.get("b"), None, "b was used least recently");
        assert_eq!((d.get("a"), d.get("c"), d.len()), (Some(fixed(1)), Some(fixed(3)), 2));
    }
}
