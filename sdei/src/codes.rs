//! SDEI return codes (DEN0054 §3 of the digest), as constants and as a
//! typed error.

/// `SDEI_SUCCESS`.
pub const SDEI_SUCCESS: i64 = 0;
/// `SDEI_NOT_SUPPORTED`: the function does not exist (or not for this caller).
pub const SDEI_NOT_SUPPORTED: i64 = -1;
/// `SDEI_INVALID_PARAMETERS`: an argument is out of range or names nothing.
pub const SDEI_INVALID_PARAMETERS: i64 = -2;
/// `SDEI_DENIED`: the call is not allowed in the current state.
pub const SDEI_DENIED: i64 = -3;
/// `SDEI_PENDING`: the request takes effect once the running handler completes.
pub const SDEI_PENDING: i64 = -5;
/// `SDEI_OUT_OF_RESOURCE`: no free dynamic slot.
pub const SDEI_OUT_OF_RESOURCE: i64 = -10;

/// The SDEI error codes as a typed error.
///
/// Converts losslessly to the sign-extended `X0` value
/// ([`SdeiError::to_x0`]) and back (`TryFrom<i64>`, `TryFrom<u64>`).
///
/// ```
/// use fwcall_sdei::SdeiError;
/// assert_eq!(SdeiError::Denied.value(), -3);
/// assert_eq!(SdeiError::try_from(0xffff_ffff_ffff_fffbu64), Ok(SdeiError::Pending));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub enum SdeiError {
    /// -1.
    #[error("SDEI_NOT_SUPPORTED (-1): the function is not implemented; check the function ID")]
    NotSupported,
    /// -2.
    #[error("SDEI_INVALID_PARAMETERS (-2): an argument is out of range or names an unknown event")]
    InvalidParameters,
    /// -3.
    #[error(
        "SDEI_DENIED (-3): the event's current state forbids this call; check it with EVENT_STATUS"
    )]
    Denied,
    /// -5.
    #[error("SDEI_PENDING (-5): a handler is running; the request completes when it does")]
    Pending,
    /// -10.
    #[error("SDEI_OUT_OF_RESOURCE (-10): no free dynamic slot; release a bound interrupt first")]
    OutOfResource,
}

impl SdeiError {
    /// Every error code, in ascending order of magnitude.
    pub const ALL: [SdeiError; 5] = [
        SdeiError::NotSupported,
        SdeiError::InvalidParameters,
        SdeiError::Denied,
        SdeiError::Pending,
        SdeiError::OutOfResource,
    ];

    /// The signed value.
    pub const fn value(self) -> i64 {
        match self {
            SdeiError::NotSupported => SDEI_NOT_SUPPORTED,
            SdeiError::InvalidParameters => SDEI_INVALID_PARAMETERS,
            SdeiError::Denied => SDEI_DENIED,
            SdeiError::Pending => SDEI_PENDING,
            SdeiError::OutOfResource => SDEI_OUT_OF_RESOURCE,
        }
    }

    /// The value as written to `X0`: sign-extended to 64 bits.
    pub const fn to_x0(self) -> u64 {
        self.value() as u64
    }

    /// The spec's name.
    pub const fn name(self) -> &'static str {
        match self {
            SdeiError::NotSupported => "SDEI_NOT_SUPPORTED",
            SdeiError::InvalidParameters => "SDEI_INVALID_PARAMETERS",
            SdeiError::Denied => "SDEI_DENIED",
            SdeiError::Pending => "SDEI_PENDING",
            SdeiError::OutOfResource => "SDEI_OUT_OF_RESOURCE",
        }
    }
}

/// A value that is not one of the SDEI error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not an SDEI error code (expected -1, -2, -3, -5 or -10)")]
pub struct NotAnSdeiError(pub i64);

impl TryFrom<i64> for SdeiError {
    type Error = NotAnSdeiError;

    fn try_from(v: i64) -> Result<Self, Self::Error> {
        SdeiError::ALL
            .into_iter()
            .find(|e| e.value() == v)
            .ok_or(NotAnSdeiError(v))
    }
}

impl TryFrom<u64> for SdeiError {
    type Error = NotAnSdeiError;

    /// Takes a sign-extended `X0`.
    fn try_from(v: u64) -> Result<Self, Self::Error> {
        SdeiError::try_from(v as i64)
    }
}

impl From<SdeiError> for i64 {
    fn from(e: SdeiError) -> i64 {
        e.value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_have_the_spec_values_and_round_trip() {
        let expected = [
            (SdeiError::NotSupported, -1),
            (SdeiError::InvalidParameters, -2),
        ];
        for (e, v) in expected {
            assert_eq!(e.value(), v);
        }
        assert_eq!(SdeiError::Denied.value(), -3);
        assert_eq!(SdeiError::Pending.value(), -5);
        assert_eq!(SdeiError::OutOfResource.value(), -10);
        for e in SdeiError::ALL {
            assert_eq!(SdeiError::try_from(e.to_x0()), Ok(e));
            assert_eq!(SdeiError::try_from(i64::from(e)), Ok(e));
        }
        for v in [0i64, -4, -6, -9, 1] {
            assert_eq!(SdeiError::try_from(v), Err(NotAnSdeiError(v)));
        }
    }
}
