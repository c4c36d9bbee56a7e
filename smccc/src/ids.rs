//! Named function IDs, spelled as the specifications spell them.
//!
//! Every constant is a [`FunctionId`]. [`name`] maps an ID back to its name
//! (for traces, logs and the `fwcall` command).

use crate::FunctionId;

/// `SMCCC_VERSION` (SMCCC 1.1+).
pub const SMCCC_VERSION: FunctionId = FunctionId(0x8000_0000);
/// `SMCCC_ARCH_FEATURES` (SMCCC 1.1+).
pub const SMCCC_ARCH_FEATURES: FunctionId = FunctionId(0x8000_0001);
/// `SMCCC_ARCH_SOC_ID` (SMCCC 1.2+), SMC32 form.
pub const SMCCC_ARCH_SOC_ID: FunctionId = FunctionId(0x8000_0002);
/// `SMCCC_ARCH_SOC_ID`, SMC64 form (the name selector returns `X1..X17`).
pub const SMCCC_ARCH_SOC_ID_64: FunctionId = FunctionId(0xC000_0002);
/// `SMCCC_ARCH_FEATURE_AVAILABILITY` (SMC64 form; firmware-only, a hypervisor answers -1).
pub const SMCCC_ARCH_FEATURE_AVAILABILITY: FunctionId = FunctionId(0xC000_0003);
/// `SMCCC_ARCH_WORKAROUND_4` (firmware-only, a hypervisor answers -1).
pub const SMCCC_ARCH_WORKAROUND_4: FunctionId = FunctionId(0x8000_0004);
/// `SMCCC_ARCH_WORKAROUND_3` (Spectre-BHB).
pub const SMCCC_ARCH_WORKAROUND_3: FunctionId = FunctionId(0x8000_3FFF);
/// `SMCCC_ARCH_WORKAROUND_2` (SSBD).
pub const SMCCC_ARCH_WORKAROUND_2: FunctionId = FunctionId(0x8000_7FFF);
/// `SMCCC_ARCH_WORKAROUND_1` (Spectre-v2).
pub const SMCCC_ARCH_WORKAROUND_1: FunctionId = FunctionId(0x8000_8000);

/// General query: Call Count (function number `0xFF00`), of the owner in `oen`.
pub const fn call_count(oen: u8) -> FunctionId {
    FunctionId(0x8000_FF00 | ((oen as u32 & 0x3f) << 24))
}
/// General query: Call UID (`0xFF01`).
pub const fn call_uid(oen: u8) -> FunctionId {
    FunctionId(0x8000_FF01 | ((oen as u32 & 0x3f) << 24))
}
/// General query: Revision (`0xFF03`).
pub const fn revision(oen: u8) -> FunctionId {
    FunctionId(0x8000_FF03 | ((oen as u32 & 0x3f) << 24))
}

