//! One test per cell of the §7 state table, with the result codes layered
//! on it. The instance is a bound shared slot (so `RELEASE` and `ROUTING_SET`
//! apply) on a 1-vCPU VM, brought to each state through real calls.

use super::sim::*;

const INTID: u32 = 40;
const EV: u64 = SLOT_SHARED0 as u64;

/// Builds a server whose bound shared slot is in `state`.
fn at(state: u8) -> Sim {
    let mut s = Sim::new(1);
    assert_eq!(s.call(0, BIND, &[INTID as u64]), EV);
    s.unmask(0);
    if state == 0 {
        return s;
    }
    assert_eq!(s.call(0, REGISTER, &[EV, ENTRY, 0x77, 0, 0]), OK);
    if state == 1 {
        return s;
    }
    assert_eq!(s.call(0, ENABLE, &[EV]), OK);
    if state == 3 {
        return s;
    }
    assert!(s.irq(INTID, None));
    assert_eq!(s.got(0), Some(EV as u32));
    match state {
        7 => {}
        5 => assert_eq!(s.call(0, DISABLE, &[EV]), OK),
        4 => assert_eq!(s.call(0, UNREGISTER, &[EV]), PENDING),
        _ => unreachable!(),
    }
    assert_eq!(s.status(0, EV as u32), state as u64);
    s
}

#[derive(Clone, Copy, Debug)]
enum Act {
    Register,
    Release,
    Enable,
    Disable,
    Unregister,
    RoutingSet,
    Context,
    Complete,
    Resume,
    Dispatch,
}

/// Performs the action; returns the result (x0, or OK for a successful
/// completion/dispatch, DENIED for an undelivered trigger).
fn act(s: &mut Sim, a: Act) -> u64 {
    match a {
        Act::Register => s.call(0, REGISTER, &[EV, ENTRY, 0, 0, 0]),
        Act::Release => s.call(0, RELEASE, &[EV]),
        Act::Enable => s.call(0, ENABLE, &[EV]),
        Act::Disable => s.call(0, DISABLE, &[EV]),
        Act::Unregister => s.call(0, UNREGISTER, &[EV]),
        Act::RoutingSet => s.call(0, ROUTING_SET, &[EV, 1, 0x8000_0000]),
        Act::Context => {
            let r = s.call(0, CONTEXT, &[0]);
            if r == DENIED { DENIED } else { OK }
        }
        Act::Complete | Act::Resume => {
            let pc = s.regs[0].pc;
            let fid = if matches!(a, Act::Complete) {
                COMPLETE
            } else {
                RESUME
            };
            let r = s.call(0, fid, &[0x9000]);
            if s.regs[0].pc == pc { r } else { OK }
        }
        Act::Dispatch => {
            s.irq(INTID, None);
            if s.got(0) == Some(EV as u32) {
                OK
            } else {
                DENIED
            }
        }
    }
}

macro_rules! cells {
    ($($name:ident: $state:literal, $act:ident => $result:expr, $after:literal;)*) => {$(
        #[test]
        fn $name() {
            let mut s = at($state);
            assert_eq!(act(&mut s, Act::$act), $result, "result");
            assert_eq!(s.status(0, EV as u32), $after, "state after");
        }
    )*};
}

