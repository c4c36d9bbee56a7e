//! SDEI follows power (spec §9, §16; psci-trng.md §8): `CPU_OFF` and
//! `CPU_ON` as `Sdei::power_off` and `Sdei::power_on`.

use std::vec::Vec;

use fwcall_smccc::{Mpidr, VcpuIndex};

use super::sim::*;
use crate::{Sdei, SdeiConfig, SdeiStateError};

fn off(s: &Sim, v: u32) -> bool {
    s.sdei.is_powered_off(VcpuIndex(v)) == Some(true)
}

#[test]
fn cpu_on_unregisters_private_events_drops_their_triggers_and_masks() {
    let mut s = Sim::new(2);
    s.ready(1, EV_PRIV_NORMAL, ENTRY, 7);
    s.unmask(1);
    s.power_off(1);
    // Registrations stay while off (TF-A resets at CPU_ON, not CPU_OFF),
    // and a trigger raised meanwhile is neither delivered nor kept.
    s.raise(EV_PRIV_NORMAL, Some(1));
    assert_eq!(s.got(1), None, "no delivery to an off vCPU");
    s.power_on(1);
    assert!(!off(&s, 1));
    assert_eq!(s.sdei.is_masked(VcpuIndex(1)), Some(true));
    assert_eq!(s.status(1, EV_PRIV_NORMAL), 0);
    s.ready(1, EV_PRIV_NORMAL, ENTRY, 7);
    s.unmask(1);
    assert_eq!(s.got(1), None, "the old trigger was dropped at CPU_ON");
}

#[test]
fn an_off_vcpu_takes_no_delivery_even_unmasked_with_a_trigger_pending() {
    let mut s = Sim::new(1);
    s.ready(0, EV_PRIV_NORMAL, ENTRY, 0);
    s.unmask(0);
    s.power_off(0);
    s.raise(EV_PRIV_NORMAL, Some(0));
    assert_eq!(s.got(0), None);
    assert_eq!(
        s.sdei.is_masked(VcpuIndex(0)),
        Some(false),
        "mask untouched"
    );
}

#[test]
fn cpu_off_moves_an_rm_any_trigger_routed_to_it() {
    let mut s = Sim::new(2);
    s.ready(0, EV_SHARED_NORMAL, ENTRY, 0);
    s.unmask(0);
    s.unmask(1);
    let k = s.sdei.raise(EV_SHARED_NORMAL, None).unwrap();
    assert!(k.contains(VcpuIndex(0)), "routed to the lowest able vCPU");
    s.power_off(0);
    assert_eq!(s.got_any(), [(1, EV_SHARED_NORMAL)]);
}

#[test]
fn an_off_vcpu_is_never_chosen_for_rm_any() {
    let mut s = Sim::new(3);
    s.ready(0, EV_SHARED_NORMAL, ENTRY, 0);
    s.unmask(0);
    s.unmask(2);
    s.power_off(0);
    s.raise(EV_SHARED_NORMAL, None);
    assert_eq!(s.got_any(), [(2, EV_SHARED_NORMAL)]);
}

#[test]
fn an_rm_any_trigger_waits_while_every_able_vcpu_is_off_and_goes_to_the_first_unmasked_after_cpu_on()
 {
    let mut s = Sim::new(2);
    s.ready(0, EV_SHARED_NORMAL, ENTRY, 0);
    s.unmask(0);
    s.unmask(1);
    s.power_off(1);
    s.call(0, PE_MASK, &[]);
    s.raise(EV_SHARED_NORMAL, None);
    assert!(s.got_any().is_empty());
    s.power_on(1);
    assert!(s.got_any().is_empty(), "a vCPU powers on masked");
    s.unmask(1);
    assert_eq!(s.got_any(), [(1, EV_SHARED_NORMAL)]);
}

#[test]
fn cpu_off_while_a_shared_handler_runs_completes_it_and_a_new_trigger_goes_elsewhere() {
    let mut s = Sim::new(2);
    s.ready(0, EV_SHARED_NORMAL, ENTRY, 0);
    s.unmask(0);
    s.raise(EV_SHARED_NORMAL, None);
    assert_eq!(s.got(0), Some(EV_SHARED_NORMAL));
    // Triggered again while it runs on vCPU 0 (stays pending)...
    s.raise(EV_SHARED_NORMAL, None);
    s.unmask(1);
    assert_eq!(s.got_any(), []);
    // ...then vCPU 0 powers off inside its handler: the dispatch is gone,
    // the event is no longer running and its pending trigger goes to 1.
    s.power_off(0);
    assert_eq!(s.got_any(), [(1, EV_SHARED_NORMAL)]);
    s.call(1, COMPLETE, &[0]);
    assert_eq!(s.regs[1].pc, 0x4000_0100, "vCPU 1 resumed where it was");
    assert_eq!(
        s.status(1, EV_SHARED_NORMAL),
        3,
        "registered, enabled, idle"
    );
    // SHARED_RESET is not denied by a handler that died with its PE.
    assert_eq!(s.call(1, SHARED_RESET, &[]), OK);
}

