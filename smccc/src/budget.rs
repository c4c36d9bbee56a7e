//! The register budget of every function fwcall serves: how many argument
//! registers (`X1..Xn`) the function reads, and how many registers its
//! reply writes at most.
//!
//! A KVM VMM pays one `KVM_GET_ONE_REG` or `KVM_SET_ONE_REG` ioctl per
//! register (arm64 has no bulk register access), each worth a hundred
//! fwcall calls, so the KVM adapter reads and writes exactly what these
//! tables say and nothing else. The tables are the single source: the
//! adapter decodes with them, the tests count against them, and
//! `fwcall bench` reports every served function against its row.
//!
//! One table per service, one row per function, in function-number order.
//! The services every VM may serve are in [`TABLES`]; PSCI and TRNG, which
//! a VM serves only when configured (and which the KVM adapter's own tests
//! do not cover yet), are in [`OPT_IN_TABLES`]; [`all`] walks both. The
//! counts are what fwcall's implementation consumes,
//! which is what the specifications define except where DESIGN.md records
//! that fwcall accepts and ignores an argument (then the row reads 0 and
//! says so): DEN0028 §2 for the Arm Architecture calls, DEN0054 §5 (the
//! function table of `shared/spec/sdei.md` §2) for SDEI, DEN0057A §3 and
//! the 2020 LPT RFC for PV time, DEN0022 §5 for PSCI and DEN0098 §2 for
//! TRNG (`shared/spec/psci-trng.md` §3 and §9).
//!
//! ```
//! use fwcall_smccc::{budget, ids};
//!
//! let register = budget::lookup(ids::SDEI_EVENT_REGISTER).unwrap();
//! assert_eq!((register.args, register.writes), (5, 1));
//! assert_eq!(budget::lookup(ids::SDEI_PE_MASK).unwrap().args, 0);
//! assert_eq!(budget::lookup(ids::SDEI_EVENT_COMPLETE).unwrap().writes, budget::RESTORE);
//! ```

use crate::{FunctionId, Owner, ids};

/// One function's register budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Budget {
    /// The function (SVE hint clear).
    pub fid: FunctionId,
    /// Argument registers read: `X1..=X(args)`.
    pub args: u8,
    /// Registers the reply writes at most: `X0..` for a return, or
    /// [`RESTORE`]/[`RESTORE_EL1`] for a call that replaces the context.
    pub writes: u8,
}

const fn row(fid: FunctionId, args: u8, writes: u8) -> Budget {
    Budget { fid, args, writes }
}

/// Writes of a reply that restores a whole context (`SDEI_EVENT_COMPLETE`):
/// `X0..X17`, `PC` and `PSTATE`.
pub const RESTORE: u8 = 18 + 2;
/// [`RESTORE`] plus `ELR_EL1` and `SPSR_EL1` (`SDEI_EVENT_COMPLETE_AND_RESUME`).
pub const RESTORE_EL1: u8 = RESTORE + 2;

/// Reads of an SDEI handler entry (DEN0054 §12, digest §12): the
/// interrupted `X0..X17`, `PC`, `PSTATE`, and `SCTLR_EL1` when a guest CPU
/// feature makes the entry `PSTATE` depend on it (PAN, SSBS, NMI).
pub const DELIVERY_READS: u8 = 18 + 2 + 1;
/// Writes of an SDEI handler entry: `X0..X3` (event, argument, interrupted
/// PC and PSTATE), `PC` and `PSTATE`. `X4..X17` keep the interrupted values.
pub const DELIVERY_WRITES: u8 = 4 + 2;

/// The Arm Architecture calls (OEN 0, DEN0028 §2 and §7). The general
/// queries of OEN 0 are not served.
pub const ARCH: &[Budget] = &[
    row(ids::SMCCC_VERSION, 0, 1),
    // W1 = the queried function ID.
    row(ids::SMCCC_ARCH_FEATURES, 1, 1),
    // W1 = the selector (0 version, 1 revision).
    row(ids::SMCCC_ARCH_SOC_ID, 1, 1),
    row(ids::SMCCC_ARCH_WORKAROUND_3, 0, 1),
    // W1 is the enable flag, which fwcall accepts and ignores (DESIGN.md).
    row(ids::SMCCC_ARCH_WORKAROUND_2, 0, 1),
    row(ids::SMCCC_ARCH_WORKAROUND_1, 0, 1),
];

