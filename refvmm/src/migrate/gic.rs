//! The vGICv3 through its KVM device attributes: what is saved, and the
//! order it is written back in.
//!
//! Saving produces the restore itself: a list of register writes in the
//! order they must happen, which the destination replays. The order
//! follows from what each write means to KVM's vGIC:
//!
//! 1. `GICD_IIDR` first: KVM checks the implementation revision the guest
//!    saw against its own and adapts (or refuses) before anything else.
//! 2. `GICD_CTLR`: affinity routing and the group enables frame how every
//!    other distributor register is read.
//! 3. Per redistributor: the LPI table bases before `GICR_CTLR` (which may
//!    enable LPIs), then `STATUSR` and `WAKER`; in the SGI frame the
//!    configuration (group, trigger, priority, enable) before the state
//!    (line level, then the latched pending bits, then active).
//! 4. The distributor's SPIs in the same spirit, with the routing
//!    (`GICD_IROUTER`) before anything pending, so a pending interrupt
//!    lands on the redistributor it was routed to.
//! 5. Per CPU interface: `ICC_SRE_EL1`, `ICC_CTLR_EL1`, the group enables,
//!    `PMR`, the binary points, then the active-priority registers (as
//!    many as `ICC_CTLR_EL1` says the priority bits need).
//!
//! Set/clear register pairs (`ISENABLER`/`ICENABLER`, `ISACTIVER`/
//! `ICACTIVER`) are written as "clear all, then set the saved bits", so a
//! destination whose reset state differs still ends exactly as saved.
//! Pending is only set: through this interface `ICPENDR` reads as zero and
//! ignores writes, and `ISPENDR` sets the latch exactly.
//!
//! The register map comes from the GICv3 architecture (IHI 0069) and the
//! attribute encodings from Linux's `arm-vgic-v3.rst`; the order was
//! checked against what QEMU's and Firecracker's arm64 save/restore do.

use std::fmt;

use super::image::{GicKind, GicWrite};

/// `KVM_DEV_ARM_VGIC_GRP_*` for each kind.
pub const fn group(kind: GicKind) -> u32 {
    match kind {
        GicKind::Dist => 1,
        GicKind::Redist => 5,
        GicKind::Sysreg => 6,
        GicKind::Level => 7,
    }
}

/// Register access through the vGIC device: `KVM_GET/SET_DEVICE_ATTR` on
/// KVM, a map in tests.
pub trait GicAccess {
    /// What an access reports.
    type Error: fmt::Display;
    /// Reads the register `attr` of group `kind` (32-bit groups return the
    /// value zero-extended).
    fn get(&self, kind: GicKind, attr: u64) -> Result<u64, Self::Error>;
    /// Writes it.
    fn set(&self, kind: GicKind, attr: u64, value: u64) -> Result<(), Self::Error>;
}

/// A vGIC register could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("vGIC: cannot {action} {what}: {reason}")]
pub struct GicError {
    /// `read` or `write`.
    pub action: &'static str,
    /// The register, spelled out.
    pub what: String,
    /// What KVM said.
    pub reason: String,
}

// Distributor (offsets from its base).
const GICD_CTLR: u64 = 0x0000;
const GICD_TYPER: u64 = 0x0004;
const GICD_IIDR: u64 = 0x0008;
const GICD_STATUSR: u64 = 0x0010;
const GICD_IGROUPR: u64 = 0x0080;
const GICD_ISENABLER: u64 = 0x0100;
const GICD_ICENABLER: u64 = 0x0180;
const GICD_ISPENDR: u64 = 0x0200;
const GICD_ISACTIVER: u64 = 0x0300;
const GICD_ICACTIVER: u64 = 0x0380;
const GICD_IPRIORITYR: u64 = 0x0400;
const GICD_ICFGR: u64 = 0x0c00;
const GICD_IROUTER: u64 = 0x6000;

