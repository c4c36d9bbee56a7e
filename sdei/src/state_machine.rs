//! The handler state machine (DEN0054 §6.1, TF-A `sdei_state.c`) as a table.
//!
//! A handler instance has three bits, laid out exactly as `EVENT_STATUS`
//! reports them: registered (bit 0), enabled (bit 1), running (bit 2).
//! Rows are states, columns are [`Action`]s; a cell either forbids the
//! action, allows it without change, or names the new state. Result codes
//! are layered on the table by the callers ([`unregister_result`]).

use crate::SdeiError;

/// A handler instance's state: `EVENT_STATUS` bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct HandlerState(u8);

impl HandlerState {
    /// Registered bit.
    pub const REGISTERED: u8 = 1 << 0;
    /// Enabled bit.
    pub const ENABLED: u8 = 1 << 1;
    /// Running bit.
    pub const RUNNING: u8 = 1 << 2;

    /// `reg` (0): unregistered, idle.
    pub const UNREGISTERED: Self = HandlerState(0);
    /// `reG` (1): registered, disabled.
    pub const REGISTERED_DISABLED: Self = HandlerState(1);
    /// `rEG` (3): registered, enabled: the only dispatchable state.
    pub const REGISTERED_ENABLED: Self = HandlerState(3);
    /// `Reg` (4): running, unregister pending.
    pub const RUNNING_UNREGISTER_PENDING: Self = HandlerState(4);
    /// `ReG` (5): registered, disabled, running.
    pub const RUNNING_DISABLED: Self = HandlerState(5);
    /// `REG` (7): registered, enabled, running.
    pub const RUNNING_ENABLED: Self = HandlerState(7);

    /// The six legal states.
    pub const LEGAL: [Self; 6] = [
        Self::UNREGISTERED,
        Self::REGISTERED_DISABLED,
        Self::REGISTERED_ENABLED,
        Self::RUNNING_UNREGISTER_PENDING,
        Self::RUNNING_DISABLED,
        Self::RUNNING_ENABLED,
    ];

    /// A state from status bits; `None` for 2, 6 (enabled without
    /// registered) and anything above 7.
    pub const fn from_bits(bits: u8) -> Option<Self> {
        match bits {
            0 | 1 | 3 | 4 | 5 | 7 => Some(HandlerState(bits)),
            _ => None,
        }
    }

    /// The `EVENT_STATUS` bits.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Registered bit set.
    pub const fn registered(self) -> bool {
        self.0 & Self::REGISTERED != 0
    }

    /// Enabled bit set.
    pub const fn enabled(self) -> bool {
        self.0 & Self::ENABLED != 0
    }

    /// Running bit set.
    pub const fn running(self) -> bool {
        self.0 & Self::RUNNING != 0
    }
}

/// What happens to an instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    /// The server entering the handler.
    Dispatch,
}

impl Action {
    /// Every action, in table column order.
    pub const ALL: [Action; 10] = [
        Action::Register,
        Action::Release,
        Action::Enable,
        Action::Disable,
        Action::Unregister,
        Action::RoutingSet,
        Action::Context,
        Action::Complete,
        Action::CompleteResume,
        Action::Dispatch,
    ];

    const fn column(self) -> usize {
        match self {
            Action::Register => 0,
            Action::Release => 1,
            Action::Enable => 2,
            Action::Disable => 3,
            Action::Unregister => 4,
            Action::RoutingSet => 5,
            Action::Context => 6,
            Action::Complete => 7,
            Action::CompleteResume => 8,
            Action::Dispatch => 9,
        }
    }
}

/// One table cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// Forbidden.
    X,
    /// Allowed, state unchanged.
    Same,
    /// Allowed, new state (status bits).
    To(u8),
}

use Cell::{Same, To, X};