/// SDEI (DEN0054), indexed by function number − `0x20`.
pub const SDEI: [Budget; 19] = [
    row(ids::SDEI_VERSION, 0, 1),
    // Event, entry point, argument, flags, affinity.
    row(ids::SDEI_EVENT_REGISTER, 5, 1),
    row(ids::SDEI_EVENT_ENABLE, 1, 1),
    row(ids::SDEI_EVENT_DISABLE, 1, 1),
    // Register index.
    row(ids::SDEI_EVENT_CONTEXT, 1, 1),
    // X1 is the status (handled/failed), which fwcall accepts and ignores
    // (DESIGN.md); the reply is the restored context, or X0 = DENIED.
    row(ids::SDEI_EVENT_COMPLETE, 0, RESTORE),
    // Resume address; the reply also writes ELR_EL1 and SPSR_EL1.
    row(ids::SDEI_EVENT_COMPLETE_AND_RESUME, 1, RESTORE_EL1),
    row(ids::SDEI_EVENT_UNREGISTER, 1, 1),
    row(ids::SDEI_EVENT_STATUS, 1, 1),
    // Event, info selector.
    row(ids::SDEI_EVENT_GET_INFO, 2, 1),
    // Event, routing mode, affinity.
    row(ids::SDEI_EVENT_ROUTING_SET, 3, 1),
    row(ids::SDEI_PE_MASK, 0, 1),
    row(ids::SDEI_PE_UNMASK, 0, 1),
    // INTID.
    row(ids::SDEI_INTERRUPT_BIND, 1, 1),
    row(ids::SDEI_INTERRUPT_RELEASE, 1, 1),
    // Event, target PE.
    row(ids::SDEI_EVENT_SIGNAL, 2, 1),
    // Feature selector.
    row(ids::SDEI_FEATURES, 1, 1),
    row(ids::SDEI_PRIVATE_RESET, 0, 1),
    row(ids::SDEI_SHARED_RESET, 0, 1),
];

/// PV time (DEN0057A §3, and `PV_TIME_LPT` from the 2020 RFC), indexed by
/// function number − `0x20`.
pub const PV_TIME: [Budget; 3] = [
    // W1 = the queried function ID.
    row(ids::PV_TIME_FEATURES, 1, 1),
    row(ids::PV_TIME_ST, 0, 1),
    row(ids::PV_TIME_LPT, 0, 1),
];

/// The general queries of the Standard Hypervisor Service (OEN 5, SMCCC
/// §6): Call Count in `W0`, the UID in `W0..W3`, the revision in `W0`
/// (major) and `W1` (minor).
pub const STD_HYP_QUERIES: &[Budget] = &[
    row(ids::call_count(5), 0, 1),
    row(ids::call_uid(5), 0, 4),
    row(ids::revision(5), 0, 2),
];

/// PSCI (DEN0022), every function fwcall's PSCI implements at some
/// version (1.1 serves them all), in function-number order, SMC32 before
/// SMC64. Results are `X0` only (`CPU_OFF` writes nothing when it
/// succeeds): `X1..X3` keep their values (DESIGN.md).
pub const PSCI: &[Budget] = &[
    row(ids::PSCI_VERSION, 0, 1),
    // W1 = power_state. The entry point and context ID of a power-down
    // state are accepted and ignored: every state is standby (DESIGN.md).
    row(ids::PSCI_CPU_SUSPEND, 1, 1),
    row(ids::PSCI_CPU_SUSPEND_64, 1, 1),
    // X1 (Linux passes 0x10000) is ignored.
    row(ids::PSCI_CPU_OFF, 0, 1),
    // Target MPIDR, entry point, context ID.
    row(ids::PSCI_CPU_ON, 3, 1),
    row(ids::PSCI_CPU_ON_64, 3, 1),
    // Target affinity, lowest affinity level.
    row(ids::PSCI_AFFINITY_INFO, 2, 1),
    row(ids::PSCI_AFFINITY_INFO_64, 2, 1),
    row(ids::PSCI_MIGRATE_INFO_TYPE, 0, 1),
    row(ids::PSCI_SYSTEM_OFF, 0, 1),
    row(ids::PSCI_SYSTEM_RESET, 0, 1),
    // W1 = the queried function ID.
    row(ids::PSCI_FEATURES, 1, 1),
    // Reset type, cookie.
    row(ids::PSCI_SYSTEM_RESET2, 2, 1),
    row(ids::PSCI_SYSTEM_RESET2_64, 2, 1),
];

/// TRNG 1.0 (DEN0098). A successful `GET_UUID`, `RND32` or `RND64` writes
/// `X0..X3`; errors write `X0` only.
pub const TRNG: &[Budget] = &[
    row(ids::TRNG_VERSION, 0, 1),
    // W1 = the queried function ID.
    row(ids::TRNG_FEATURES, 1, 1),
    row(ids::TRNG_GET_UUID, 0, 4),
    // W1 = N, the number of bits.
    row(ids::TRNG_RND32, 1, 4),
    row(ids::TRNG_RND64, 1, 4),
];