/// `SDEI_VERSION`.
pub const SDEI_VERSION: FunctionId = FunctionId(0xC400_0020);
/// `SDEI_EVENT_REGISTER`.
pub const SDEI_EVENT_REGISTER: FunctionId = FunctionId(0xC400_0021);
/// `SDEI_EVENT_ENABLE`.
pub const SDEI_EVENT_ENABLE: FunctionId = FunctionId(0xC400_0022);
/// `SDEI_EVENT_DISABLE`.
pub const SDEI_EVENT_DISABLE: FunctionId = FunctionId(0xC400_0023);
/// `SDEI_EVENT_CONTEXT`.
pub const SDEI_EVENT_CONTEXT: FunctionId = FunctionId(0xC400_0024);
/// `SDEI_EVENT_COMPLETE`.
pub const SDEI_EVENT_COMPLETE: FunctionId = FunctionId(0xC400_0025);
/// `SDEI_EVENT_COMPLETE_AND_RESUME`.
pub const SDEI_EVENT_COMPLETE_AND_RESUME: FunctionId = FunctionId(0xC400_0026);
/// `SDEI_EVENT_UNREGISTER`.
pub const SDEI_EVENT_UNREGISTER: FunctionId = FunctionId(0xC400_0027);
/// `SDEI_EVENT_STATUS`.
pub const SDEI_EVENT_STATUS: FunctionId = FunctionId(0xC400_0028);
/// `SDEI_EVENT_GET_INFO`.
pub const SDEI_EVENT_GET_INFO: FunctionId = FunctionId(0xC400_0029);
/// `SDEI_EVENT_ROUTING_SET`.
pub const SDEI_EVENT_ROUTING_SET: FunctionId = FunctionId(0xC400_002A);
/// `SDEI_PE_MASK`.
pub const SDEI_PE_MASK: FunctionId = FunctionId(0xC400_002B);
/// `SDEI_PE_UNMASK`.
pub const SDEI_PE_UNMASK: FunctionId = FunctionId(0xC400_002C);
/// `SDEI_INTERRUPT_BIND`.
pub const SDEI_INTERRUPT_BIND: FunctionId = FunctionId(0xC400_002D);
/// `SDEI_INTERRUPT_RELEASE`.
pub const SDEI_INTERRUPT_RELEASE: FunctionId = FunctionId(0xC400_002E);
/// `SDEI_EVENT_SIGNAL`.
pub const SDEI_EVENT_SIGNAL: FunctionId = FunctionId(0xC400_002F);
/// `SDEI_FEATURES`.
pub const SDEI_FEATURES: FunctionId = FunctionId(0xC400_0030);
/// `SDEI_PRIVATE_RESET`.
pub const SDEI_PRIVATE_RESET: FunctionId = FunctionId(0xC400_0031);
/// `SDEI_SHARED_RESET`.
pub const SDEI_SHARED_RESET: FunctionId = FunctionId(0xC400_0032);
/// First ID of the SDEI range (`0xC400_0020`; the range is 32 IDs long).
pub const SDEI_RANGE_START: FunctionId = SDEI_VERSION;
/// Number of IDs in the SDEI range.
pub const SDEI_RANGE_LEN: u32 = 0x20;

