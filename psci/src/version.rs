//! The PSCI versions fwcall serves.

use core::fmt;

/// A PSCI version fwcall can serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum PsciVersion {
    /// PSCI 0.2: the mandatory calls and `MIGRATE_INFO_TYPE`.
    V0_2,
    /// PSCI 1.0: adds `PSCI_FEATURES`.
    V1_0,
    /// PSCI 1.1: adds `SYSTEM_RESET2`.
    V1_1,
}

impl PsciVersion {
    /// Every version, oldest first.
    pub const ALL: [PsciVersion; 3] = [Self::V0_2, Self::V1_0, Self::V1_1];

    /// The word `PSCI_VERSION` returns: major in bits 31:16, minor in 15:0.
    ///
    /// ```
    /// use fwcall_psci::PsciVersion;
    /// assert_eq!(PsciVersion::V0_2.to_word(), 0x2);
    /// assert_eq!(PsciVersion::V1_1.to_word(), 0x1_0001);
    /// ```
    pub const fn to_word(self) -> u32 {
        match self {
            Self::V0_2 => 0x0000_0002,
            Self::V1_0 => 0x0001_0000,
            Self::V1_1 => 0x0001_0001,
        }
    }

    /// The version a word names, if fwcall serves it.
    pub const fn from_word(word: u32) -> Option<Self> {
        match word {
            0x0000_0002 => Some(Self::V0_2),
            0x0001_0000 => Some(Self::V1_0),
            0x0001_0001 => Some(Self::V1_1),
            _ => None,
        }
    }

    /// Whether `PSCI_FEATURES` exists (1.0+).
    pub const fn has_features(self) -> bool {
        !matches!(self, Self::V0_2)
    }

    /// Whether `SYSTEM_RESET2` exists (1.1+).
    pub const fn has_reset2(self) -> bool {
        matches!(self, Self::V1_1)
    }

    /// The device-tree `compatible` strings of the `psci` node for this
    /// version, most specific first (the binding has no `arm,psci-1.1`:
    /// 1.x firmware is `arm,psci-1.0`). The node also needs
    /// `method = "hvc"` (or `"smc"`).
    ///
    /// ```
    /// use fwcall_psci::PsciVersion;
    /// assert_eq!(PsciVersion::V1_1.dt_compatible(), &["arm,psci-1.0", "arm,psci-0.2"]);
    /// assert_eq!(PsciVersion::V0_2.dt_compatible(), &["arm,psci-0.2"]);
    /// ```
    pub const fn dt_compatible(self) -> &'static [&'static str] {
        match self {
            Self::V0_2 => &["arm,psci-0.2"],
            Self::V1_0 | Self::V1_1 => &["arm,psci-1.0", "arm,psci-0.2"],
        }
    }
}

impl fmt::Display for PsciVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::V0_2 => "0.2",
            Self::V1_0 => "1.0",
            Self::V1_1 => "1.1",
        })
    }
}

/// A string that is not a PSCI version fwcall serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a PSCI version fwcall serves: write 0.2, 1.0 or 1.1")]
pub struct ParsePsciVersionError;

impl core::str::FromStr for PsciVersion {
    type Err = ParsePsciVersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "0.2" => Ok(Self::V0_2),
            "1.0" => Ok(Self::V1_0),
            "1.1" => Ok(Self::V1_1),
            _ => Err(ParsePsciVersionError),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn words_round_trip_and_order_follows_history() {
        for v in PsciVersion::ALL {
            assert_eq!(PsciVersion::from_word(v.to_word()), Some(v));
            assert_eq!(v.to_string().parse::<PsciVersion>(), Ok(v));
        }
        assert!(PsciVersion::V0_2 < PsciVersion::V1_0 && PsciVersion::V1_0 < PsciVersion::V1_1);
        assert_eq!(PsciVersion::from_word(0x1_0002), None);
        assert!("1.2".parse::<PsciVersion>().is_err());
    }
}