// Redistributor: the RD frame, then the SGI frame 64 KiB above it.
const GICR_CTLR: u64 = 0x0000;
const GICR_TYPER: u64 = 0x0008;
const GICR_STATUSR: u64 = 0x0010;
const GICR_WAKER: u64 = 0x0014;
const GICR_PROPBASER: u64 = 0x0070;
const GICR_PENDBASER: u64 = 0x0078;
const SGI: u64 = 0x1_0000;
const GICR_IGROUPR0: u64 = SGI + 0x0080;
const GICR_ISENABLER0: u64 = SGI + 0x0100;
const GICR_ICENABLER0: u64 = SGI + 0x0180;
const GICR_ISPENDR0: u64 = SGI + 0x0200;
const GICR_ISACTIVER0: u64 = SGI + 0x0300;
const GICR_ICACTIVER0: u64 = SGI + 0x0380;
const GICR_IPRIORITYR0: u64 = SGI + 0x0400;
const GICR_ICFGR1: u64 = SGI + 0x0c04;
/// `GICR_TYPER.PLPIS`: the redistributor implements LPIs.
const TYPER_PLPIS: u64 = 1;

/// A CPU interface system register encoding (`op0:op1:CRn:CRm:op2`).
const fn icc(op0: u64, op1: u64, crn: u64, crm: u64, op2: u64) -> u64 {
    (op0 << 14) | (op1 << 11) | (crn << 7) | (crm << 3) | op2
}
const ICC_SRE_EL1: u64 = icc(3, 0, 12, 12, 5);
const ICC_CTLR_EL1: u64 = icc(3, 0, 12, 12, 4);
const ICC_IGRPEN0_EL1: u64 = icc(3, 0, 12, 12, 6);
const ICC_IGRPEN1_EL1: u64 = icc(3, 0, 12, 12, 7);
const ICC_PMR_EL1: u64 = icc(3, 0, 4, 6, 0);
const ICC_BPR0_EL1: u64 = icc(3, 0, 12, 8, 3);
const ICC_BPR1_EL1: u64 = icc(3, 0, 12, 12, 3);
const fn icc_ap0r(n: u64) -> u64 {
    icc(3, 0, 12, 8, 4 | n)
}
const fn icc_ap1r(n: u64) -> u64 {
    icc(3, 0, 12, 9, n)
}

/// The affinity of `mpidr` in the layout the vGIC attributes carry in
/// their upper 32 bits (`Aff3:Aff2:Aff1:Aff0`).
pub const fn mpidr_field(mpidr: u64) -> u64 {
    let aff0_2 = mpidr & 0xff_ffff;
    let aff3 = (mpidr >> 32) & 0xff;
    ((aff3 << 24) | aff0_2) << 32
}

/// The attribute for a write of `kind` at `offset` on the vCPU whose MPIDR
/// is `mpidr` (ignored for the distributor).
pub const fn attr(kind: GicKind, mpidr: u64, offset: u64) -> u64 {
    match kind {
        GicKind::Dist => offset,
        // Line level is info 0 (VGIC_LEVEL_INFO_LINE_LEVEL) at bits 31:10.
        GicKind::Redist | GicKind::Sysreg | GicKind::Level => mpidr_field(mpidr) | offset,
    }
}

fn describe(kind: GicKind, vcpu: Option<u32>, offset: u64) -> String {
    let on = |v: Option<u32>| v.map_or(String::new(), |v| format!(" of vCPU {v}"));
    match kind {
        GicKind::Dist => format!("distributor register {offset:#x}"),
        GicKind::Redist => format!("redistributor register {offset:#x}{}", on(vcpu)),
        GicKind::Sysreg => format!("CPU interface register {offset:#x}{}", on(vcpu)),
        GicKind::Level => format!("line level of INTIDs {offset}..{}{}", offset + 31, on(vcpu)),
    }
}