/// First function number of PSCI in OEN 4 (`0x00`; PSCI owns `0x00..=0x1F`).
pub const PSCI_FIRST_NUMBER: u16 = 0x00;
/// Last function number of PSCI in OEN 4.
pub const PSCI_LAST_NUMBER: u16 = 0x1F;
/// `PSCI_VERSION` (PSCI, DEN0022; SMC32 only).
pub const PSCI_VERSION: FunctionId = FunctionId(0x8400_0000);
/// `CPU_SUSPEND` (PSCI, DEN0022), SMC32 form.
pub const PSCI_CPU_SUSPEND: FunctionId = FunctionId(0x8400_0001);
/// `CPU_SUSPEND`, SMC64 form.
pub const PSCI_CPU_SUSPEND_64: FunctionId = FunctionId(0xC400_0001);
/// `CPU_OFF` (PSCI, DEN0022; SMC32 only).
pub const PSCI_CPU_OFF: FunctionId = FunctionId(0x8400_0002);
/// `CPU_ON` (PSCI, DEN0022), SMC32 form.
pub const PSCI_CPU_ON: FunctionId = FunctionId(0x8400_0003);
/// `CPU_ON`, SMC64 form.
pub const PSCI_CPU_ON_64: FunctionId = FunctionId(0xC400_0003);
/// `AFFINITY_INFO` (PSCI, DEN0022), SMC32 form.
pub const PSCI_AFFINITY_INFO: FunctionId = FunctionId(0x8400_0004);
/// `AFFINITY_INFO`, SMC64 form.
pub const PSCI_AFFINITY_INFO_64: FunctionId = FunctionId(0xC400_0004);
/// `MIGRATE` (PSCI, DEN0022), SMC32 form.
pub const PSCI_MIGRATE: FunctionId = FunctionId(0x8400_0005);
/// `MIGRATE`, SMC64 form.
pub const PSCI_MIGRATE_64: FunctionId = FunctionId(0xC400_0005);
/// `MIGRATE_INFO_TYPE` (PSCI, DEN0022; SMC32 only).
pub const PSCI_MIGRATE_INFO_TYPE: FunctionId = FunctionId(0x8400_0006);
/// `MIGRATE_INFO_UP_CPU` (PSCI, DEN0022), SMC32 form.
pub const PSCI_MIGRATE_INFO_UP_CPU: FunctionId = FunctionId(0x8400_0007);
/// `MIGRATE_INFO_UP_CPU`, SMC64 form.
pub const PSCI_MIGRATE_INFO_UP_CPU_64: FunctionId = FunctionId(0xC400_0007);
/// `SYSTEM_OFF` (PSCI, DEN0022; SMC32 only).
pub const PSCI_SYSTEM_OFF: FunctionId = FunctionId(0x8400_0008);
/// `SYSTEM_RESET` (PSCI, DEN0022; SMC32 only).
pub const PSCI_SYSTEM_RESET: FunctionId = FunctionId(0x8400_0009);
/// `PSCI_FEATURES` (PSCI, DEN0022; SMC32 only).
pub const PSCI_FEATURES: FunctionId = FunctionId(0x8400_000A);
/// `CPU_FREEZE` (PSCI, DEN0022; SMC32 only).
pub const PSCI_CPU_FREEZE: FunctionId = FunctionId(0x8400_000B);
/// `CPU_DEFAULT_SUSPEND` (PSCI, DEN0022), SMC32 form.
pub const PSCI_CPU_DEFAULT_SUSPEND: FunctionId = FunctionId(0x8400_000C);
/// `CPU_DEFAULT_SUSPEND`, SMC64 form.
pub const PSCI_CPU_DEFAULT_SUSPEND_64: FunctionId = FunctionId(0xC400_000C);
/// `NODE_HW_STATE` (PSCI, DEN0022), SMC32 form.
pub const PSCI_NODE_HW_STATE: FunctionId = FunctionId(0x8400_000D);
/// `NODE_HW_STATE`, SMC64 form.
pub const PSCI_NODE_HW_STATE_64: FunctionId = FunctionId(0xC400_000D);
/// `SYSTEM_SUSPEND` (PSCI, DEN0022), SMC32 form.
pub const PSCI_SYSTEM_SUSPEND: FunctionId = FunctionId(0x8400_000E);
/// `SYSTEM_SUSPEND`, SMC64 form.
pub const PSCI_SYSTEM_SUSPEND_64: FunctionId = FunctionId(0xC400_000E);
/// `PSCI_SET_SUSPEND_MODE` (PSCI, DEN0022; SMC32 only).
pub const PSCI_SET_SUSPEND_MODE: FunctionId = FunctionId(0x8400_000F);
/// `PSCI_STAT_RESIDENCY` (PSCI, DEN0022), SMC32 form.
pub const PSCI_STAT_RESIDENCY: FunctionId = FunctionId(0x8400_0010);
/// `PSCI_STAT_RESIDENCY`, SMC64 form.
pub const PSCI_STAT_RESIDENCY_64: FunctionId = FunctionId(0xC400_0010);
/// `PSCI_STAT_COUNT` (PSCI, DEN0022), SMC32 form.
pub const PSCI_STAT_COUNT: FunctionId = FunctionId(0x8400_0011);
/// `PSCI_STAT_COUNT`, SMC64 form.
pub const PSCI_STAT_COUNT_64: FunctionId = FunctionId(0xC400_0011);
/// `SYSTEM_RESET2` (PSCI, DEN0022), SMC32 form.
pub const PSCI_SYSTEM_RESET2: FunctionId = FunctionId(0x8400_0012);
/// `SYSTEM_RESET2`, SMC64 form.
pub const PSCI_SYSTEM_RESET2_64: FunctionId = FunctionId(0xC400_0012);
/// `MEM_PROTECT` (PSCI, DEN0022; SMC32 only).
pub const PSCI_MEM_PROTECT: FunctionId = FunctionId(0x8400_0013);
/// `MEM_PROTECT_CHECK_RANGE` (PSCI, DEN0022), SMC32 form.
pub const PSCI_MEM_PROTECT_CHECK_RANGE: FunctionId = FunctionId(0x8400_0014);
/// `MEM_PROTECT_CHECK_RANGE`, SMC64 form.
pub const PSCI_MEM_PROTECT_CHECK_RANGE_64: FunctionId = FunctionId(0xC400_0014);
/// `SYSTEM_OFF2` (PSCI, DEN0022), SMC32 form.
pub const PSCI_SYSTEM_OFF2: FunctionId = FunctionId(0x8400_0015);
/// `SYSTEM_OFF2`, SMC64 form.
pub const PSCI_SYSTEM_OFF2_64: FunctionId = FunctionId(0xC400_0015);

