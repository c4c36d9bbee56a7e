//! Per-call rules and their error codes, in TF-A's check order (§2.1).

use super::sim::*;
use crate::{SdeiConfig, SdeiVersion};

const MPIDR1: u64 = 0x8000_0001;

#[test]
fn smc32_aliases_are_not_supported() {
    let mut s = Sim::new(1);
    for fid in 0x8400_0020..=0x8400_003Fu32 {
        assert_eq!(
            s.call(0, fid, &[0, ENTRY, 0, 0, 0]),
            NOT_SUPPORTED,
            "{fid:#x}"
        );
    }
    assert_eq!(s.status(0, 0), 0, "the SMC32 REGISTER did nothing");
}

#[test]
fn unknown_ids_in_the_sdei_range_are_not_supported() {
    let mut s = Sim::new(1);
    for fid in 0xC400_0033..=0xC400_003Fu32 {
        assert_eq!(s.call(0, fid, &[]), NOT_SUPPORTED, "{fid:#x}");
    }
}

#[test]
fn calls_from_an_unknown_vcpu_are_not_supported() {
    let s = Sim::new(1);
    let out = s.sdei.call(
        fwcall_smccc::VcpuIndex(5),
        &fwcall_smccc::Call::new(fwcall_smccc::ids::SDEI_VERSION, &[]),
    );
    assert_eq!(out, fwcall_smccc::Outcome::not_supported());
}

#[test]
fn version_reports_major_1_configured_minor_and_fwc_vendor() {
    let mut s = Sim::new(1);
    assert_eq!(s.call(0, VERSION, &[]), 1 << 48 | 1 << 32 | 0x66_7763);
    let config = SdeiConfig {
        version: SdeiVersion::V1_0,
        ..SdeiConfig::default()
    };
    let mut s = Sim::with_config(1, &config);
    assert_eq!(s.call(0, VERSION, &[]), 1 << 48 | 0x66_7763);
}

// ---- EVENT_REGISTER -------------------------------------------------------

#[test]
fn register_with_zero_entry_is_invalid_parameters() {
    let mut s = Sim::new(1);
    assert_eq!(s.call(0, REGISTER, &[0, 0, 0, 0, 0]), INVALID);
    s.ready(0, 0, ENTRY, 0);
    // Checked before the state: a registered event still gets INVALID.
    assert_eq!(s.call(0, REGISTER, &[0, 0, 0, 0, 0]), INVALID);
}

#[test]
fn register_flags_other_than_rm_any_or_rm_pe_are_invalid_parameters() {
    let mut s = Sim::new(1);
    for flags in [2u64, 3, 4, 1 << 63, u64::MAX] {
        assert_eq!(
            s.call(0, REGISTER, &[EV_SHARED_NORMAL as u64, ENTRY, 0, flags, 0]),
            INVALID,
            "flags {flags:#x}"
        );
    }
}

#[test]
fn register_relative_mode_bit_is_invalid_parameters() {
    let mut s = Sim::new(1);
    assert_eq!(s.call(0, REGISTER, &[0, ENTRY, 0, 2, 0]), INVALID);
}

#[test]
fn register_rm_pe_with_invalid_mpidr_is_invalid_even_for_private_events() {
    let mut s = Sim::new(2);
    for bad in [0x8000_0002u64, 1 << 25, 0x100, u64::MAX] {
        assert_eq!(
            s.call(0, REGISTER, &[0, ENTRY, 0, 1, bad]),
            INVALID,
            "{bad:#x}"
        );
        assert_eq!(
            s.call(0, REGISTER, &[EV_SHARED_NORMAL as u64, ENTRY, 0, 1, bad]),
            INVALID
        );
    }
}

#[test]
fn register_rm_pe_accepts_raw_mpidr_flag_bits() {
    let mut s = Sim::new(2);
    // U (bit 30) and MT (bit 24) may be left set from a raw MPIDR_EL1 read.
    let raw = MPIDR1 | 1 << 30 | 1 << 24;
    assert_eq!(
        s.call(0, REGISTER, &[EV_SHARED_NORMAL as u64, ENTRY, 0, 1, raw]),
        OK
    );
    assert_eq!(s.call(0, GET_INFO, &[EV_SHARED_NORMAL as u64, 4]), 1);
}

