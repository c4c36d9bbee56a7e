//! Reading a thread's run delay from Linux `schedstat` (fields: time on
//! CPU, time waiting on a run queue, timeslices; all in ns, see the
//! kernel's Documentation/scheduler/sched-stats.rst): the stolen-time
//! source of a vCPU thread.
#![cfg(all(feature = "std", target_os = "linux"))]

use fwcall_pvtime::schedstat::{self, RunDelay, parse_run_delay, parse_run_delay_bytes};
use fwcall_pvtime::{AtomicMemory, Gpa, MemoryRegion, PvTime, PvTimeConfig};
use fwcall_smccc::VcpuIndex;
use std::path::PathBuf;

/// A schedstat-like file of this test's own, removed on drop.
struct StatFile(PathBuf);

impl StatFile {
    fn new(name: &str, text: &str) -> StatFile {
        let p = std::env::temp_dir().join(format!(
            "fwcall-pvtime-{}-{name}.schedstat",
            std::process::id()
        ));
        std::fs::write(&p, text).unwrap();
        StatFile(p)
    }

    fn set(&self, text: &str) {
        std::fs::write(&self.0, text).unwrap();
    }
}

impl Drop for StatFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The run delay is the second field, whichever reader is used.
#[test]
fn schedstat_run_delay_is_the_second_field() {
    let f = StatFile::new("second", "1234567 89012345 678\n");
    assert_eq!(schedstat::read_run_delay_from(&f.0).unwrap(), 89_012_345);
    f.set("5 18446744073709551615 1\n");
    assert_eq!(schedstat::read_run_delay_from(&f.0).unwrap(), u64::MAX);
    f.set("garbage\n");
    assert!(schedstat::read_run_delay_from(&f.0).is_err());
}

/// More digits than a u64 has (20) is not a run delay, even zero-padded;
/// both parsers agree on everything the kernel prints.
#[test]
fn schedstat_fields_are_at_most_20_digits() {
    assert_eq!(parse_run_delay_bytes(b"1 000000000000000000001 2\n"), None);
    assert_eq!(parse_run_delay_bytes(b"1 18446744073709551616 2\n"), None);
    for text in [
        "0 0 0\n",
        "7 42 1\n",
        "1 18446744073709551615 9\n",
        "1\n",
        "",
    ] {
        assert_eq!(
            parse_run_delay_bytes(text.as_bytes()),
            parse_run_delay(text),
            "{text:?}"
        );
    }
}

/// This thread's own run delay, read through the public one-shot reader,
/// never goes below a reading taken just before it (the kernel's counter
/// only grows).
#[test]
fn schedstat_thread_self_reads_this_thread() {
    let Ok(text) = std::fs::read_to_string(schedstat::THREAD_SELF) else {
        return; // no schedstat on this kernel: nothing to compare with
    };
    let before = parse_run_delay(&text).unwrap();
    let now = schedstat::read_run_delay().unwrap();
    assert!(now >= before, "{now} < {before}");
}

/// `RunDelay::account` accounts the increase of the run delay since the
/// previous reading (nothing the first time) and returns the vCPU's total.
#[test]
fn schedstat_account_adds_the_increase() {
    let reserved = [MemoryRegion::new(0x0a10_0000, 0x1_0000)];
    let ram = [MemoryRegion::new(0x4000_0000, 0x1000_0000)];
    let config = PvTimeConfig {
        stolen_time_base: Some(Gpa(0x0a10_0000)),
        ..PvTimeConfig::default()
    };
    let pv = PvTime::new(&config, 2, &ram, &reserved).unwrap();
    let mem = AtomicMemory::new(&reserved);
    let f = StatFile::new("account", "10 1000 1\n");
    let mut rd = RunDelay::open_path(&f.0).unwrap();
    let v = VcpuIndex(1);
    assert_eq!(rd.account(&pv, v, &mem).unwrap(), 0, "first reading");
    f.set("20 1500 2\n");
    assert_eq!(rd.account(&pv, v, &mem).unwrap(), 500);
    f.set("30 4000 3\n");
    assert_eq!(rd.account(&pv, v, &mem).unwrap(), 3000);
    assert_eq!(pv.stolen_ns(v), 3000);
    assert_eq!(pv.stolen_ns(VcpuIndex(0)), 0);
}