/// First function number of TRNG in OEN 4 (`0x50`; DEN0098 uses `0x50..=0x53`).
pub const TRNG_FIRST_NUMBER: u16 = 0x50;
/// Last function number TRNG 1.0 uses.
pub const TRNG_LAST_NUMBER: u16 = 0x53;
/// `TRNG_VERSION` (DEN0098).
pub const TRNG_VERSION: FunctionId = FunctionId(0x8400_0050);
/// `TRNG_FEATURES`.
pub const TRNG_FEATURES: FunctionId = FunctionId(0x8400_0051);
/// `TRNG_GET_UUID`.
pub const TRNG_GET_UUID: FunctionId = FunctionId(0x8400_0052);
/// `TRNG_RND32` (entropy in `W1..W3`).
pub const TRNG_RND32: FunctionId = FunctionId(0x8400_0053);
/// `TRNG_RND64` (entropy in `X1..X3`).
pub const TRNG_RND64: FunctionId = FunctionId(0xC400_0053);

/// `PV_TIME_FEATURES` (DEN0057A).
pub const PV_TIME_FEATURES: FunctionId = FunctionId(0xC500_0020);
/// `PV_TIME_ST` (DEN0057A).
pub const PV_TIME_ST: FunctionId = FunctionId(0xC500_0021);
/// `PV_TIME_LPT` (the withdrawn live-physical-time call, 2020 revision).
pub const PV_TIME_LPT: FunctionId = FunctionId(0xC500_0022);