#[test]
fn register_unknown_event_is_invalid_parameters() {
    let mut s = Sim::new(1);
    for ev in [1u64, 0x12, 0x4000_0100, 0x8000_0000, 0xffff_ffff] {
        assert_eq!(
            s.call(0, REGISTER, &[ev, ENTRY, 0, 0, 0]),
            INVALID,
            "{ev:#x}"
        );
    }
}

#[test]
fn event_numbers_with_upper_bits_set_are_invalid_parameters() {
    let mut s = Sim::new(1);
    let ev = 1u64 << 32; // low half is event 0
    assert_eq!(s.call(0, REGISTER, &[ev, ENTRY, 0, 0, 0]), INVALID);
    assert_eq!(s.call(0, STATUS, &[ev]), INVALID);
    assert_eq!(s.call(0, GET_INFO, &[ev, 0]), INVALID);
    assert_eq!(s.status(0, 0), 0);
}

#[test]
fn register_private_event_ignores_routing_and_affinity() {
    let mut s = Sim::new(2);
    assert_eq!(s.call(0, REGISTER, &[0, ENTRY, 0, 1, MPIDR1]), OK);
    assert_eq!(
        s.call(0, GET_INFO, &[0, 3]),
        INVALID,
        "private has no routing"
    );
    assert_eq!(s.status(1, 0), 0, "registered on the caller only");
}

#[test]
fn register_twice_is_denied() {
    let mut s = Sim::new(1);
    assert_eq!(s.call(0, REGISTER, &[0, ENTRY, 0, 0, 0]), OK);
    assert_eq!(s.call(0, REGISTER, &[0, ENTRY, 0, 0, 0]), DENIED);
    assert_eq!(
        s.call(0, REGISTER, &[EV_SHARED_NORMAL as u64, ENTRY, 0, 0, 0]),
        OK
    );
    assert_eq!(
        s.call(0, REGISTER, &[EV_SHARED_NORMAL as u64, ENTRY, 0, 0, 0]),
        DENIED
    );
}

#[test]
fn shared_event_is_registered_once_for_all_vcpus() {
    let mut s = Sim::new(2);
    assert_eq!(
        s.call(0, REGISTER, &[EV_SHARED_NORMAL as u64, ENTRY, 0, 0, 0]),
        OK
    );
    assert_eq!(
        s.call(1, REGISTER, &[EV_SHARED_NORMAL as u64, ENTRY, 0, 0, 0]),
        DENIED
    );
    assert_eq!(s.status(1, EV_SHARED_NORMAL), 1);
}

#[test]
fn register_unbound_dynamic_slot_is_denied() {
    let mut s = Sim::new(1);
    assert_eq!(
        s.call(0, REGISTER, &[SLOT_PRIVATE0 as u64, ENTRY, 0, 0, 0]),
        DENIED
    );
    assert_eq!(
        s.call(0, REGISTER, &[SLOT_SHARED0 as u64, ENTRY, 0, 0, 0]),
        DENIED
    );
}

#[test]
fn register_accepts_any_non_zero_entry_address() {
    let mut s = Sim::new(1);
    assert_eq!(
        s.call(0, REGISTER, &[0, 0xffff_ffff_ffff_fffc, 0, 0, 0]),
        OK
    );
}

// ---- ENABLE / DISABLE -----------------------------------------------------

#[test]
fn enable_and_disable_of_unknown_event_are_invalid_parameters() {
    let mut s = Sim::new(1);
    assert_eq!(s.call(0, ENABLE, &[0x99]), INVALID);
    assert_eq!(s.call(0, DISABLE, &[0x99]), INVALID);
}

#[test]
fn enable_and_disable_of_unregistered_event_are_denied() {
    let mut s = Sim::new(1);
    assert_eq!(s.call(0, ENABLE, &[0]), DENIED);
    assert_eq!(s.call(0, DISABLE, &[0]), DENIED);
}