cells! {
    cell_unregistered_register_registers: 0, Register => OK, 1;
    cell_unregistered_release_frees_slot: 0, Release => OK, 0;
    cell_unregistered_enable_denied: 0, Enable => DENIED, 0;
    cell_unregistered_disable_denied: 0, Disable => DENIED, 0;
    cell_unregistered_unregister_denied: 0, Unregister => DENIED, 0;
    cell_unregistered_routing_set_denied: 0, RoutingSet => DENIED, 0;
    cell_unregistered_context_denied: 0, Context => DENIED, 0;
    cell_unregistered_complete_denied: 0, Complete => DENIED, 0;
    cell_unregistered_resume_denied: 0, Resume => DENIED, 0;
    cell_unregistered_dispatch_dropped: 0, Dispatch => DENIED, 0;

    cell_registered_register_denied: 1, Register => DENIED, 1;
    cell_registered_release_denied: 1, Release => DENIED, 1;
    cell_registered_enable_enables: 1, Enable => OK, 3;
    cell_registered_disable_no_change: 1, Disable => OK, 1;
    cell_registered_unregister_unregisters: 1, Unregister => OK, 0;
    cell_registered_routing_set_allowed: 1, RoutingSet => OK, 1;
    cell_registered_context_denied: 1, Context => DENIED, 1;
    cell_registered_complete_denied: 1, Complete => DENIED, 1;
    cell_registered_resume_denied: 1, Resume => DENIED, 1;
    cell_registered_dispatch_stays_pending: 1, Dispatch => DENIED, 1;

    cell_enabled_register_denied: 3, Register => DENIED, 3;
    cell_enabled_release_denied: 3, Release => DENIED, 3;
    cell_enabled_enable_no_change: 3, Enable => OK, 3;
    cell_enabled_disable_disables: 3, Disable => OK, 1;
    cell_enabled_unregister_unregisters: 3, Unregister => OK, 0;
    cell_enabled_routing_set_denied: 3, RoutingSet => DENIED, 3;
    cell_enabled_context_denied: 3, Context => DENIED, 3;
    cell_enabled_complete_denied: 3, Complete => DENIED, 3;
    cell_enabled_resume_denied: 3, Resume => DENIED, 3;
    cell_enabled_dispatch_runs: 3, Dispatch => OK, 7;

    cell_unregister_pending_register_denied: 4, Register => DENIED, 4;
    cell_unregister_pending_release_denied: 4, Release => DENIED, 4;
    cell_unregister_pending_enable_denied: 4, Enable => DENIED, 4;
    cell_unregister_pending_disable_denied: 4, Disable => DENIED, 4;
    cell_unregister_pending_unregister_pending: 4, Unregister => PENDING, 4;
    cell_unregister_pending_routing_set_denied: 4, RoutingSet => DENIED, 4;
    cell_unregister_pending_context_allowed: 4, Context => OK, 4;
    cell_unregister_pending_complete_unregisters: 4, Complete => OK, 0;
    cell_unregister_pending_resume_unregisters: 4, Resume => OK, 0;
    cell_unregister_pending_dispatch_not_delivered: 4, Dispatch => DENIED, 4;

    cell_running_disabled_register_denied: 5, Register => DENIED, 5;
    cell_running_disabled_release_denied: 5, Release => DENIED, 5;
    cell_running_disabled_enable_enables: 5, Enable => OK, 7;
    cell_running_disabled_disable_no_change: 5, Disable => OK, 5;
    cell_running_disabled_unregister_pending: 5, Unregister => PENDING, 4;
    cell_running_disabled_routing_set_denied: 5, RoutingSet => DENIED, 5;
    cell_running_disabled_context_allowed: 5, Context => OK, 5;
    cell_running_disabled_complete_to_registered: 5, Complete => OK, 1;
    cell_running_disabled_resume_to_registered: 5, Resume => OK, 1;
    cell_running_disabled_dispatch_not_delivered: 5, Dispatch => DENIED, 5;

    cell_running_register_denied: 7, Register => DENIED, 7;
    cell_running_release_denied: 7, Release => DENIED, 7;
    cell_running_enable_no_change: 7, Enable => OK, 7;
    cell_running_disable_disables: 7, Disable => OK, 5;
    cell_running_unregister_pending: 7, Unregister => PENDING, 4;
    cell_running_routing_set_denied: 7, RoutingSet => DENIED, 7;
    cell_running_context_allowed: 7, Context => OK, 7;
    cell_running_complete_to_enabled: 7, Complete => OK, 3;
    cell_running_resume_to_enabled: 7, Resume => OK, 3;
    cell_running_dispatch_never_nests: 7, Dispatch => DENIED, 7;
}

#[test]
fn running_event_triggered_again_is_delivered_after_completion() {
    // The 7/DISPATCH cell kept the trigger pending: completion delivers it.
    let mut s = at(7);
    assert_eq!(act(&mut s, Act::Dispatch), DENIED);
    s.call(0, COMPLETE, &[0]);
    assert_eq!(s.got(0), Some(EV as u32));
}

#[test]
fn registered_disabled_trigger_is_delivered_at_enable() {
    let mut s = at(1);
    assert_eq!(act(&mut s, Act::Dispatch), DENIED);
    assert_eq!(s.call(0, ENABLE, &[EV]), OK);
    assert_eq!(s.got(0), Some(EV as u32));
}

#[test]
fn private_event_0_follows_the_same_table() {
    // (state reached, action, result, state after), for event 0 on vCPU 0.
    let mut s = Sim::new(1);
    s.unmask(0);
    let steps: &[(u32, &[u64], u64, u64)] = &[
        (ENABLE, &[0], DENIED, 0),
        (REGISTER, &[0, ENTRY, 0, 0, 0], OK, 1),
        (REGISTER, &[0, ENTRY, 0, 0, 0], DENIED, 1),
        (ENABLE, &[0], OK, 3),
        (SIGNAL, &[0, 0x8000_0000], OK, 7),
        (DISABLE, &[0], OK, 5),
        (UNREGISTER, &[0], PENDING, 4),
        (ENABLE, &[0], DENIED, 4),
        (UNREGISTER, &[0], PENDING, 4),
    ];
    for (i, (fid, args, result, after)) in steps.iter().enumerate() {
        assert_eq!(s.call(0, *fid, args), *result, "step {i}");
        assert_eq!(s.status(0, 0), *after, "step {i}");
    }
    let pc = s.regs[0].pc;
    s.call(0, COMPLETE, &[0]);
    assert_ne!(s.regs[0].pc, pc);
    assert_eq!(s.status(0, 0), 0);
    assert_eq!(s.call(0, UNREGISTER, &[0]), DENIED);
}
