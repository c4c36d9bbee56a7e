//! SMCCC return codes (DEN0028, ex-DEN0070A).

/// `SUCCESS`.
pub const SUCCESS: i64 = 0;
/// `NOT_SUPPORTED`: the function is not implemented (or not for this caller).
pub const NOT_SUPPORTED: i64 = -1;
/// `NOT_REQUIRED`: the call is implemented but not needed on this system.
pub const NOT_REQUIRED: i64 = -2;
/// `INVALID_PARAMETER`: an argument is out of range.
pub const INVALID_PARAMETER: i64 = -3;

/// The SMCCC error codes, as a typed error.
///
/// Converts losslessly to the sign-extended 64-bit value written to `X0`
/// ([`ReturnCode::to_x0`]) and back ([`ReturnCode::try_from`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum ReturnCode {
    /// -1: nobody serves this function ID (or it is malformed).
    #[error("NOT_SUPPORTED (-1): the function is not implemented for this guest")]
    NotSupported,
    /// -2: implemented but not required here.
    #[error("NOT_REQUIRED (-2): the function is implemented but not needed")]
    NotRequired,
    /// -3: an argument is invalid.
    #[error("INVALID_PARAMETER (-3): an argument is out of range")]
    InvalidParameter,
}

impl ReturnCode {
    /// The signed value.
    pub const fn value(self) -> i64 {
        match self {
            ReturnCode::NotSupported => NOT_SUPPORTED,
            ReturnCode::NotRequired => NOT_REQUIRED,
            ReturnCode::InvalidParameter => INVALID_PARAMETER,
        }
    }

    /// The value as written to `X0`: sign-extended to 64 bits.
    pub const fn to_x0(self) -> u64 {
        self.value() as u64
    }

    /// The spec's name.
    pub const fn name(self) -> &'static str {
        match self {
            ReturnCode::NotSupported => "NOT_SUPPORTED",
            ReturnCode::NotRequired => "NOT_REQUIRED",
            ReturnCode::InvalidParameter => "INVALID_PARAMETER",
        }
    }
}

/// A value that is not one of the SMCCC error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not an SMCCC error code (expected -1, -2 or -3)")]
pub struct NotAnError(pub i64);

impl TryFrom<i64> for ReturnCode {
    type Error = NotAnError;

    fn try_from(v: i64) -> Result<Self, Self::Error> {
        match v {
            NOT_SUPPORTED => Ok(ReturnCode::NotSupported),
            NOT_REQUIRED => Ok(ReturnCode::NotRequired),
            INVALID_PARAMETER => Ok(ReturnCode::InvalidParameter),
            other => Err(NotAnError(other)),
        }
    }
}

impl TryFrom<u64> for ReturnCode {
    type Error = NotAnError;

    /// Accepts both a sign-extended `X0` and a 32-bit `W0` result.
    fn try_from(v: u64) -> Result<Self, Self::Error> {
        let wide = v as i64;
        ReturnCode::try_from(wide)
            .or_else(|_| ReturnCode::try_from(v as u32 as i32 as i64).map_err(|_| NotAnError(wide)))
    }
}

impl From<ReturnCode> for i64 {
    fn from(c: ReturnCode) -> i64 {
        c.value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_through_x0() {
        for c in [
            ReturnCode::NotSupported,
            ReturnCode::NotRequired,
            ReturnCode::InvalidParameter,
        ] {
            assert_eq!(ReturnCode::try_from(c.to_x0()), Ok(c));
            assert_eq!(ReturnCode::try_from(c.value()), Ok(c));
            assert_eq!(
                ReturnCode::try_from(c.to_x0() as u32 as u64),
                Ok(c),
                "W0 form"
            );
        }
        assert_eq!(ReturnCode::NotSupported.to_x0(), 0xffff_ffff_ffff_ffff);
        assert_eq!(ReturnCode::try_from(0i64), Err(NotAnError(0)));
        assert_eq!(ReturnCode::try_from(-4i64), Err(NotAnError(-4)));
    }
}