#[test]
fn enable_twice_and_disable_twice_succeed() {
    let mut s = Sim::new(1);
    s.ready(0, 0, ENTRY, 0);
    assert_eq!(s.call(0, ENABLE, &[0]), OK);
    assert_eq!(s.status(0, 0), 3);
    assert_eq!(s.call(0, DISABLE, &[0]), OK);
    assert_eq!(s.call(0, DISABLE, &[0]), OK);
    assert_eq!(s.status(0, 0), 1);
}

#[test]
fn private_enable_acts_on_the_calling_vcpu_only() {
    let mut s = Sim::new(2);
    s.ready(0, 0, ENTRY, 0);
    assert_eq!(s.call(1, REGISTER, &[0, ENTRY, 0, 0, 0]), OK);
    assert_eq!(s.status(1, 0), 1);
    assert_eq!(s.status(0, 0), 3);
}

// ---- UNREGISTER / STATUS --------------------------------------------------

#[test]
fn unregister_unknown_is_invalid_and_unregistered_is_denied() {
    let mut s = Sim::new(1);
    assert_eq!(s.call(0, UNREGISTER, &[0x99]), INVALID);
    assert_eq!(s.call(0, UNREGISTER, &[0]), DENIED);
    s.ready(0, 0, ENTRY, 0);
    assert_eq!(s.call(0, UNREGISTER, &[0]), OK);
    assert_eq!(s.status(0, 0), 0);
    assert_eq!(
        s.call(0, UNREGISTER, &[0]),
        DENIED,
        "tf-a-tests: second unregister"
    );
}

#[test]
fn status_of_unknown_event_is_invalid_and_never_denied() {
    let mut s = Sim::new(1);
    assert_eq!(s.status(0, 0x99), INVALID);
    assert_eq!(s.status(0, 0), 0);
    assert_eq!(s.status(0, EV_SHARED_CRIT), 0);
}

// ---- GET_INFO ---------------------------------------------------------------

#[test]
fn get_info_type_signaled_and_priority_work_in_any_state() {
    let mut s = Sim::new(1);
    let cases = [
        (0u32, 0u64, 0u64),
        (0, 1, 1),
        (0, 2, 0),
        (EV_PRIV_CRIT, 0, 0),
        (EV_PRIV_CRIT, 1, 0),
        (EV_PRIV_CRIT, 2, 1),
        (EV_SHARED_NORMAL, 0, 1),
        (EV_SHARED_NORMAL, 2, 0),
        (EV_SHARED_CRIT, 2, 1),
        (SLOT_SHARED0, 0, 1),
        (SLOT_PRIVATE0, 0, 0),
    ];
    for (ev, sel, want) in cases {
        assert_eq!(
            s.call(0, GET_INFO, &[ev as u64, sel]),
            want,
            "ev {ev:#x} sel {sel}"
        );
    }
}

#[test]
fn get_info_routing_of_private_event_is_invalid_parameters() {
    let mut s = Sim::new(1);
    s.ready(0, 0, ENTRY, 0);
    assert_eq!(s.call(0, GET_INFO, &[0, 3]), INVALID);
    assert_eq!(s.call(0, GET_INFO, &[0, 4]), INVALID);
}

#[test]
fn get_info_routing_of_unregistered_shared_event_is_denied() {
    let mut s = Sim::new(1);
    assert_eq!(s.call(0, GET_INFO, &[EV_SHARED_NORMAL as u64, 3]), DENIED);
    assert_eq!(s.call(0, GET_INFO, &[EV_SHARED_NORMAL as u64, 4]), DENIED);
}

#[test]
fn get_info_affinity_of_rm_any_event_is_invalid_parameters() {
    let mut s = Sim::new(1);
    assert_eq!(
        s.call(0, REGISTER, &[EV_SHARED_NORMAL as u64, ENTRY, 0, 0, 0]),
        OK
    );
    assert_eq!(s.call(0, GET_INFO, &[EV_SHARED_NORMAL as u64, 3]), 0);
    assert_eq!(s.call(0, GET_INFO, &[EV_SHARED_NORMAL as u64, 4]), INVALID);
}

