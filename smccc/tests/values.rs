//! The calling-convention values a VMM handles (kicks, return codes,
//! function IDs, MPIDRs, versions, CPU_ON entry state, the register
//! budget's constants), checked against DEN0028, DEN0022, DEN0054 and the
//! Arm ARM rather than against the code.

use fwcall_smccc::budget;
use fwcall_smccc::error::NotAnError;
use fwcall_smccc::sync::Lock;
use fwcall_smccc::{
    Context, Convention, CpuStart, FunctionId, Kicks, Mpidr, Owner, Reply, ReturnCode,
    SmcccVersion, VcpuIndex, ids,
};

/// The kick set: empty until something is added, names what was added and
/// nothing else, and "all" contains everyone.
#[test]
fn kicks_name_exactly_the_vcpus_added() {
    let none = Kicks::none();
    assert!(none.is_empty());
    assert!(!none.all());
    for i in 0..8 {
        assert!(!none.contains(VcpuIndex(i)), "empty set contains vcpu{i}");
    }

    let mut some = Kicks::none();
    some.add(VcpuIndex(2));
    some.add(VcpuIndex(5));
    assert!(!some.is_empty());
    assert!(!some.all());
    for i in 0..8 {
        assert_eq!(some.contains(VcpuIndex(i)), i == 2 || i == 5, "vcpu{i}");
    }

    let all = Kicks::everyone();
    assert!(!all.is_empty(), "kick-all is not empty");
    assert!(all.all());
    assert!(all.ids().is_empty());
    for i in [0, 1, 511] {
        assert!(all.contains(VcpuIndex(i)));
    }
}

/// Merging: the union of both sets; merging "all" gives "all"; merging an
/// empty set changes nothing.
#[test]
fn kicks_extend_is_a_union() {
    let mut a = Kicks::none();
    a.add(VcpuIndex(1));
    let mut b = Kicks::none();
    b.add(VcpuIndex(3));
    b.add(VcpuIndex(1));
    a.extend(&b);
    assert!(a.contains(VcpuIndex(1)) && a.contains(VcpuIndex(3)));
    assert!(!a.contains(VcpuIndex(2)) && !a.all());
    assert_eq!(a.ids().len(), 2, "deduplicated: {a:?}");

    let before = a.clone();
    a.extend(&Kicks::none());
    assert_eq!(a, before);

    a.extend(&Kicks::everyone());
    assert!(a.all() && a.contains(VcpuIndex(9)));

    let mut e = Kicks::none();
    e.extend(&b);
    assert_eq!(e.ids().len(), 2);
    assert!(e.contains(VcpuIndex(3)));
}

/// SMCCC's error codes are -1, -2, -3 (DEN0028 §5 "Return codes"), with
/// the spec's names.
#[test]
fn return_codes_are_the_spec_values_and_names() {
    let table = [
        (ReturnCode::NotSupported, -1i64, "NOT_SUPPORTED"),
        (ReturnCode::NotRequired, -2, "NOT_REQUIRED"),
        (ReturnCode::InvalidParameter, -3, "INVALID_PARAMETER"),
    ];
    for (c, v, name) in table {
        assert_eq!(i64::from(c), v, "{name}");
        assert_eq!(c.to_x0(), v as u64, "{name} sign-extended");
        assert_eq!(c.name(), name);
        assert_eq!(ReturnCode::try_from(v), Ok(c));
        // A 32-bit W0 result reads the same.
        assert_eq!(ReturnCode::try_from(u64::from(v as u32)), Ok(c));
    }
    assert_eq!(ReturnCode::try_from(0i64), Err(NotAnError(0)));
    assert_eq!(ReturnCode::try_from(-4i64), Err(NotAnError(-4)));
}

/// A VCPU index is its number, printed as `vcpuN`.
#[test]
fn vcpu_index_is_its_number() {
    for i in [0u32, 1, 7, 511, u32::MAX] {
        assert_eq!(VcpuIndex(i).get(), i as usize);
        assert_eq!(VcpuIndex(i).to_string(), format!("vcpu{i}"));
    }
}