/// Every named ID with its name, grouped by owner and convention.
pub const NAMES: &[(FunctionId, &str)] = &[
    (SMCCC_VERSION, "SMCCC_VERSION"),
    (SMCCC_ARCH_FEATURES, "SMCCC_ARCH_FEATURES"),
    (SMCCC_ARCH_SOC_ID, "SMCCC_ARCH_SOC_ID"),
    (SMCCC_ARCH_WORKAROUND_4, "SMCCC_ARCH_WORKAROUND_4"),
    (SMCCC_ARCH_WORKAROUND_3, "SMCCC_ARCH_WORKAROUND_3"),
    (SMCCC_ARCH_WORKAROUND_2, "SMCCC_ARCH_WORKAROUND_2"),
    (SMCCC_ARCH_WORKAROUND_1, "SMCCC_ARCH_WORKAROUND_1"),
    (call_count(0), "SMCCC_ARCH_CALL_COUNT"),
    (call_uid(0), "SMCCC_ARCH_CALL_UID"),
    (revision(0), "SMCCC_ARCH_REVISION"),
    (PSCI_VERSION, "PSCI_VERSION"),
    (PSCI_CPU_SUSPEND, "PSCI_CPU_SUSPEND"),
    (PSCI_CPU_OFF, "PSCI_CPU_OFF"),
    (PSCI_CPU_ON, "PSCI_CPU_ON"),
    (PSCI_AFFINITY_INFO, "PSCI_AFFINITY_INFO"),
    (PSCI_MIGRATE, "PSCI_MIGRATE"),
    (PSCI_MIGRATE_INFO_TYPE, "PSCI_MIGRATE_INFO_TYPE"),
    (PSCI_MIGRATE_INFO_UP_CPU, "PSCI_MIGRATE_INFO_UP_CPU"),
    (PSCI_SYSTEM_OFF, "PSCI_SYSTEM_OFF"),
    (PSCI_SYSTEM_RESET, "PSCI_SYSTEM_RESET"),
    (PSCI_FEATURES, "PSCI_FEATURES"),
    (PSCI_CPU_FREEZE, "PSCI_CPU_FREEZE"),
    (PSCI_CPU_DEFAULT_SUSPEND, "PSCI_CPU_DEFAULT_SUSPEND"),
    (PSCI_NODE_HW_STATE, "PSCI_NODE_HW_STATE"),
    (PSCI_SYSTEM_SUSPEND, "PSCI_SYSTEM_SUSPEND"),
    (PSCI_SET_SUSPEND_MODE, "PSCI_SET_SUSPEND_MODE"),
    (PSCI_STAT_RESIDENCY, "PSCI_STAT_RESIDENCY"),
    (PSCI_STAT_COUNT, "PSCI_STAT_COUNT"),
    (PSCI_SYSTEM_RESET2, "PSCI_SYSTEM_RESET2"),
    (PSCI_MEM_PROTECT, "PSCI_MEM_PROTECT"),
    (PSCI_MEM_PROTECT_CHECK_RANGE, "PSCI_MEM_PROTECT_CHECK_RANGE"),
    (PSCI_SYSTEM_OFF2, "PSCI_SYSTEM_OFF2"),
    (TRNG_VERSION, "TRNG_VERSION"),
    (TRNG_FEATURES, "TRNG_FEATURES"),
    (TRNG_GET_UUID, "TRNG_GET_UUID"),
    (TRNG_RND32, "TRNG_RND32"),
    (call_count(5), "STD_HYP_CALL_COUNT"),
    (call_uid(5), "STD_HYP_CALL_UID"),
    (revision(5), "STD_HYP_REVISION"),
    (call_uid(6), "VENDOR_HYP_CALL_UID"),
    (SMCCC_ARCH_SOC_ID_64, "SMCCC_ARCH_SOC_ID_64"),
    (
        SMCCC_ARCH_FEATURE_AVAILABILITY,
        "SMCCC_ARCH_FEATURE_AVAILABILITY",
    ),
    (PSCI_CPU_SUSPEND_64, "PSCI_CPU_SUSPEND_64"),
    (PSCI_CPU_ON_64, "PSCI_CPU_ON_64"),
    (PSCI_AFFINITY_INFO_64, "PSCI_AFFINITY_INFO_64"),
    (PSCI_MIGRATE_64, "PSCI_MIGRATE_64"),
    (PSCI_MIGRATE_INFO_UP_CPU_64, "PSCI_MIGRATE_INFO_UP_CPU_64"),
    (PSCI_CPU_DEFAULT_SUSPEND_64, "PSCI_CPU_DEFAULT_SUSPEND_64"),
    (PSCI_NODE_HW_STATE_64, "PSCI_NODE_HW_STATE_64"),
    (PSCI_SYSTEM_SUSPEND_64, "PSCI_SYSTEM_SUSPEND_64"),
    (PSCI_STAT_RESIDENCY_64, "PSCI_STAT_RESIDENCY_64"),
    (PSCI_STAT_COUNT_64, "PSCI_STAT_COUNT_64"),
    (PSCI_SYSTEM_RESET2_64, "PSCI_SYSTEM_RESET2_64"),
    (
        PSCI_MEM_PROTECT_CHECK_RANGE_64,
        "PSCI_MEM_PROTECT_CHECK_RANGE_64",
    ),
    (PSCI_SYSTEM_OFF2_64, "PSCI_SYSTEM_OFF2_64"),
    (SDEI_VERSION, "SDEI_VERSION"),
    (SDEI_EVENT_REGISTER, "SDEI_EVENT_REGISTER"),
    (SDEI_EVENT_ENABLE, "SDEI_EVENT_ENABLE"),
    (SDEI_EVENT_DISABLE, "SDEI_EVENT_DISABLE"),
    (SDEI_EVENT_CONTEXT, "SDEI_EVENT_CONTEXT"),
    (SDEI_EVENT_COMPLETE, "SDEI_EVENT_COMPLETE"),
    (
        SDEI_EVENT_COMPLETE_AND_RESUME,
        "SDEI_EVENT_COMPLETE_AND_RESUME",
    ),
    (SDEI_EVENT_UNREGISTER, "SDEI_EVENT_UNREGISTER"),
    (SDEI_EVENT_STATUS, "SDEI_EVENT_STATUS"),
    (SDEI_EVENT_GET_INFO, "SDEI_EVENT_GET_INFO"),
    (SDEI_EVENT_ROUTING_SET, "SDEI_EVENT_ROUTING_SET"),
    (SDEI_PE_MASK, "SDEI_PE_MASK"),
    (SDEI_PE_UNMASK, "SDEI_PE_UNMASK"),
    (SDEI_INTERRUPT_BIND, "SDEI_INTERRUPT_BIND"),
    (SDEI_INTERRUPT_RELEASE, "SDEI_INTERRUPT_RELEASE"),
    (SDEI_EVENT_SIGNAL, "SDEI_EVENT_SIGNAL"),
    (SDEI_FEATURES, "SDEI_FEATURES"),
    (SDEI_PRIVATE_RESET, "SDEI_PRIVATE_RESET"),
    (SDEI_SHARED_RESET, "SDEI_SHARED_RESET"),
    (TRNG_RND64, "TRNG_RND64"),
    (PV_TIME_FEATURES, "PV_TIME_FEATURES"),
    (PV_TIME_ST, "PV_TIME_ST"),
    (PV_TIME_LPT, "PV_TIME_LPT"),
];