#[test]
fn get_info_returns_rm_pe_and_affinity_masked_to_aff_fields() {
    let mut s = Sim::new(2);
    let raw = MPIDR1 | 1 << 30;
    assert_eq!(
        s.call(0, REGISTER, &[EV_SHARED_NORMAL as u64, ENTRY, 0, 1, raw]),
        OK
    );
    assert_eq!(s.call(0, GET_INFO, &[EV_SHARED_NORMAL as u64, 3]), 1);
    assert_eq!(s.call(0, GET_INFO, &[EV_SHARED_NORMAL as u64, 4]), 1);
}

#[test]
fn get_info_unknown_selector_or_event_is_invalid_parameters() {
    let mut s = Sim::new(1);
    assert_eq!(s.call(0, GET_INFO, &[0, 5]), INVALID);
    assert_eq!(s.call(0, GET_INFO, &[0, 1 << 32]), INVALID);
    assert_eq!(s.call(0, GET_INFO, &[0x99, 0]), INVALID);
}

// ---- ROUTING_SET ------------------------------------------------------------

#[test]
fn routing_set_parameter_checks_come_first() {
    let mut s = Sim::new(2);
    let ev = EV_SHARED_NORMAL as u64;
    assert_eq!(s.call(0, ROUTING_SET, &[ev, 2, 0]), INVALID);
    assert_eq!(s.call(0, ROUTING_SET, &[ev, 1, 0x8000_0007]), INVALID);
    assert_eq!(s.call(0, ROUTING_SET, &[0x99, 0, 0]), INVALID);
    assert_eq!(s.call(0, ROUTING_SET, &[0, 0, 0]), INVALID, "private event");
    assert_eq!(
        s.call(0, ROUTING_SET, &[SLOT_SHARED0 as u64, 0, 0]),
        INVALID,
        "unbound slot"
    );
}

#[test]
fn routing_set_needs_registered_disabled_not_running() {
    let mut s = Sim::new(2);
    let ev = EV_SHARED_NORMAL as u64;
    assert_eq!(
        s.call(0, ROUTING_SET, &[ev, 1, MPIDR1]),
        DENIED,
        "unregistered"
    );
    assert_eq!(s.call(0, REGISTER, &[ev, ENTRY, 0, 0, 0]), OK);
    assert_eq!(s.call(0, ROUTING_SET, &[ev, 1, MPIDR1]), OK);
    assert_eq!(s.call(0, GET_INFO, &[ev, 3]), 1);
    assert_eq!(s.call(0, GET_INFO, &[ev, 4]), 1);
    assert_eq!(s.call(0, ENABLE, &[ev]), OK);
    assert_eq!(s.call(0, ROUTING_SET, &[ev, 0, 0]), DENIED, "enabled");
}

// ---- PE_MASK / PE_UNMASK ------------------------------------------------------

#[test]
fn pe_mask_returns_1_when_it_masked_and_0_when_already_masked() {
    let mut s = Sim::new(1);
    assert_eq!(s.call(0, PE_MASK, &[]), 0, "vCPUs start masked");
    s.unmask(0);
    assert_eq!(s.call(0, PE_MASK, &[]), 1);
    assert_eq!(s.call(0, PE_MASK, &[]), 0);
    assert_eq!(s.call(0, PE_UNMASK, &[]), 0);
    assert_eq!(s.call(0, PE_UNMASK, &[]), 0);
}

// ---- INTERRUPT_BIND / RELEASE -----------------------------------------------

#[test]
fn bind_sgi_or_beyond_spi_range_is_invalid_parameters() {
    let mut s = Sim::new(1);
    for intid in [0u64, 15, 1020, 1023, 8192, 1 << 32 | 40] {
        assert_eq!(s.call(0, BIND, &[intid]), INVALID, "{intid}");
    }
}

