//! SMCCC versions as `SMCCC_VERSION` reports them.

use core::fmt;

/// An SMCCC version: `major << 16 | minor`, bit 31 clear.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct SmcccVersion {
    /// Major version (15 bits).
    pub major: u16,
    /// Minor version.
    pub minor: u16,
}

impl SmcccVersion {
    /// SMCCC 1.0: no `SMCCC_VERSION` call at all.
    pub const V1_0: Self = Self::new(1, 0);
    /// SMCCC 1.1: `SMCCC_VERSION`, `SMCCC_ARCH_FEATURES`, `WORKAROUND_1`.
    pub const V1_1: Self = Self::new(1, 1);
    /// SMCCC 1.2: `X0..X17` for SMC64, `SMCCC_ARCH_SOC_ID`.
    pub const V1_2: Self = Self::new(1, 2);
    /// SMCCC 1.3: the SVE live-state hint (function ID bit 16).
    pub const V1_3: Self = Self::new(1, 3);
    /// SMCCC 1.4: `SMCCC_ARCH_WORKAROUND_3`; non-zero immediates reserved.
    pub const V1_4: Self = Self::new(1, 4);
    /// The highest version fwcall implements, and the default it reports.
    pub const HIGHEST: Self = Self::V1_4;
    /// Every version fwcall can report.
    pub const SUPPORTED: [Self; 5] = [Self::V1_0, Self::V1_1, Self::V1_2, Self::V1_3, Self::V1_4];

    /// A version from its parts (the major is truncated to 15 bits).
    #[inline]
    pub const fn new(major: u16, minor: u16) -> Self {
        SmcccVersion {
            major: major & 0x7fff,
            minor,
        }
    }

    /// The word `SMCCC_VERSION` returns.
    #[inline]
    pub const fn to_word(self) -> u32 {
        (self.major as u32) << 16 | self.minor as u32
    }

    /// Decodes a version word; `None` if bit 31 is set (a negative result).
    #[inline]
    pub const fn from_word(word: u32) -> Option<Self> {
        if word & 0x8000_0000 != 0 {
            None
        } else {
            Some(Self::new((word >> 16) as u16, word as u16))
        }
    }

    /// Whether this version answers `SMCCC_VERSION`/`SMCCC_ARCH_FEATURES` (1.1+).
    #[inline]
    pub const fn has_arch_calls(self) -> bool {
        self.to_word() >= Self::V1_1.to_word()
    }

    /// Whether SMC64 calls use `X1..X17`/`X0..X17` and `SOC_ID` exists (1.2+).
    #[inline]
    pub const fn has_wide_registers(self) -> bool {
        self.to_word() >= Self::V1_2.to_word()
    }

    /// How many argument registers a call may use: `X1..X17` from 1.2,
    /// `X1..X7` before (six arguments and a client ID; SMC32 `W1..W7`).
    #[inline]
    pub const fn max_arguments(self) -> u8 {
        if self.has_wide_registers() { 17 } else { 7 }
    }

    /// Whether function ID bit 16 is the SVE hint rather than reserved (1.3+).
    #[inline]
    pub const fn has_sve_hint(self) -> bool {
        self.to_word() >= Self::V1_3.to_word()
    }

    /// Whether fwcall can serve this version.
    pub fn is_supported(self) -> bool {
        Self::SUPPORTED.contains(&self)
    }
}

impl Default for SmcccVersion {
    fn default() -> Self {
        Self::HIGHEST
    }
}

impl fmt::Display for SmcccVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Error parsing a version string such as `"1.2"`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a version: write MAJOR.MINOR, for example 1.1")]
pub struct ParseVersionError(pub heapless::String<16>);

impl core::str::FromStr for SmcccVersion {
    type Err = ParseVersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || {
            let mut shown = heapless::String::new();
            for c in s.chars().take(12) {
                let _ = shown.push(c);
            }
            ParseVersionError(shown)
        };
        let (maj, min) = s.split_once('.').ok_or_else(err)?;
        let major: u16 = maj.parse().map_err(|_| err())?;
        let minor: u16 = min.parse().map_err(|_| err())?;
        if major > 0x7fff {
            return Err(err());
        }
        Ok(Self::new(major, minor))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_word_is_major_shifted_16_or_minor() {
        assert_eq!(SmcccVersion::V1_1.to_word(), 0x10001);
        assert_eq!(SmcccVersion::V1_0.to_word(), 0x10000);
        assert_eq!(SmcccVersion::from_word(0x10002), Some(SmcccVersion::V1_2));
        assert_eq!(SmcccVersion::from_word(0xffff_ffff), None);
    }

    #[test]
    fn version_parses_from_text() {
        assert_eq!("1.3".parse::<SmcccVersion>().unwrap(), SmcccVersion::V1_3);
        assert!("1".parse::<SmcccVersion>().is_err());
        assert!("x.1".parse::<SmcccVersion>().is_err());
        assert!("99999.1".parse::<SmcccVersion>().is_err());
    }

    #[test]
    fn capabilities_follow_the_version_history() {
        assert!(!SmcccVersion::V1_0.has_arch_calls());
        assert!(SmcccVersion::V1_1.has_arch_calls());
        assert!(!SmcccVersion::V1_1.has_wide_registers());
        assert!(SmcccVersion::V1_2.has_wide_registers());
        assert!(!SmcccVersion::V1_2.has_sve_hint());
        assert!(SmcccVersion::V1_3.has_sve_hint());
    }
}
