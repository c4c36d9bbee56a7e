//! The handler state machine of sdei.md §7, written as one `match`.
//!
//! A state is the `EVENT_STATUS` value: bit 0 registered, bit 1 enabled,
//! bit 2 running. `None` is a forbidden cell (`X` in the table).

/// A column of the §7 table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `EVENT_REGISTER`.
    Register,
    /// `INTERRUPT_RELEASE`.
    Release,
    /// `EVENT_ENABLE`.
    Enable,
    /// `EVENT_DISABLE`.
    Disable,
    /// `EVENT_UNREGISTER`.
    Unregister,
    /// `EVENT_ROUTING_SET`.
    RoutingSet,
    /// `EVENT_CONTEXT`.
    Context,
    /// `EVENT_COMPLETE`.
    Complete,
    /// `EVENT_COMPLETE_AND_RESUME`.
    CompleteResume,
    /// Entering the handler.
    Dispatch,
}

/// The state after `action` in `state`, or `None` when the table forbids it.
pub fn next(state: u8, action: Action) -> Option<u8> {
    use Action::*;
    match (state, action) {
        // reg: unregistered, idle.
        (0, Register) => Some(1),
        (0, Release) => Some(0),
        // reG: registered, disabled.
        (1, Enable) => Some(3),
        (1, Disable) => Some(1),
        (1, Unregister) => Some(0),
        (1, RoutingSet) => Some(1),
        // rEG: registered, enabled.
        (3, Enable) => Some(3),
        (3, Disable) => Some(1),
        (3, Unregister) => Some(0),
        (3, Dispatch) => Some(7),
        // Reg: running, unregister pending.
        (4, Context) => Some(4),
        (4, Complete | CompleteResume) => Some(0),
        // ReG: registered, running, disabled.
        (5, Enable) => Some(7),
        (5, Disable) => Some(5),
        (5, Unregister) => Some(4),
        (5, Context) => Some(5),
        (5, Complete | CompleteResume) => Some(1),
        // REG: registered, enabled, running.
        (7, Enable) => Some(7),
        (7, Disable) => Some(5),
        (7, Unregister) => Some(4),
        (7, Context) => Some(7),
        (7, Complete | CompleteResume) => Some(3),
        // Every other cell, and the impossible states 2 and 6.
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_states_forbid_everything() {
        use Action::*;
        for s in [2, 6] {
            for a in [
                Register,
                Release,
                Enable,
                Disable,
                Unregister,
                RoutingSet,
                Context,
                Complete,
                CompleteResume,
                Dispatch,
            ] {
                assert_eq!(next(s, a), None);
            }
        }
    }

    #[test]
    fn only_registered_enabled_idle_is_dispatchable() {
        for s in 0..8 {
            assert_eq!(next(s, Action::Dispatch).is_some(), s == 3);
        }
    }
}