#[test]
fn cpu_off_while_a_private_handler_runs_discards_it_and_an_unregister_pending_finishes() {
    let mut s = Sim::new(2);
    s.ready(0, EV_PRIV_NORMAL, ENTRY, 0);
    s.unmask(0);
    s.raise(EV_PRIV_NORMAL, Some(0));
    assert_eq!(s.got(0), Some(EV_PRIV_NORMAL));
    assert_eq!(s.call(0, UNREGISTER, &[EV_PRIV_NORMAL as u64]), PENDING);
    s.power_off(0);
    // Private slots in use: none any more (the running one finished).
    let st = s.sdei.state();
    let p = st.vcpus[0]
        .private
        .iter()
        .find(|e| e.event == EV_PRIV_NORMAL)
        .unwrap();
    assert_eq!(p.status, 0);
    assert!(st.vcpus[0].stack.is_empty());
    s.check_invariants(&SdeiConfig {
        events: platform_events(),
        ..SdeiConfig::default()
    });
}

#[test]
fn an_rm_pe_trigger_for_an_off_vcpu_waits_for_it() {
    let mut s = Sim::new(2);
    s.call(
        0,
        REGISTER,
        &[EV_SHARED_NORMAL as u64, ENTRY, 0, 1, mpidr(1)],
    );
    s.call(0, ENABLE, &[EV_SHARED_NORMAL as u64]);
    s.unmask(0);
    s.power_off(1);
    s.raise(EV_SHARED_NORMAL, None);
    assert!(s.got_any().is_empty());
    s.power_on(1);
    s.unmask(1);
    assert_eq!(s.got_any(), [(1, EV_SHARED_NORMAL)]);
}

#[test]
fn an_off_vcpu_cannot_be_signalled() {
    let mut s = Sim::new(2);
    s.ready(1, 0, ENTRY, 0);
    s.unmask(1);
    s.power_off(1);
    assert_eq!(s.call(0, SIGNAL, &[0, mpidr(1)]), INVALID);
}

#[test]
fn power_on_of_a_vcpu_in_the_boot_state_changes_only_the_power_gate() {
    let s = Sim::new(2);
    let before = s.sdei.state();
    s.sdei.power_off(VcpuIndex(1));
    assert!(s.sdei.power_on(VcpuIndex(1)).is_empty());
    assert_eq!(s.sdei.state(), before);
    assert_eq!(s.sdei.is_powered_off(VcpuIndex(1)), Some(false));
}

#[test]
fn unknown_vcpus_are_ignored() {
    let s = Sim::new(1);
    assert!(s.sdei.power_off(VcpuIndex(5)).is_empty());
    assert!(s.sdei.power_on(VcpuIndex(5)).is_empty());
    assert_eq!(s.sdei.is_powered_off(VcpuIndex(5)), None);
}

fn two() -> (SdeiConfig, Vec<Mpidr>) {
    let config = SdeiConfig {
        events: platform_events(),
        ..SdeiConfig::default()
    };
    (config, (0..2).map(Mpidr::kvm_default).collect())
}

#[test]
fn restore_refuses_a_running_handler_on_an_off_vcpu() {
    let (config, mpidrs) = two();
    let mut s = Sim::with_config(2, &config);
    s.ready(1, EV_PRIV_NORMAL, ENTRY, 0);
    s.unmask(1);
    s.raise(EV_PRIV_NORMAL, Some(1));
    assert_eq!(s.got(1), Some(EV_PRIV_NORMAL));
    let err = Sdei::restore_with_power(&config, &mpidrs, &s.sdei.state(), &[false, true]);
    assert_eq!(
        err.unwrap_err(),
        SdeiStateError::HandlerOnOffVcpu { vcpu: 1 }
    );
}

#[test]
fn restore_refuses_an_rm_any_trigger_routed_to_an_off_vcpu() {
    let (config, mpidrs) = two();
    let mut s = Sim::with_config(2, &config);
    s.ready(0, EV_SHARED_NORMAL, ENTRY, 0);
    s.unmask(1);
    s.sdei.raise(EV_SHARED_NORMAL, None).unwrap();
    let st = s.sdei.state();
    assert_eq!(st.shared[0].target, Some(1));
    let err = Sdei::restore_with_power(&config, &mpidrs, &st, &[false, true]);
    assert_eq!(
        err.unwrap_err(),
        SdeiStateError::RoutedToOffVcpu {
            event: EV_SHARED_NORMAL,
            vcpu: 1
        }
    );
}

#[test]
fn restore_keeps_an_off_vcpus_registrations_and_its_power_gate() {
    let (config, mpidrs) = two();
    let mut s = Sim::with_config(2, &config);
    s.ready(1, EV_PRIV_NORMAL, ENTRY, 0);
    s.ready(0, EV_SHARED_NORMAL, ENTRY, 0);
    s.unmask(1);
    s.power_off(1);
    // Off but unmasked: the waiting trigger is not stranded.
    s.raise(EV_SHARED_NORMAL, None);
    assert!(s.got_any().is_empty());
    let st = s.sdei.state();
    let back = Sdei::restore_with_power(&config, &mpidrs, &st, &[false, true]).unwrap();
    assert_eq!(back.state(), st);
    assert_eq!(back.is_powered_off(VcpuIndex(1)), Some(true));
    // Without the power state the same blob is a stranded trigger.
    assert!(matches!(
        Sdei::restore(&config, &mpidrs, &st),
        Err(SdeiStateError::StrandedTrigger { vcpu: 1, .. })
    ));
}
