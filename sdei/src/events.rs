//! The VM's fixed event table, built once from the configuration.
//!
//! Private and shared events each get an index (their bit in the bitmaps)
//! in ascending order of event number, so "lowest set bit" is "lowest event
//! number".

use alloc::vec::Vec;

use crate::config::{
    DYNAMIC_EVENT_RANGE, DYNAMIC_PRIVATE_BASE, DYNAMIC_SHARED_BASE, EventKind, MAX_PRIVATE_EVENTS,
    MAX_SHARED_EVENTS, Priority, SdeiConfig, SdeiConfigError,
};

/// Where an event's number comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    /// Event 0.
    Software,
    /// Declared by the VMM, raised with `Sdei::raise`.
    Platform,
    /// A dynamic slot for `INTERRUPT_BIND`.
    Slot,
}

/// One event of the table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EventInfo {
    pub number: u32,
    pub priority: Priority,
    pub origin: Origin,
}

/// An event's place: kind and index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventRef {
    Private(usize),
    Shared(usize),
}

#[derive(Debug)]
pub(crate) struct EventTable {
    pub private: Vec<EventInfo>,
    pub shared: Vec<EventInfo>,
    /// Bits of the critical private events.
    pub private_critical: u64,
    /// Bits of the critical shared events.
    pub shared_critical: u64,
}

impl EventTable {
    pub fn new(config: &SdeiConfig) -> Result<Self, SdeiConfigError> {
        let mut private = Vec::new();
        let mut shared = Vec::new();
        private.push(EventInfo {
            number: 0,
            priority: Priority::Normal,
            origin: Origin::Software,
        });
        for d in &config.events {
            if d.number == 0 {
                return Err(SdeiConfigError::Event0Redeclared);
            }
            if d.number & 0x8000_0000 != 0 {
                return Err(SdeiConfigError::NegativeEvent(d.number));
            }
            if DYNAMIC_EVENT_RANGE.contains(&d.number) {
                return Err(SdeiConfigError::ReservedEvent(d.number));
            }
            let info = EventInfo {
                number: d.number,
                priority: d.priority,
                origin: Origin::Platform,
            };
            match d.kind {
                EventKind::Private => private.push(info),
                EventKind::Shared => shared.push(info),
            }
        }
        let n_private = private.len() + config.private_slots as usize;
        if n_private > MAX_PRIVATE_EVENTS {
            return Err(SdeiConfigError::TooManyPrivateEvents(n_private));
        }
        let n_shared = shared.len() + config.shared_slots as usize;
        if n_shared > MAX_SHARED_EVENTS {
            return Err(SdeiConfigError::TooManySharedEvents(n_shared));
        }
        for i in 0..config.private_slots as u32 {
            private.push(EventInfo {
                number: DYNAMIC_PRIVATE_BASE + i,
                priority: Priority::Normal,
                origin: Origin::Slot,
            });
        }
        for i in 0..config.shared_slots as u32 {
            shared.push(EventInfo {
                number: DYNAMIC_SHARED_BASE + i,
                priority: Priority::Normal,
                origin: Origin::Slot,
            });
        }
        private.sort_unstable_by_key(|e| e.number);
        shared.sort_unstable_by_key(|e| e.number);
        let mut all: Vec<u32> = private.iter().chain(&shared).map(|e| e.number).collect();
        all.sort_unstable();
        if let Some(w) = all.windows(2).find(|w| w[0] == w[1]) {
            return Err(SdeiConfigError::DuplicateEvent(w[0]));
        }
        let mask = |v: &[EventInfo]| {
            v.iter()
                .enumerate()
                .filter(|(_, e)| e.priority == Priority::Critical)
                .fold(0u64, |m, (i, _)| m | 1 << i)
        };
        Ok(EventTable {
            private_critical: mask(&private),
            shared_critical: mask(&shared),
            private,
            shared,
        })
    }

    /// The event with this number.
    pub fn lookup(&self, number: u32) -> Option<EventRef> {
        if let Ok(i) = self.private.binary_search_by_key(&number, |e| e.number) {
            return Some(EventRef::Private(i));
        }
        self.shared
            .binary_search_by_key(&number, |e| e.number)
            .ok()
            .map(EventRef::Shared)
    }

    pub fn info(&self, r: EventRef) -> &EventInfo {
        match r {
            EventRef::Private(i) => &self.private[i],
            EventRef::Shared(i) => &self.shared[i],
        }
    }

    pub fn private_slot_count(&self) -> usize {
        self.private
            .iter()
            .filter(|e| e.origin == Origin::Slot)
            .count()
    }

    pub fn shared_slot_count(&self) -> usize {
        self.shared
            .iter()
            .filter(|e| e.origin == Origin::Slot)
            .count()
    }
}
