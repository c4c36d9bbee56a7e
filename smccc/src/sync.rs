//! The one lock type and the atomics of every fwcall core crate, chosen
//! here, once, by the build.
//!
//! | build | [`Lock`] | [`atomic`] |
//! |---|---|---|
//! | feature `std` | `std::sync::Mutex`: a contended thread sleeps (futex) | `core::sync::atomic` |
//! | no `std` | `spin::Mutex`: bare-metal hosts have nothing to sleep on | `core::sync::atomic` |
//! | `--cfg loom` (model checking only) | `loom::sync::Mutex` | loom's, with `SeqCst` restored (below) |
//!
//! Under oversubscription (more vCPU threads than cores) a spin lock held
//! by a preempted thread makes every waiter burn its whole timeslice, so
//! every build that can sleep does. The behaviour is otherwise the same:
//! [`Lock::lock`] returns a guard and never fails.
//!
//! A `std` mutex is poisoned when a thread panics while holding it. fwcall
//! has no panic path a guest can reach, and turning a poisoned lock into a
//! panic on every later call would give it one, so the poison is ignored:
//! the state is whatever the panicking thread left, and each operation
//! under these locks leaves it valid between its own writes.
//!
//! ```
//! use fwcall_smccc::sync::Lock;
//! let counter = Lock::new(0u32);
//! *counter.lock() += 1;
//! assert_eq!(*counter.lock(), 1);
//! ```

use core::fmt;
use core::ops::{Deref, DerefMut};

#[cfg(all(not(loom), feature = "std"))]
type Inner<T> = std::sync::Mutex<T>;
#[cfg(all(not(loom), feature = "std"))]
type InnerGuard<'a, T> = std::sync::MutexGuard<'a, T>;

#[cfg(all(not(loom), not(feature = "std")))]
type Inner<T> = spin::Mutex<T>;
#[cfg(all(not(loom), not(feature = "std")))]
type InnerGuard<'a, T> = spin::MutexGuard<'a, T>;

#[cfg(loom)]
type Inner<T> = loom::sync::Mutex<T>;
#[cfg(loom)]
type InnerGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

/// A mutual-exclusion lock: sleeps when contended with `std`, spins
/// without it.
pub struct Lock<T>(Inner<T>);

/// Access to the value of a [`Lock`]; unlocks when dropped.
pub struct LockGuard<'a, T>(InnerGuard<'a, T>);

impl<T> Lock<T> {
    /// A lock holding `value`.
    pub fn new(value: T) -> Self {
        Lock(Inner::new(value))
    }

    /// Waits for the lock and returns the guard.
    #[inline]
    pub fn lock(&self) -> LockGuard<'_, T> {
        #[cfg(any(loom, feature = "std"))]
        let guard = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        #[cfg(not(any(loom, feature = "std")))]
        let guard = self.0.lock();
        LockGuard(guard)
    }
}

impl<T: Default> Default for Lock<T> {
    fn default() -> Self {
        Lock::new(T::default())
    }
}

impl<T> fmt::Debug for Lock<T> {
    // Never locks: printing a server must not wait on a vCPU.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Lock { .. }")
    }
}

impl<T> Deref for LockGuard<'_, T> {
    type Target = T;
    #[inline]
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for LockGuard<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for LockGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The atomics fwcall's lock-free protocols use.
///
/// Outside model checking these are `core::sync::atomic`'s. Under
/// `--cfg loom` they are loom's, wrapped: loom treats `SeqCst` loads,
/// stores and read-modify-writes as `AcqRel` (a documented limitation) but
/// implements `fence(SeqCst)` exactly, and an `SeqCst` fence on both sides
/// of every access gives back sequential consistency (a known result for
/// the C11 model, RC11). So the code under test is the code that ships,
/// and the checker sees exactly the orderings it asks for.
pub mod atomic {
    #[cfg(not(loom))]
    pub use core::sync::atomic::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};

    #[cfg(loom)]
    pub use loom_sc::{AtomicBool, AtomicU8, AtomicU32, AtomicU64, Ordering};

    #[cfg(loom)]
    mod loom_sc {
        pub use core::sync::atomic::Ordering;
        use loom::sync::atomic::fence;

        fn around<R>(order: Ordering, f: impl FnOnce() -> R) -> R {
            if order == Ordering::SeqCst {
                fence(Ordering::SeqCst);
                let r = f();
                fence(Ordering::SeqCst);
                r
            } else {
                f()
            }
        }

        macro_rules! wrap {
            ($name:ident, $t:ty, [$($rmw:ident),*]) => {
                /// loom's atomic with `SeqCst` accesses fenced on both sides.
                #[derive(Debug)]
                pub struct $name(loom::sync::atomic::$name);

                impl $name {
                    /// A new atomic.
                    pub fn new(v: $t) -> Self {
                        $name(loom::sync::atomic::$name::new(v))
                    }
                    /// Loads.
                    pub fn load(&self, o: Ordering) -> $t {
                        around(o, || self.0.load(o))
                    }
                    /// Stores.
                    pub fn store(&self, v: $t, o: Ordering) {
                        around(o, || self.0.store(v, o))
                    }
                    /// Swaps.
                    pub fn swap(&self, v: $t, o: Ordering) -> $t {
                        around(o, || self.0.swap(v, o))
                    }
                    $(
                        /// Read-modify-write.
                        pub fn $rmw(&self, v: $t, o: Ordering) -> $t {
                            around(o, || self.0.$rmw(v, o))
                        }
                    )*
                }
            };
        }

        wrap!(AtomicBool, bool, [fetch_or, fetch_and]);
        wrap!(AtomicU8, u8, [fetch_or, fetch_and, fetch_add, fetch_sub]);
        wrap!(AtomicU32, u32, [fetch_or, fetch_and, fetch_add, fetch_sub]);
        wrap!(AtomicU64, u64, [fetch_or, fetch_and, fetch_add, fetch_sub]);
    }
}