/// Reads the state of the vGIC serving the vCPUs with `mpidrs` (every vCPU
/// stopped) as the writes that restore it.
pub fn save<A: GicAccess>(gic: &A, mpidrs: &[u64]) -> Result<Vec<GicWrite>, GicError> {
    let mut out = Vec::new();
    let read = |kind: GicKind, vcpu: Option<u32>, offset: u64| {
        let mpidr = vcpu
            .and_then(|v| mpidrs.get(v as usize))
            .copied()
            .unwrap_or(0);
        gic.get(kind, attr(kind, mpidr, offset))
            .map_err(|e| GicError {
                action: "read",
                what: describe(kind, vcpu, offset),
                reason: e.to_string(),
            })
    };
    let keep = |out: &mut Vec<GicWrite>, kind, vcpu, offset| -> Result<(), GicError> {
        let value = read(kind, vcpu, offset)?;
        out.push(GicWrite {
            kind,
            vcpu,
            offset,
            value,
        });
        Ok(())
    };

    let typer = read(GicKind::Dist, None, GICD_TYPER)?;
    // ITLinesNumber: 32 * (N + 1) interrupt IDs, SGIs and PPIs included.
    let lines = 32 * ((typer & 0x1f) + 1);
    let spi_words = lines / 32 - 1; // one bit per interrupt, SPIs only

    keep(&mut out, GicKind::Dist, None, GICD_IIDR)?;
    keep(&mut out, GicKind::Dist, None, GICD_CTLR)?;

    for v in 0..mpidrs.len() as u32 {
        let vcpu = Some(v);
        let typer = read(GicKind::Redist, vcpu, GICR_TYPER)?;
        if typer & TYPER_PLPIS != 0 {
            for base in [GICR_PROPBASER, GICR_PENDBASER] {
                keep(&mut out, GicKind::Redist, vcpu, base)?;
                keep(&mut out, GicKind::Redist, vcpu, base + 4)?;
            }
        }
        for reg in [
            GICR_CTLR,
            GICR_STATUSR,
            GICR_WAKER,
            GICR_IGROUPR0,
            GICR_ICFGR1,
        ] {
            keep(&mut out, GicKind::Redist, vcpu, reg)?;
        }
        for word in 0..8 {
            keep(&mut out, GicKind::Redist, vcpu, GICR_IPRIORITYR0 + 4 * word)?;
        }
        clear_all(&mut out, GicKind::Redist, vcpu, GICR_ICENABLER0);
        keep(&mut out, GicKind::Redist, vcpu, GICR_ISENABLER0)?;
        keep(&mut out, GicKind::Level, vcpu, 0)?;
        keep(&mut out, GicKind::Redist, vcpu, GICR_ISPENDR0)?;
        clear_all(&mut out, GicKind::Redist, vcpu, GICR_ICACTIVER0);
        keep(&mut out, GicKind::Redist, vcpu, GICR_ISACTIVER0)?;
    }

    keep(&mut out, GicKind::Dist, None, GICD_STATUSR)?;
    for n in 1..=spi_words {
        keep(&mut out, GicKind::Dist, None, GICD_IGROUPR + 4 * n)?;
    }
    for irq in 32..lines {
        keep(&mut out, GicKind::Dist, None, GICD_IROUTER + 8 * irq)?;
        keep(&mut out, GicKind::Dist, None, GICD_IROUTER + 8 * irq + 4)?;
    }
    // Two bits per interrupt: SPIs start at the third word.
    for word in 2..lines / 16 {
        keep(&mut out, GicKind::Dist, None, GICD_ICFGR + 4 * word)?;
    }
    // Eight bits per interrupt: SPIs start at the ninth word.
    for word in 8..lines / 4 {
        keep(&mut out, GicKind::Dist, None, GICD_IPRIORITYR + 4 * word)?;
    }
    for n in 1..=spi_words {
        clear_all(&mut out, GicKind::Dist, None, GICD_ICENABLER + 4 * n);
        keep(&mut out, GicKind::Dist, None, GICD_ISENABLER + 4 * n)?;
    }
    for n in 1..=spi_words {
        keep(&mut out, GicKind::Level, None, 32 * n)?;
    }
    for n in 1..=spi_words {
        keep(&mut out, GicKind::Dist, None, GICD_ISPENDR + 4 * n)?;
    }
    for n in 1..=spi_words {
        clear_all(&mut out, GicKind::Dist, None, GICD_ICACTIVER + 4 * n);
        keep(&mut out, GicKind::Dist, None, GICD_ISACTIVER + 4 * n)?;
    }

    for v in 0..mpidrs.len() as u32 {
        let vcpu = Some(v);
        let ctlr = read(GicKind::Sysreg, vcpu, ICC_CTLR_EL1)?;
        for reg in [
            ICC_SRE_EL1,
            ICC_CTLR_EL1,
            ICC_IGRPEN0_EL1,
            ICC_IGRPEN1_EL1,
            ICC_PMR_EL1,
            ICC_BPR0_EL1,
            ICC_BPR1_EL1,
        ] {
            keep(&mut out, GicKind::Sysreg, vcpu, reg)?;
        }
        for n in 0..active_priority_registers(ctlr) {
            keep(&mut out, GicKind::Sysreg, vcpu, icc_ap0r(n))?;
        }
        for n in 0..active_priority_registers(ctlr) {
            keep(&mut out, GicKind::Sysreg, vcpu, icc_ap1r(n))?;
        }
    }
    Ok(out)
}