/// A fast-call ID is bit 31 | bit 30 (SMC64) | OEN << 24 | number
/// (DEN0028 §2.5); known IDs print by name.
#[test]
fn function_id_fields_compose_to_the_spec_encoding() {
    let table = [
        (
            Convention::Smc64,
            Owner::StandardSecure,
            0x21,
            0xc400_0021u32,
        ),
        (Convention::Smc32, Owner::StandardSecure, 0x21, 0x8400_0021),
        (Convention::Smc32, Owner::Arch, 0x8000, 0x8000_8000),
        (
            Convention::Smc32,
            Owner::StandardHypervisor,
            0x21,
            0x8500_0021,
        ),
        (
            Convention::Smc64,
            Owner::VendorHypervisor,
            0xffff,
            0xc600_ffff,
        ),
    ];
    for (cc, owner, number, want) in table {
        let f = FunctionId::fast(cc, owner, number);
        assert_eq!(f.raw(), want, "{cc:?} {owner:?} {number:#x}");
        assert_eq!(u32::from(f), want);
        assert_eq!(format!("{f:x}"), format!("{want:x}"));
    }
    assert_eq!(ids::SDEI_VERSION.to_string(), "SDEI_VERSION");
    assert_eq!(
        format!("{:?}", ids::SDEI_VERSION),
        "FunctionId(0xc4000020 SDEI_VERSION)"
    );
    let unnamed = FunctionId::from_register(0x8200_0001);
    assert_eq!(unnamed.to_string(), "0x82000001");
    assert_eq!(format!("{unnamed:?}"), "FunctionId(0x82000001)");
}

/// The general queries of OEN n are 0x8n00_FF00/01/03 (DEN0028 §6).
#[test]
fn general_query_ids_per_owner() {
    for oen in 0u8..=63 {
        let base = 0x8000_0000 | (u32::from(oen) << 24);
        assert_eq!(ids::call_count(oen).raw(), base | 0xff00);
        assert_eq!(ids::call_uid(oen).raw(), base | 0xff01);
        assert_eq!(ids::revision(oen).raw(), base | 0xff03);
    }
}

/// KVM's default MPIDR for vCPU i: Aff0 = i & 0xf, Aff1 = (i >> 4) & 0xff,
/// Aff2 = (i >> 12) & 0xff, bit 31 RES1; a raw MPIDR_EL1 read may also
/// carry U (bit 30) and MT (bit 24), nothing else outside the affinity
/// fields (Arm ARM, MPIDR_EL1).
#[test]
fn mpidr_kvm_default_and_well_formedness() {
    let table = [
        (0u32, 0x8000_0000u64),
        (1, 0x8000_0001),
        (0xf, 0x8000_000f),
        (0x10, 0x8000_0100),
        (0x123, 0x8000_1203),
        (0x1000, 0x8001_0000),
    ];
    for (i, want) in table {
        assert_eq!(Mpidr::kvm_default(i).0, want, "vcpu {i}");
        assert!(Mpidr::kvm_default(i).is_well_formed());
    }
    let flags = [1u64 << 31, 1 << 30, 1 << 24];
    assert_eq!(Mpidr::FLAG_BITS, flags.iter().fold(0, |a, b| a | b));
    for f in flags {
        assert!(
            Mpidr(0x0102_0304 & 0xff_ffff | f).is_well_formed(),
            "{f:#x}"
        );
    }
    for bad in [1u64 << 25, 1 << 29, 1 << 40, 1 << 63] {
        assert!(!Mpidr(bad).is_well_formed(), "{bad:#x}");
    }
    // Aff3 (bits 39:32) is affinity, not a flag.
    assert!(Mpidr(0xff_8000_0000).is_well_formed());
}

/// What SMCCC_VERSION encodes and what each version allows (DEN0028 §2.2,
/// §2.6): X1..X17 arguments from 1.2, X1..X7 before.
#[test]
fn smccc_versions_and_their_capabilities() {
    let table = [
        (SmcccVersion::V1_0, "1.0", 0x1_0000u32, 7u8),
        (SmcccVersion::V1_1, "1.1", 0x1_0001, 7),
        (SmcccVersion::V1_2, "1.2", 0x1_0002, 17),
        (SmcccVersion::V1_3, "1.3", 0x1_0003, 17),
        (SmcccVersion::V1_4, "1.4", 0x1_0004, 17),
    ];
    for (v, text, word, args) in table {
        assert!(v.is_supported(), "{text}");
        assert_eq!(v.to_string(), text);
        assert_eq!(text.parse::<SmcccVersion>(), Ok(v));
        assert_eq!(v.to_word(), word);
        assert_eq!(v.max_arguments(), args, "{text}");
    }
    assert_eq!(SmcccVersion::new(2, 3).to_word(), 0x2_0003);
    for unsupported in [
        SmcccVersion::new(0, 9),
        SmcccVersion::new(1, 5),
        SmcccVersion::new(2, 0),
    ] {
        assert!(!unsupported.is_supported(), "{unsupported}");
    }
}