/// The spec name of a function ID, if fwcall knows it. The SVE hint bit is
/// ignored.
pub fn name(id: FunctionId) -> Option<&'static str> {
    let id = id.without_sve_hint();
    NAMES.iter().find(|(f, _)| *f == id).map(|(_, n)| *n)
}

/// The function ID with the given spec name (exact, upper case).
pub fn by_name(name: &str) -> Option<FunctionId> {
    NAMES.iter().find(|(_, n)| *n == name).map(|(f, _)| *f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        for (i, (id, n)) in NAMES.iter().enumerate() {
            assert_eq!(name(*id), Some(*n));
            assert_eq!(by_name(n), Some(*id));
            for (other, m) in &NAMES[i + 1..] {
                assert_ne!(id, other, "{n} and {m} share an ID");
            }
        }
    }

    #[test]
    fn psci_and_trng_ids_are_standard_secure_fast_calls() {
        for (id, n) in NAMES
            .iter()
            .filter(|(_, n)| n.starts_with("PSCI_") || n.starts_with("TRNG_"))
        {
            assert_eq!(id.owner(), crate::Owner::StandardSecure, "{n}");
            assert_eq!(id.call_type(), crate::CallType::Fast, "{n}");
            let smc64 = n.ends_with("_64") || *n == "TRNG_RND64";
            assert_eq!(id.convention() == crate::Convention::Smc64, smc64, "{n}");
            if n.starts_with("PSCI_") {
                assert!(id.number() <= PSCI_LAST_NUMBER, "{n}");
            } else {
                assert!(
                    (TRNG_FIRST_NUMBER..=TRNG_LAST_NUMBER).contains(&id.number()),
                    "{n}"
                );
            }
        }
        assert_eq!(PSCI_CPU_ON_64.alias(), PSCI_CPU_ON);
        assert_eq!(TRNG_RND64.alias(), TRNG_RND32);
    }

    #[test]
    fn sdei_ids_are_the_smc64_standard_secure_range() {
        assert_eq!(SDEI_SHARED_RESET.raw() - SDEI_VERSION.raw(), 0x12);
        for (id, n) in NAMES.iter().filter(|(_, n)| n.starts_with("SDEI_")) {
            assert_eq!(id.owner(), crate::Owner::StandardSecure, "{n}");
            assert_eq!(id.convention(), crate::Convention::Smc64, "{n}");
        }
    }
}
