//! Hot-path costs: accounting one vCPU's steal (with the record write) and
//! serving `PV_TIME_ST`, through a trivial guest memory.

use std::sync::atomic::{AtomicU64, Ordering};

use divan::Bencher;
use fwcall_pvtime::{Gpa, GuestMemoryAccess, MemoryError, MemoryRegion, PvTime, PvTimeConfig};
use fwcall_smccc::{Call, VcpuIndex, ids};

fn main() {
    divan::main();
}

/// The cheapest memory a VMM could have: one atomic word per record field.
struct Trivial {
    words: [AtomicU64; 8],
}

impl GuestMemoryAccess for Trivial {
    #[inline]
    fn write_u64(&self, addr: Gpa, value: u64) -> Result<(), MemoryError> {
        let w = self
            .words
            .get(((addr.0 / 8) % 8) as usize)
            .ok_or(MemoryError::OutOfRange { addr, len: 8 })?;
        w.store(value, Ordering::Release);
        Ok(())
    }
    fn write_bytes(&self, _: Gpa, _: &[u8]) -> Result<(), MemoryError> {
        Ok(())
    }
    fn read_bytes(&self, _: Gpa, _: &mut [u8]) -> Result<(), MemoryError> {
        Ok(())
    }
}

const BASE: u64 = 0x0a10_0000;

fn setup() -> (PvTime, Trivial) {
    let cfg = PvTimeConfig {
        stolen_time_base: Some(Gpa(BASE)),
        ..Default::default()
    };
    let pv = PvTime::new(
        &cfg,
        8,
        &[MemoryRegion::new(0x4000_0000, 0x1000_0000)],
        &[MemoryRegion::new(BASE, 0x1_0000)],
    )
    .expect("valid placement");
    let mem = Trivial {
        words: Default::default(),
    };
    (pv, mem)
}

#[divan::bench]
fn account_with_record_write(b: Bencher) {
    let (pv, mem) = setup();
    pv.call(VcpuIndex(3), &Call::new(ids::PV_TIME_ST, &[]), &mem);
    b.bench_local(|| {
        pv.account(
            divan::black_box(VcpuIndex(3)),
            divan::black_box(1_000),
            &mem,
        )
    });
}

#[divan::bench]
fn account_record_not_enabled(b: Bencher) {
    let (pv, mem) = setup();
    b.bench_local(|| {
        pv.account(
            divan::black_box(VcpuIndex(3)),
            divan::black_box(1_000),
            &mem,
        )
    });
}

#[divan::bench]
fn pv_time_st_call(b: Bencher) {
    let (pv, mem) = setup();
    let call = Call::new(ids::PV_TIME_ST, &[]);
    b.bench_local(|| {
        pv.call(
            divan::black_box(VcpuIndex(3)),
            divan::black_box(&call),
            &mem,
        )
    });
}

#[divan::bench]
fn pv_time_features_call(b: Bencher) {
    let (pv, mem) = setup();
    let call = Call::new(ids::PV_TIME_FEATURES, &[ids::PV_TIME_ST.raw() as u64]);
    b.bench_local(|| {
        pv.call(
            divan::black_box(VcpuIndex(3)),
            divan::black_box(&call),
            &mem,
        )
    });
}