/// The major version is 15 bits (bit 31 of the word must stay clear):
/// 32767 is the largest that parses.
#[test]
fn smccc_version_text_major_is_fifteen_bits() {
    assert_eq!(
        "32767.1".parse::<SmcccVersion>().map(SmcccVersion::to_word),
        Ok(0x7fff_0001)
    );
    for bad in [
        "32768.0", "32768.1", "40000.0", "65535.1", "1.65536", "1.", ".1",
    ] {
        assert!(bad.parse::<SmcccVersion>().is_err(), "{bad}");
    }
}

/// A PE started by CPU_ON enters at the caller's EL (EL1 when the caller
/// was at EL0 or in AArch32), AArch64, SP_ELx, DAIF masked (DEN0022 §6.4).
#[test]
fn cpu_on_entry_pstate_from_caller() {
    let s = CpuStart {
        target: VcpuIndex(1),
        entry: 0x4008_0000,
        context_id: 0,
    };
    let table = [
        (0x3c5u64, 0x3c5u64), // EL1h
        (0x3c4, 0x3c5),       // EL1t
        (0x000, 0x3c5),       // EL0t
        (0x3c9, 0x3c9),       // EL2h
        (0x3c8, 0x3c9),       // EL2t
        // AArch32 callers (bit 4 set): EL1, whatever bits 3:2 would say
        // in AArch64 (HYP mode 0x1a and SYS mode 0x1f read as EL2/EL3).
        (0x010, 0x3c5),
        (0x013, 0x3c5),
        (0x01a, 0x3c5),
        (0x01f, 0x3c5),
    ];
    for (caller, want) in table {
        assert_eq!(s.pstate(caller), want, "caller PSTATE {caller:#x}");
    }
    // SCTLR_EL1.EE (bit 25) comes from the caller, the rest from reset.
    assert_eq!(s.sctlr_el1(0x30d0_0800, 1 << 25), 0x32d0_0800);
    assert_eq!(s.sctlr_el1(0x32d0_0800, !(1u64 << 25)), 0x30d0_0800);
}

/// The budget constants count registers the spec names: COMPLETE restores
/// X0..X17, PC and PSTATE (DEN0054 §5.2.3); COMPLETE_AND_RESUME also
/// ELR_EL1 and SPSR_EL1; handler entry reads X0..X17, PC, PSTATE and
/// SCTLR_EL1 and writes X0..X3, PC and PSTATE (§6.2).
#[test]
fn budget_constants_count_the_spec_registers() {
    let x0_x17 = 18u8;
    let (pc, pstate, sctlr, elr, spsr) = (1u8, 1u8, 1u8, 1u8, 1u8);
    assert_eq!(budget::RESTORE, x0_x17 + pc + pstate);
    assert_eq!(budget::RESTORE_EL1, x0_x17 + pc + pstate + elr + spsr);
    assert_eq!(budget::DELIVERY_READS, x0_x17 + pc + pstate + sctlr);
    assert_eq!(budget::DELIVERY_WRITES, 4 + pc + pstate);
}

/// A restoring reply hands its context back to the VMM, which writes PC,
/// PSTATE and the EL1 registers from it; a plain return does not.
#[test]
fn restore_reply_returns_its_context() {
    let ctx = Context {
        x: [9; 18],
        pc: 0x4000_1000,
        pstate: 0x3c5,
        el1: None,
    };
    let mut x = [0u64; 18];
    assert_eq!(Reply::Restore(ctx).apply_x(&mut x), Some(&ctx));
    assert_eq!(x, [9; 18]);
    let mut y = [1u64; 18];
    assert_eq!(Reply::x0(5).apply_x(&mut y), None);
    assert_eq!(y[0], 5);
    assert_eq!(y[1], 1);
    assert_eq!(Reply::Nothing.apply_x(&mut y), None);
}

/// Printing a lock never takes it (a server printed while a vCPU holds a
/// lock must not hang); a guard prints the value.
#[test]
fn lock_debug_does_not_lock() {
    let l = Lock::new(41u32);
    let g = l.lock();
    assert_eq!(format!("{l:?}"), "Lock { .. }");
    assert_eq!(format!("{g:?}"), "41");
}