/// Rows indexed by status bits 0..=7 (rows 2 and 6 are impossible states:
/// all forbidden).
#[rustfmt::skip]
pub const TABLE: [[Cell; 10]; 8] = [
    //          REGISTER RELEASE ENABLE  DISABLE UNREG   ROUTING CONTEXT COMPLETE RESUME  DISPATCH
    /* 0 reg */ [To(1),  Same,   X,      X,      X,      X,      X,      X,       X,      X],
    /* 1 reG */ [X,      X,      To(3),  Same,   To(0),  Same,   X,      X,       X,      X],
    /* 2 rEg */ [X,      X,      X,      X,      X,      X,      X,      X,       X,      X],
    /* 3 rEG */ [X,      X,      Same,   To(1),  To(0),  X,      X,      X,       X,      To(7)],
    /* 4 Reg */ [X,      X,      X,      X,      X,      X,      Same,   To(0),   To(0),  X],
    /* 5 ReG */ [X,      X,      To(7),  Same,   To(4),  X,      Same,   To(1),   To(1),  X],
    /* 6 REg */ [X,      X,      X,      X,      X,      X,      X,      X,       X,      X],
    /* 7 REG */ [X,      X,      Same,   To(5),  To(4),  X,      Same,   To(3),   To(3),  X],
];

/// The table cell for `state` and `action`.
pub const fn cell(state: HandlerState, action: Action) -> Cell {
    TABLE[(state.0 & 7) as usize][action.column()]
}

/// The state after `action`, or `None` when the table forbids it.
pub const fn transition(state: HandlerState, action: Action) -> Option<HandlerState> {
    match cell(state, action) {
        X => None,
        Same => Some(state),
        To(bits) => Some(HandlerState(bits)),
    }
}

/// The result code of `EVENT_UNREGISTER` from `state`: forbidden gives
/// `PENDING` when running, `DENIED` otherwise; allowed but still running
/// gives `PENDING` (the state is updated anyway); otherwise success.
pub fn unregister_result(state: HandlerState) -> (HandlerState, Result<(), SdeiError>) {
    match transition(state, Action::Unregister) {
        None if state.running() => (state, Err(SdeiError::Pending)),
        None => (state, Err(SdeiError::Denied)),
        Some(next) if next.running() => (next, Err(SdeiError::Pending)),
        Some(next) => (next, Ok(())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected cells written out from the spec's §7 table, state by state.
    fn expected(state: u8, action: Action) -> Option<u8> {
        use Action::*;
        match (state, action) {
            (0, Register) => Some(1),
            (0, Release) => Some(0),
            (1, Enable) => Some(3),
            (1, Disable) => Some(1),
            (1, Unregister) => Some(0),
            (1, RoutingSet) => Some(1),
            (3, Enable) => Some(3),
            (3, Disable) => Some(1),
            (3, Unregister) => Some(0),
            (3, Dispatch) => Some(7),
            (4, Context) => Some(4),
            (4, Complete | CompleteResume) => Some(0),
            (5, Enable) => Some(7),
            (5, Disable) => Some(5),
            (5, Unregister) => Some(4),
            (5, Context) => Some(5),
            (5, Complete | CompleteResume) => Some(1),
            (7, Enable) => Some(7),
            (7, Disable) => Some(5),
            (7, Unregister) => Some(4),
            (7, Context) => Some(7),
            (7, Complete | CompleteResume) => Some(3),
            _ => None,
        }
    }

    #[test]
    fn every_state_table_cell_matches_the_spec() {
        for bits in 0..8u8 {
            for action in Action::ALL {
                let got = transition(HandlerState(bits), action).map(|s| s.bits());
                assert_eq!(
                    got,
                    expected(bits, action),
                    "state {bits} action {action:?}"
                );
            }
        }
    }

    #[test]
    fn enabled_without_registered_is_not_a_state() {
        assert_eq!(HandlerState::from_bits(2), None);
        assert_eq!(HandlerState::from_bits(6), None);
        assert_eq!(HandlerState::from_bits(8), None);
        for s in HandlerState::LEGAL {
            assert_eq!(HandlerState::from_bits(s.bits()), Some(s));
        }
    }

    #[test]
    fn unregister_results_are_layered_on_the_table() {
        let cases = [
            (0, 0, Err(SdeiError::Denied)),
            (1, 0, Ok(())),
            (3, 0, Ok(())),
            (4, 4, Err(SdeiError::Pending)),
            (5, 4, Err(SdeiError::Pending)),
            (7, 4, Err(SdeiError::Pending)),
        ];
        for (from, to, result) in cases {
            let (next, r) = unregister_result(HandlerState(from));
            assert_eq!((next.bits(), r), (to, result), "from {from}");
        }
    }
}
