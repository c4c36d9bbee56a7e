//! How many argument registers each TRNG function reads and how many
//! result registers its successful reply writes.

use fwcall_smccc::{FunctionId, ids};

/// `(function, argument registers read from X1 on, result registers
/// written from X0 on)` for the five TRNG 1.0 functions. Errors write `X0`
/// only.
pub const REGISTER_USE: &[(FunctionId, u8, u8)] = &[
    (ids::TRNG_VERSION, 0, 1),
    (ids::TRNG_FEATURES, 1, 1),
    (ids::TRNG_GET_UUID, 0, 4),
    (ids::TRNG_RND32, 1, 4),
    (ids::TRNG_RND64, 1, 4),
];

/// `(arguments, results)` for `fid`: its [`REGISTER_USE`] row, or `(0, 1)`
/// (`NOT_SUPPORTED` in `X0`) for any other ID.
///
/// ```
/// use fwcall_smccc::ids;
/// assert_eq!(fwcall_trng::register_use(ids::TRNG_RND64), (1, 4));
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
