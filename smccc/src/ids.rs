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

/// `PV_TIME_FEATURES` (DEN0057A).
pub const PV_TIME_FEATURES: FunctionId = FunctionId(0xC500_0020);
/// `PV_TIME_ST` (DEN0057A).
pub const PV_TIME_ST: FunctionId = FunctionId(0xC500_0021);
/// `PV_TIME_LPT` (the withdrawn live-physical-time call, 2020 revision).
pub const PV_TIME_LPT: FunctionId = FunctionId(0xC500_0022);

/// Every named ID with its name, in ascending order of ID.
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
    (call_count(5), "STD_HYP_CALL_COUNT"),
    (call_uid(5), "STD_HYP_CALL_UID"),
    (revision(5), "STD_HYP_REVISION"),
    (call_uid(6), "VENDOR_HYP_CALL_UID"),
    (SMCCC_ARCH_SOC_ID_64, "SMCCC_ARCH_SOC_ID_64"),
    (
        SMCCC_ARCH_FEATURE_AVAILABILITY,
        "SMCCC_ARCH_FEATURE_AVAILABILITY",
    ),
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
    fn sdei_ids_are_the_smc64_standard_secure_range() {
        assert_eq!(SDEI_SHARED_RESET.raw() - SDEI_VERSION.raw(), 0x12);
        for (id, n) in NAMES.iter().filter(|(_, n)| n.starts_with("SDEI_")) {
            assert_eq!(id.owner(), crate::Owner::StandardSecure, "{n}");
            assert_eq!(id.convention(), crate::Convention::Smc64, "{n}");
        }
    }
}