#[test]
fn bind_ppi_takes_a_private_slot_and_spi_a_shared_slot() {
    let mut s = Sim::new(1);
    assert_eq!(s.call(0, BIND, &[27]), SLOT_PRIVATE0 as u64);
    assert_eq!(s.call(0, BIND, &[40]), SLOT_SHARED0 as u64);
    assert_eq!(s.call(0, BIND, &[41]), SLOT_SHARED0 as u64 + 1);
    assert_eq!(s.call(0, GET_INFO, &[SLOT_PRIVATE0 as u64, 0]), 0);
    assert_eq!(s.call(0, GET_INFO, &[SLOT_SHARED0 as u64, 0]), 1);
    assert_eq!(
        s.call(0, GET_INFO, &[SLOT_SHARED0 as u64, 2]),
        0,
        "dynamic = normal"
    );
}

#[test]
fn bind_of_an_already_bound_interrupt_returns_the_same_event() {
    let mut s = Sim::new(1);
    let ev = s.call(0, BIND, &[40]);
    assert_eq!(s.call(0, BIND, &[40]), ev);
    assert_eq!(s.call(0, BIND, &[41]), ev + 1);
}

#[test]
fn bind_without_free_slot_is_out_of_resource() {
    let config = SdeiConfig {
        private_slots: 1,
        shared_slots: 0,
        ..SdeiConfig::default()
    };
    let mut s = Sim::with_config(1, &config);
    assert_eq!(s.call(0, BIND, &[40]), OUT_OF_RESOURCE);
    assert_eq!(s.call(0, BIND, &[16]), SLOT_PRIVATE0 as u64);
    assert_eq!(s.call(0, BIND, &[17]), OUT_OF_RESOURCE);
}

#[test]
fn features_0_reports_bind_slots_and_1_reports_no_relative_mode() {
    let config = SdeiConfig {
        private_slots: 3,
        shared_slots: 7,
        ..SdeiConfig::default()
    };
    let mut s = Sim::with_config(1, &config);
    assert_eq!(s.call(0, FEATURES, &[0]), 7 << 16 | 3);
    assert_eq!(s.call(0, FEATURES, &[1]), 0);
    assert_eq!(s.call(0, FEATURES, &[2]), INVALID);
    assert_eq!(s.call(0, FEATURES, &[1 << 32]), INVALID);
}

#[test]
fn features_1_is_invalid_parameters_in_version_1_0() {
    let config = SdeiConfig {
        version: SdeiVersion::V1_0,
        ..SdeiConfig::default()
    };
    let mut s = Sim::with_config(1, &config);
    assert_eq!(s.call(0, FEATURES, &[1]), INVALID);
    assert_eq!(s.call(0, FEATURES, &[0]), 8 << 16 | 4);
}

#[test]
fn release_checks_in_tf_a_order() {
    let mut s = Sim::new(2);
    assert_eq!(s.call(0, RELEASE, &[0x99]), INVALID, "unknown");
    assert_eq!(s.call(0, RELEASE, &[0]), INVALID, "not a dynamic slot");
    assert_eq!(
        s.call(0, RELEASE, &[EV_SHARED_NORMAL as u64]),
        INVALID,
        "not a dynamic slot"
    );
    assert_eq!(
        s.call(0, RELEASE, &[SLOT_SHARED0 as u64]),
        INVALID,
        "not bound"
    );
    let ev = s.call(0, BIND, &[20]);
    // Registered on vCPU 1 only: the reference count denies vCPU 0's release.
    assert_eq!(s.call(1, REGISTER, &[ev, ENTRY, 0, 0, 0]), OK);
    assert_eq!(s.call(0, RELEASE, &[ev]), DENIED);
    assert_eq!(s.call(1, UNREGISTER, &[ev]), OK);
    assert_eq!(s.call(0, RELEASE, &[ev]), OK);
    assert_eq!(
        s.call(0, RELEASE, &[ev]),
        INVALID,
        "released slot is unbound"
    );
    assert_eq!(s.call(0, BIND, &[21]), ev, "slot reusable");
}

// ---- EVENT_SIGNAL -----------------------------------------------------------

