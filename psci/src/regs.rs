//! How many argument registers each PSCI function reads and how many
//! result registers its replies write, for an embedding that moves
//! registers one by one (one `KVM_GET/SET_ONE_REG` each).

use fwcall_smccc::{FunctionId, ids};

/// `(function, argument registers read from X1 on, result registers
/// written from X0 on)` for every function fwcall's PSCI implements at
/// some version. A reply writes at most that many (`CPU_OFF` writes none
/// when it succeeds; an error writes `X0` only).
pub const REGISTER_USE: &[(FunctionId, u8, u8)] = &[
    (ids::PSCI_VERSION, 0, 1),
    (ids::PSCI_CPU_SUSPEND, 3, 1),
    (ids::PSCI_CPU_SUSPEND_64, 3, 1),
    (ids::PSCI_CPU_OFF, 0, 1),
    (ids::PSCI_CPU_ON, 3, 1),
    (ids::PSCI_CPU_ON_64, 3, 1),
    (ids::PSCI_AFFINITY_INFO, 2, 1),
    (ids::PSCI_AFFINITY_INFO_64, 2, 1),
    (ids::PSCI_MIGRATE_INFO_TYPE, 0, 1),
    (ids::PSCI_SYSTEM_OFF, 0, 1),
    (ids::PSCI_SYSTEM_RESET, 0, 1),
    (ids::PSCI_FEATURES, 1, 1),
    (ids::PSCI_SYSTEM_RESET2, 2, 1),
    (ids::PSCI_SYSTEM_RESET2_64, 2, 1),
];

/// `(arguments, results)` for `fid`: its [`REGISTER_USE`] row, or `(0, 1)`
/// (`NOT_SUPPORTED` in `X0`) for any other ID.
///
/// ```
/// use fwcall_smccc::ids;
/// assert_eq!(fwcall_psci::register_use(ids::PSCI_CPU_ON_64), (3, 1));
/// assert_eq!(fwcall_psci::register_use(ids::PSCI_MIGRATE), (0, 1));
/// ```
pub const fn register_use(fid: FunctionId) -> (u8, u8) {
    let mut i = 0;
    while i < REGISTER_USE.len() {
        if REGISTER_USE[i].0.raw() == fid.raw() {
            return (REGISTER_USE[i].1, REGISTER_USE[i].2);
        }
        i += 1;
    }
    (0, 1)
}
