//! Service UIDs as the general query `Call UID` (function `0xFF01`) returns
//! them: 128 bits in `W0..W3`, byte 0 of the UUID in the low byte of `W0`.

/// A 128-bit service UID.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Uid(pub [u8; 16]);

impl Uid {
    /// The UID of fwcall's Standard Hypervisor Service implementation
    /// (`8500_FF01`), `e1e6b0f2-4d5c-4c53-9a8f-66776361_6c6c`. Arm publishes
    /// no UID for OEN 5 that we could find, so fwcall names its own
    /// implementation, as KVM does for OEN 6.
    pub const FWCALL_STD_HYP: Uid = Uid([
        0xe1, 0xe6, 0xb0, 0xf2, 0x4d, 0x5c, 0x4c, 0x53, 0x9a, 0x8f, 0x66, 0x77, 0x63, 0x61, 0x6c,
        0x6c,
    ]);

    /// The four result words, `W0..W3`, each little-endian over 4 bytes.
    pub const fn words(self) -> [u32; 4] {
        let b = self.0;
        [
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
            u32::from_le_bytes([b[12], b[13], b[14], b[15]]),
        ]
    }

    /// The reply registers `X0..X3`.
    pub const fn reply(self) -> crate::Reply {
        let w = self.words();
        crate::Reply::x0_3([w[0] as u64, w[1] as u64, w[2] as u64, w[3] as u64])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kvm_uid_packs_like_linux_expects() {
        // 28b46fb6-2ec5-11e9-a9ca-4b564d003a74 in the byte order KVM returns.
        let kvm = Uid([
            0x28, 0xb4, 0x6f, 0xb6, 0x2e, 0xc5, 0x11, 0xe9, 0xa9, 0xca, 0x4b, 0x56, 0x4d, 0x00,
            0x3a, 0x74,
        ]);
        assert_eq!(
            kvm.words(),
            [0xb66f_b428, 0xe911_c52e, 0x564b_caa9, 0x743a_004d]
        );
    }

    #[test]
    fn first_word_is_never_all_ones() {
        // A W0 of -1 would read as NOT_SUPPORTED.
        assert_ne!(Uid::FWCALL_STD_HYP.words()[0], u32::MAX);
    }
}