#[test]
fn signal_of_an_event_other_than_0_is_invalid_parameters() {
    let mut s = Sim::new(1);
    s.ready(0, EV_PRIV_NORMAL, ENTRY, 0);
    s.unmask(0);
    assert_eq!(
        s.call(0, SIGNAL, &[EV_PRIV_NORMAL as u64, 0x8000_0000]),
        INVALID
    );
    assert_eq!(s.call(0, SIGNAL, &[1 << 32, 0x8000_0000]), INVALID);
}

#[test]
fn signal_to_invalid_mpidr_is_invalid_parameters() {
    let mut s = Sim::new(1);
    s.ready(0, 0, ENTRY, 0);
    s.unmask(0);
    assert_eq!(s.call(0, SIGNAL, &[0, 0x8000_0001]), INVALID);
    assert_eq!(s.call(0, SIGNAL, &[0, 1 << 45]), INVALID);
}

#[test]
fn signal_to_masked_disabled_or_unregistered_target_is_invalid_parameters() {
    let mut s = Sim::new(2);
    assert_eq!(s.call(0, SIGNAL, &[0, MPIDR1]), INVALID, "unregistered");
    assert_eq!(s.call(1, REGISTER, &[0, ENTRY, 0, 0, 0]), OK);
    s.unmask(1);
    assert_eq!(s.call(0, SIGNAL, &[0, MPIDR1]), INVALID, "disabled");
    assert_eq!(s.call(1, ENABLE, &[0]), OK);
    assert_eq!(s.call(1, PE_MASK, &[]), 1);
    assert_eq!(s.call(0, SIGNAL, &[0, MPIDR1]), INVALID, "masked");
    s.unmask(1);
    assert_eq!(s.call(0, SIGNAL, &[0, MPIDR1]), OK);
    assert_eq!(s.got(1), Some(0));
}

// ---- EVENT_CONTEXT / COMPLETE with nothing running --------------------------

#[test]
fn context_index_is_checked_before_running_state() {
    let mut s = Sim::new(1);
    assert_eq!(s.call(0, CONTEXT, &[18]), INVALID);
    assert_eq!(s.call(0, CONTEXT, &[u64::MAX]), INVALID);
    assert_eq!(s.call(0, CONTEXT, &[0]), DENIED);
}

#[test]
fn complete_and_resume_without_running_event_are_denied() {
    let mut s = Sim::new(1);
    assert_eq!(s.call(0, COMPLETE, &[0]), DENIED);
    assert_eq!(s.call(0, RESUME, &[0x1000]), DENIED);
    s.ready(0, 0, ENTRY, 0);
    assert_eq!(s.call(0, COMPLETE, &[0]), DENIED);
    assert_eq!(s.call(0, RESUME, &[0x1000]), DENIED);
}

// ---- Resets -----------------------------------------------------------------

#[test]
fn resets_on_a_fresh_vm_succeed() {
    let mut s = Sim::new(2);
    assert_eq!(s.call(0, PRIVATE_RESET, &[]), OK);
    assert_eq!(s.call(1, PRIVATE_RESET, &[]), OK);
    assert_eq!(s.call(0, SHARED_RESET, &[]), OK);
}

#[test]
fn private_reset_unregisters_the_callers_private_events_and_keeps_the_mask() {
    let mut s = Sim::new(2);
    s.ready(0, 0, ENTRY, 0);
    s.ready(0, EV_PRIV_CRIT, ENTRY, 0);
    s.ready(1, 0, ENTRY, 0);
    s.unmask(0);
    assert_eq!(s.call(0, PRIVATE_RESET, &[]), OK);
    assert_eq!(s.status(0, 0), 0);
    assert_eq!(s.status(0, EV_PRIV_CRIT), 0);
    assert_eq!(s.status(1, 0), 3, "other vCPU untouched");
    assert_eq!(s.call(0, PE_MASK, &[]), 1, "still unmasked");
}

