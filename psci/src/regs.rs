//! How many argument registers each PSCI function reads and how many
//! result registers its replies write, for an embedding that moves
//! registers one by one (one `KVM_GET/SET_ONE_REG` each). The numbers live
//! in one place, `fwcall_smccc::budget::PSCI`, which the dispatcher and
//! the KVM adapter read; this module names them from PSCI's side.

use fwcall_smccc::FunctionId;
use fwcall_smccc::budget::{self, Budget};

/// Every function fwcall's PSCI implements at some version, with the
/// argument registers it reads from `X1` on and the result registers it
/// writes from `X0` on (`fwcall_smccc::budget::PSCI`). A reply writes at
/// most that many (`CPU_OFF` writes none when it succeeds; an error writes
/// `X0` only).
pub const REGISTER_USE: &[Budget] = budget::PSCI;

/// `(arguments, results)` for `fid`: its [`REGISTER_USE`] row, or `(0, 1)`
/// (`NOT_SUPPORTED` in `X0`) for any other ID.
///
/// ```
/// use fwcall_smccc::ids;
/// assert_eq!(fwcall_psci::register_use(ids::PSCI_CPU_ON_64), (3, 1));
/// assert_eq!(fwcall_psci::register_use(ids::PSCI_MIGRATE), (0, 1));
/// ```
pub fn register_use(fid: FunctionId) -> (u8, u8) {
    REGISTER_USE
        .iter()
        .find(|b| b.fid == fid)
        .map_or((0, 1), |b| (b.args, b.writes))
}
