//! PSCI return codes (DEN0022; identical in Linux's UAPI header, TF-A and
//! Google's `smccc` crate), and the `AFFINITY_INFO` states.

/// `SUCCESS`.
pub const SUCCESS: i64 = 0;
/// `NOT_SUPPORTED`: the function is not implemented at this version.
pub const NOT_SUPPORTED: i64 = -1;
/// `INVALID_PARAMETERS`: a bad MPIDR, affinity level, power state or reset type.
pub const INVALID_PARAMETERS: i64 = -2;
/// `DENIED`.
pub const DENIED: i64 = -3;
/// `ALREADY_ON`: the `CPU_ON` target is on.
pub const ALREADY_ON: i64 = -4;
/// `ON_PENDING`: the `CPU_ON` target is being powered on.
pub const ON_PENDING: i64 = -5;
/// `INTERNAL_FAILURE`: written to `X0` before a system request, so a guest
/// resumed by a VMM that declined it sees a failure, as under KVM.
pub const INTERNAL_FAILURE: i64 = -6;
/// `NOT_PRESENT`.
pub const NOT_PRESENT: i64 = -7;
/// `DISABLED`.
pub const DISABLED: i64 = -8;
/// `INVALID_ADDRESS`: a `CPU_ON` entry point that cannot be an AArch64 PC in RAM.
pub const INVALID_ADDRESS: i64 = -9;

/// `AFFINITY_INFO`: at least one matching PE is on.
pub const AFFINITY_ON: u64 = 0;
/// `AFFINITY_INFO`: every matching PE is off.
pub const AFFINITY_OFF: u64 = 1;
/// `AFFINITY_INFO`: a matching PE is being powered on.
pub const AFFINITY_ON_PENDING: u64 = 2;

/// `MIGRATE_INFO_TYPE`: no Trusted OS that needs migrating (so `MIGRATE`
/// and `MIGRATE_INFO_UP_CPU` are not implemented).
pub const MIGRATE_NOT_REQUIRED: u64 = 2;

/// The name of a PSCI return code, for traces and logs.
///
/// ```
/// assert_eq!(fwcall_psci::codes::name(-9), Some("INVALID_ADDRESS"));
/// assert_eq!(fwcall_psci::codes::name(-11), None);
/// ```
pub const fn name(code: i64) -> Option<&'static str> {
    Some(match code {
        SUCCESS => "SUCCESS",
        NOT_SUPPORTED => "NOT_SUPPORTED",
        INVALID_PARAMETERS => "INVALID_PARAMETERS",
        DENIED => "DENIED",
        ALREADY_ON => "ALREADY_ON",
        ON_PENDING => "ON_PENDING",
        INTERNAL_FAILURE => "INTERNAL_FAILURE",
        NOT_PRESENT => "NOT_PRESENT",
        DISABLED => "DISABLED",
        INVALID_ADDRESS => "INVALID_ADDRESS",
        _ => return None,
    })
}