#[test]
fn shared_reset_unregisters_shared_events_and_releases_bindings() {
    let mut s = Sim::new(1);
    s.ready(0, EV_SHARED_NORMAL, ENTRY, 0);
    let ev = s.call(0, BIND, &[40]);
    assert_eq!(s.call(0, REGISTER, &[ev, ENTRY, 0, 0, 0]), OK);
    let pev = s.call(0, BIND, &[20]);
    assert_eq!(s.call(0, SHARED_RESET, &[]), OK);
    assert_eq!(s.status(0, EV_SHARED_NORMAL), 0);
    assert_eq!(s.status(0, ev as u32), 0);
    assert_eq!(s.call(0, RELEASE, &[ev]), INVALID, "already released");
    assert_eq!(
        s.call(0, RELEASE, &[pev]),
        INVALID,
        "private slot released too"
    );
}

#[test]
fn shared_reset_with_private_bound_event_registered_is_denied() {
    let mut s = Sim::new(1);
    let pev = s.call(0, BIND, &[20]);
    assert_eq!(s.call(0, REGISTER, &[pev, ENTRY, 0, 0, 0]), OK);
    let sev = s.call(0, BIND, &[40]);
    assert_eq!(s.call(0, SHARED_RESET, &[]), DENIED);
    assert_eq!(
        s.call(0, RELEASE, &[sev]),
        INVALID,
        "the other binding was released"
    );
}

#[test]
fn shared_reset_with_a_running_event_still_unregisters_every_shared_event() {
    // Issue 14: the reset stopped at the first running event and left the
    // later ones registered. TF-A unregisters them all, leaves the running
    // ones unregister-pending and answers DENIED, like PRIVATE_RESET.
    let mut s = Sim::new(2);
    s.ready(0, EV_SHARED_NORMAL, ENTRY, 0);
    s.ready(0, EV_SHARED_CRIT, ENTRY2, 0);
    let sev = s.call(0, BIND, &[40]);
    assert_eq!(s.call(0, REGISTER, &[sev, ENTRY, 0, 0, 0]), OK);
    s.unmask(0);
    s.raise(EV_SHARED_NORMAL, None);
    assert_eq!(s.got(0), Some(EV_SHARED_NORMAL));
    assert_eq!(s.call(1, SHARED_RESET, &[]), DENIED);
    assert_eq!(
        s.status(1, EV_SHARED_NORMAL),
        4,
        "running: unregister pending"
    );
    assert_eq!(
        s.status(1, EV_SHARED_CRIT),
        0,
        "after the running one: unregistered"
    );
    assert_eq!(s.status(1, sev as u32), 0, "bound slot: unregistered");
    // DENIED stops before the bindings: the slot is still bound.
    assert_eq!(s.call(1, BIND, &[40]), sev);
    // Raising the unregistered event is dropped; the running one completes
    // into unregistered.
    s.raise(EV_SHARED_CRIT, None);
    assert_eq!(s.got_any(), []);
    s.call(0, COMPLETE, &[0]);
    assert_eq!(s.status(1, EV_SHARED_NORMAL), 0);
    assert_eq!(s.call(1, SHARED_RESET, &[]), OK);
}

#[test]
fn shared_reset_with_two_running_events_leaves_both_unregister_pending() {
    let mut s = Sim::new(2);
    s.ready(0, EV_SHARED_NORMAL, ENTRY, 0);
    s.ready(0, EV_SHARED_CRIT, ENTRY2, 0);
    s.unmask(0);
    s.unmask(1);
    s.raise(EV_SHARED_NORMAL, None);
    assert_eq!(s.got(0), Some(EV_SHARED_NORMAL));
    s.raise(EV_SHARED_CRIT, None);
    assert_eq!(
        s.got(0),
        Some(EV_SHARED_CRIT),
        "critical over normal on vCPU 0"
    );
    assert_eq!(s.call(1, SHARED_RESET, &[]), DENIED);
    assert_eq!(s.status(1, EV_SHARED_NORMAL), 4);
    assert_eq!(s.status(1, EV_SHARED_CRIT), 4);
    s.call(0, COMPLETE, &[0]);
    assert_eq!(s.status(1, EV_SHARED_CRIT), 0);
    assert_eq!(s.status(1, EV_SHARED_NORMAL), 4);
    s.call(0, COMPLETE, &[0]);
    assert_eq!(s.status(1, EV_SHARED_NORMAL), 0);
}