/// How many `ICC_AP0R<n>_EL1` (and `AP1R`) registers exist for the
/// priority bits `ICC_CTLR_EL1.PRIbits` (bits 10:8, minus one) announces:
/// one up to 5 bits, two with 6, four with 7.
pub const fn active_priority_registers(icc_ctlr: u64) -> u64 {
    match ((icc_ctlr >> 8) & 7) + 1 {
        7 => 4,
        6 => 2,
        _ => 1,
    }
}

fn clear_all(out: &mut Vec<GicWrite>, kind: GicKind, vcpu: Option<u32>, offset: u64) {
    out.push(GicWrite {
        kind,
        vcpu,
        offset,
        value: u64::from(u32::MAX),
    });
}

/// Replays saved writes on the vGIC of a new VM whose vCPUs have `mpidrs`
/// (every vCPU created and initialised, none run yet).
pub fn restore<A: GicAccess>(gic: &A, mpidrs: &[u64], writes: &[GicWrite]) -> Result<(), GicError> {
    for w in writes {
        let mpidr = match w.vcpu {
            None => 0,
            Some(v) => *mpidrs.get(v as usize).ok_or_else(|| GicError {
                action: "write",
                what: describe(w.kind, w.vcpu, w.offset),
                reason: format!("the VM has {} vCPUs", mpidrs.len()),
            })?,
        };
        gic.set(w.kind, attr(w.kind, mpidr, w.offset), w.value)
            .map_err(|e| GicError {
                action: "write",
                what: describe(w.kind, w.vcpu, w.offset),
                reason: e.to_string(),
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    /// A vGIC as a map of attributes, recording the order of writes.
    #[derive(Default)]
    struct FakeGic {
        regs: RefCell<HashMap<(u32, u64), u64>>,
        writes: RefCell<Vec<(GicKind, u64, u64)>>,
    }

    impl GicAccess for FakeGic {
        type Error = String;
        fn get(&self, kind: GicKind, attr: u64) -> Result<u64, String> {
            Ok(*self.regs.borrow().get(&(group(kind), attr)).unwrap_or(&0))
        }
        fn set(&self, kind: GicKind, attr: u64, value: u64) -> Result<(), String> {
            self.writes.borrow_mut().push((kind, attr, value));
            self.regs.borrow_mut().insert((group(kind), attr), value);
            Ok(())
        }
    }

    const MPIDRS: [u64; 2] = [0x8000_0000, 0x8000_0001];

    /// A source vGIC with 96 interrupt IDs, LPIs, 7 priority bits on vCPU 1
    /// and a distinct value in every register the save reads.
    fn source() -> FakeGic {
        let g = FakeGic::default();
        let mut next = 0x100;
        let mut put = |kind: GicKind, attr: u64, v: Option<u64>| {
            next += 1;
            g.regs
                .borrow_mut()
                .insert((group(kind), attr), v.unwrap_or(next));
        };
        put(GicKind::Dist, GICD_TYPER, Some(2)); // 96 lines: 64 SPIs
        for off in (0..0x7000).step_by(4) {
            if off != GICD_TYPER {
                put(GicKind::Dist, off, None);
            }
        }
        for (i, m) in MPIDRS.iter().enumerate() {
            let f = mpidr_field(*m);
            for off in (0..0x2_0000).step_by(4) {
                put(GicKind::Redist, f | off, None);
            }
            put(GicKind::Redist, f | GICR_TYPER, Some(TYPER_PLPIS));
            for reg in [
                ICC_SRE_EL1,
                ICC_IGRPEN0_EL1,
                ICC_IGRPEN1_EL1,
                ICC_PMR_EL1,
                ICC_BPR0_EL1,
                ICC_BPR1_EL1,
            ] {
                put(GicKind::Sysreg, f | reg, None);
            }
            for n in 0..4 {
                put(GicKind::Sysreg, f | icc_ap0r(n), None);
                put(GicKind::Sysreg, f | icc_ap1r(n), None);
            }
            // vCPU 0: 5 priority bits; vCPU 1: 7.
            put(
                GicKind::Sysreg,
                f | ICC_CTLR_EL1,
                Some(if i == 0 { 4 << 8 } else { 6 << 8 }),
            );
            put(GicKind::Level, f, None);
        }
        for n in 1..3 {
            put(GicKind::Level, 32 * n, None);
        }
        g
    }

    fn position(writes: &[GicWrite], kind: GicKind, vcpu: Option<u32>, offset: u64) -> usize {
        writes
            .iter()
            .position(|w| w.kind == kind && w.vcpu == vcpu && w.offset == offset)
            .unwrap_or_else(|| panic!("no write of {kind:?} {vcpu:?} {offset:#x}"))
    }

    #[test]
    fn attributes_carry_the_affinity_in_the_upper_half() {
        assert_eq!(mpidr_field(0x8000_0001), 1 << 32);
        assert_eq!(mpidr_field(0x12_0000_0304), 0x1200_0304 << 32);
        assert_eq!(attr(GicKind::Dist, 0x8000_0001, 8), 8);
        assert_eq!(attr(GicKind::Level, 0x8000_0102, 0), 0x0102 << 32);
        assert_eq!(ICC_SRE_EL1, 0xc665);
        assert_eq!(ICC_PMR_EL1, 0xc230);
        assert_eq!(icc_ap1r(3), 0xc64b);
    }

    #[test]
    fn restoring_a_save_reproduces_every_register_read() {
        let src = source();
        let writes = save(&src, &MPIDRS).unwrap();
        let dst = FakeGic::default();
        restore(&dst, &MPIDRS, &writes).unwrap();
        for w in writes.iter().filter(|w| w.value != u64::from(u32::MAX)) {
            let mpidr = w.vcpu.map_or(0, |v| MPIDRS[v as usize]);
            let a = attr(w.kind, mpidr, w.offset);
            assert_eq!(
                dst.get(w.kind, a).unwrap(),
                src.get(w.kind, a).unwrap(),
                "{w:?}"
            );
        }
        // 64 SPIs: 2 words of enables, 64 routes of two halves each.
        let routes = writes
            .iter()
            .filter(|w| {
                w.kind == GicKind::Dist && (GICD_IROUTER..GICD_IROUTER + 0x2000).contains(&w.offset)
            })
            .count();
        assert_eq!(routes, 2 * 64);
        // Active priorities: 1 + 1 registers on vCPU 0, 4 + 4 on vCPU 1.
        let apr = |v| {
            writes
                .iter()
                .filter(|w| {
                    w.kind == GicKind::Sysreg
                        && w.vcpu == Some(v)
                        && (0xc644..=0xc64b).contains(&w.offset)
                })
                .count()
        };
        assert_eq!((apr(0), apr(1)), (2, 8));
    }

    #[test]
    fn writes_come_in_the_order_the_vgic_needs() {
        let writes = save(&source(), &MPIDRS).unwrap();
        assert_eq!(
            (writes[0].kind, writes[0].offset),
            (GicKind::Dist, GICD_IIDR)
        );
        assert_eq!(
            (writes[1].kind, writes[1].offset),
            (GicKind::Dist, GICD_CTLR)
        );
        for v in [Some(0), Some(1)] {
            let at = |k, o| position(&writes, k, v, o);
            assert!(at(GicKind::Redist, GICR_PENDBASER) < at(GicKind::Redist, GICR_CTLR));
            assert!(at(GicKind::Redist, GICR_ICFGR1) < at(GicKind::Redist, GICR_ISPENDR0));
            assert!(at(GicKind::Level, 0) < at(GicKind::Redist, GICR_ISPENDR0));
            assert!(at(GicKind::Redist, GICR_ICENABLER0) < at(GicKind::Redist, GICR_ISENABLER0));
            assert!(at(GicKind::Redist, GICR_ICACTIVER0) < at(GicKind::Redist, GICR_ISACTIVER0));
            assert!(at(GicKind::Sysreg, ICC_SRE_EL1) < at(GicKind::Sysreg, ICC_CTLR_EL1));
            // The CPU interfaces come after the whole distributor.
            assert!(
                position(&writes, GicKind::Dist, None, GICD_ISACTIVER + 4)
                    < at(GicKind::Sysreg, ICC_SRE_EL1)
            );
        }
        let d = |o| position(&writes, GicKind::Dist, None, o);
        assert!(d(GICD_IROUTER + 8 * 63) < d(GICD_ISPENDR + 4));
        assert!(d(GICD_ICFGR + 8) < d(GICD_ISPENDR + 4));
        assert!(position(&writes, GicKind::Level, None, 32) < d(GICD_ISPENDR + 4));
        assert!(d(GICD_ICACTIVER + 4) < d(GICD_ISACTIVER + 4));
    }

    #[test]
    fn a_refused_access_names_the_register() {
        struct Broken;
        impl GicAccess for Broken {
            type Error = &'static str;
            fn get(&self, _: GicKind, _: u64) -> Result<u64, Self::Error> {
                Err("ENXIO")
            }
            fn set(&self, _: GicKind, _: u64, _: u64) -> Result<(), Self::Error> {
                Err("EINVAL")
            }
        }
        let e = save(&Broken, &MPIDRS).unwrap_err();
        assert_eq!(
            e.to_string(),
            "vGIC: cannot read distributor register 0x4: ENXIO"
        );
        let w = [GicWrite {
            kind: GicKind::Redist,
            vcpu: Some(1),
            offset: 0x14,
            value: 0,
        }];
        let e = restore(&Broken, &MPIDRS, &w).unwrap_err();
        assert_eq!(
            e.to_string(),
            "vGIC: cannot write redistributor register 0x14 of vCPU 1: EINVAL"
        );
        let w = [GicWrite {
            kind: GicKind::Redist,
            vcpu: Some(5),
            offset: 0x14,
            value: 0,
        }];
        assert!(restore(&FakeGic::default(), &MPIDRS, &w).is_err());
    }
}
