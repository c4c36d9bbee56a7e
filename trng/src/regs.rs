//! How many argument registers each TRNG function reads and how many
//! result registers its successful reply writes. The numbers live in one
//! place, `fwcall_smccc::budget::TRNG`, which the dispatcher and the KVM
//! adapter read; this module names them from TRNG's side.

use fwcall_smccc::FunctionId;
use fwcall_smccc::budget::{self, Budget};

/// The five TRNG 1.0 functions, with the argument registers each reads
/// from `X1` on and the result registers its success writes from `X0` on
/// (`fwcall_smccc::budget::TRNG`). Errors write `X0` only.
pub const REGISTER_USE: &[Budget] = budget::TRNG;

/// `(arguments, results)` for `fid`: its [`REGISTER_USE`] row, or `(0, 1)`
/// (`NOT_SUPPORTED` in `X0`) for any other ID.
///
/// ```
/// use fwcall_smccc::ids;
/// assert_eq!(fwcall_trng::register_use(ids::TRNG_RND64), (1, 4));
/// ```
pub fn register_use(fid: FunctionId) -> (u8, u8) {
    REGISTER_USE
        .iter()
        .find(|b| b.fid == fid)
        .map_or((0, 1), |b| (b.args, b.writes))
}