/// Every table of the services any VM may serve, for reports and tests.
pub const TABLES: &[(&str, &[Budget])] = &[
    ("Arm Architecture", ARCH),
    ("SDEI", &SDEI),
    ("PV time", &PV_TIME),
    ("Standard Hypervisor queries", STD_HYP_QUERIES),
];

/// The tables of the services a VM serves only when configured to (both
/// off by default): PSCI and TRNG.
pub const OPT_IN_TABLES: &[(&str, &[Budget])] = &[("PSCI", PSCI), ("TRNG", TRNG)];

/// Every table: [`TABLES`], then [`OPT_IN_TABLES`].
///
/// ```
/// use fwcall_smccc::{budget, ids};
/// assert!(budget::all().any(|(_, rows)| rows.iter().any(|b| b.fid == ids::TRNG_RND64)));
/// ```
pub fn all() -> impl Iterator<Item = &'static (&'static str, &'static [Budget])> {
    TABLES.iter().chain(OPT_IN_TABLES)
}

/// The budget of `fid` (already stripped of the SVE hint), if fwcall
/// serves such a function. Whether a given VM serves it (feature words,
/// configuration) is the VM's question: an unserved call reads nothing.
pub fn lookup(fid: FunctionId) -> Option<&'static Budget> {
    let indexed = |table: &'static [Budget], base: u32| {
        let i = fid.raw().checked_sub(base)?;
        table.get(i as usize).filter(|b| b.fid == fid)
    };
    match fid.owner() {
        Owner::Arch => ARCH.iter().find(|b| b.fid == fid),
        Owner::StandardSecure => match fid.number() {
            ids::PSCI_FIRST_NUMBER..=ids::PSCI_LAST_NUMBER => PSCI.iter().find(|b| b.fid == fid),
            ids::TRNG_FIRST_NUMBER..=ids::TRNG_LAST_NUMBER => TRNG.iter().find(|b| b.fid == fid),
            _ => indexed(&SDEI, ids::SDEI_VERSION.raw()),
        },
        Owner::StandardHypervisor => indexed(&PV_TIME, ids::PV_TIME_FEATURES.raw())
            .or_else(|| STD_HYP_QUERIES.iter().find(|b| b.fid == fid)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_is_found_and_indexed_tables_are_in_order() {
        for (name, table) in all() {
            for b in *table {
                assert_eq!(lookup(b.fid), Some(b), "{name}: {:?}", b.fid);
                assert!(b.args <= 17 && b.writes >= 1, "{name}: {b:?}");
                assert!(crate::ids::name(b.fid).is_some(), "{:?} has a name", b.fid);
            }
        }
        for (i, b) in SDEI.iter().enumerate() {
            assert_eq!(b.fid.raw(), 0xC400_0020 + i as u32);
        }
        for (i, b) in PV_TIME.iter().enumerate() {
            assert_eq!(b.fid.raw(), 0xC500_0020 + i as u32);
        }
    }

    #[test]
    fn unserved_ids_have_no_budget() {
        for fid in [
            0x8400_0021u32, // SMC32 alias of SDEI_EVENT_REGISTER
            0xC400_0033,    // past SDEI_SHARED_RESET
            0xC400_001F,    // PSCI's range, unimplemented
            0xC400_0000,    // SMC64 form of PSCI_VERSION
            0x8400_0005,    // PSCI MIGRATE: NOT_SUPPORTED
            0xC400_0050,    // SMC64 form of TRNG_VERSION
            0x8400_0054,    // past TRNG 1.0
            0x8500_0020,    // SMC32 alias of PV_TIME_FEATURES
            0xC500_0023,
            0xC500_FF00, // SMC64 form of the general query
            0x8000_FF00, // OEN 0 general queries are not served
            0xC600_0000,
        ] {
            assert_eq!(lookup(FunctionId(fid)), None, "{fid:#x}");
        }
    }

    #[test]
    fn the_counts_the_issue_names() {
        let args = |f| lookup(f).map(|b| b.args);
        assert_eq!(args(ids::SDEI_PE_MASK), Some(0));
        assert_eq!(args(ids::SDEI_EVENT_CONTEXT), Some(1));
        assert_eq!(args(ids::SDEI_EVENT_REGISTER), Some(5));
        assert_eq!(args(ids::PV_TIME_ST), Some(0));
        assert_eq!(args(ids::PSCI_CPU_ON_64), Some(3));
        assert_eq!(args(ids::PSCI_CPU_SUSPEND), Some(1));
        assert_eq!(
            lookup(ids::TRNG_RND64).map(|b| (b.args, b.writes)),
            Some((1, 4))
        );
        assert_eq!(
            lookup(ids::SDEI_EVENT_COMPLETE_AND_RESUME).map(|b| b.writes),
            Some(RESTORE_EL1)
        );
    }
}
