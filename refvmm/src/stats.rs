//! Counts for the final report: calls served per function, events
//! delivered, kicks, stolen time per vCPU, and the register traffic of
//! the KVM adapter.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use fwcall::kvm::Traffic;
use fwcall::{FunctionId, ids};

/// Shared by every vCPU thread. The maps take a lock, which is fine in a
/// VMM's exit path (fwcall's own hot paths never lock).
#[derive(Debug, Default)]
pub struct Stats {
    calls: Mutex<BTreeMap<u32, u64>>,
    events: Mutex<BTreeMap<u32, u64>>,
    kicks: AtomicU64,
    raised: AtomicU64,
    sdei_errors: AtomicU64,
    reboots: AtomicU64,
    traffic: Mutex<Traffic>,
}

impl Stats {
    /// One call served.
    pub fn call(&self, fid: FunctionId) {
        if let Ok(mut m) = self.calls.lock() {
            *m.entry(fid.raw()).or_default() += 1;
        }
    }

    /// One SDEI handler entered.
    pub fn delivered(&self, event: u32) {
        if let Ok(mut m) = self.events.lock() {
            *m.entry(event).or_default() += 1;
        }
    }

    /// One SDEI call answered with an error.
    pub fn sdei_error(&self) {
        self.sdei_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds one vCPU thread's register traffic (at the thread's end).
    pub fn traffic(&self, t: Traffic) {
        if let Ok(mut sum) = self.traffic.lock() {
            *sum = *sum + t;
        }
    }

    /// The register traffic of every vCPU thread that ended.
    pub fn total_traffic(&self) -> Traffic {
        self.traffic.lock().map(|t| *t).unwrap_or_default()
    }

    /// `n` kicks sent.
    pub fn kicked(&self, n: u64) {
        self.kicks.fetch_add(n, Ordering::Relaxed);
    }

    /// One guest reboot (PSCI `SYSTEM_RESET`).
    pub fn rebooted(&self) {
        self.reboots.fetch_add(1, Ordering::Relaxed);
    }

    /// Guest reboots so far.
    pub fn reboots(&self) -> u64 {
        self.reboots.load(Ordering::Relaxed)
    }

    /// One raise issued by the control path.
    pub fn raised(&self) {
        self.raised.fetch_add(1, Ordering::Relaxed);
    }

    /// Calls served for `fid`.
    pub fn calls_of(&self, fid: FunctionId) -> u64 {
        self.calls
            .lock()
            .map(|m| m.get(&fid.raw()).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Deliveries of `event`.
    pub fn deliveries_of(&self, event: u32) -> u64 {
        self.events
            .lock()
            .map(|m| m.get(&event).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// The one-line report: `fwcall-report calls=NAME:N,... events=EV:N,...
    /// raised=N kicks=N sdei_errors=N stolen_ns=N,N,... served=N
    /// deliveries=N get_one_reg=N set_one_reg=N call_regs=GET/SET
    /// call_budget=N completion_runs=N starts=N parks=N reboots=N` (register
    /// counts over every vCPU:
    /// `get_one_reg`/`set_one_reg` are all of fwcall's `KVM_GET_ONE_REG` and
    /// `KVM_SET_ONE_REG`, `call_regs` the part spent serving calls, whose
    /// register budget is `call_budget`; `starts` the PSCI `CPU_ON` starts
    /// applied, `parks` the times an off vCPU's thread parked, `reboots`
    /// the guest's resets).
    pub fn report(&self, stolen_ns: &[u64]) -> String {
        let mut s = String::from("fwcall-report calls=");
        if let Ok(m) = self.calls.lock() {
            let parts: Vec<String> = m
                .iter()
                .map(|(fid, n)| match ids::name(FunctionId(*fid)) {
                    Some(name) => format!("{name}:{n}"),
                    None => format!("{fid:#010x}:{n}"),
                })
                .collect();
            s.push_str(&parts.join(","));
        }
        s.push_str(" events=");
        if let Ok(m) = self.events.lock() {
            let parts: Vec<String> = m.iter().map(|(e, n)| format!("{e:#x}:{n}")).collect();
            s.push_str(&parts.join(","));
        }
        let stolen: Vec<String> = stolen_ns.iter().map(u64::to_string).collect();
        let t = self.total_traffic();
        let _ = write!(
            s,
            " raised={} kicks={} sdei_errors={} stolen_ns={} served={} deliveries={} get_one_reg={} set_one_reg={} call_regs={}/{} call_budget={} completion_runs={} starts={} parks={} reboots={}",
            self.raised.load(Ordering::Relaxed),
            self.kicks.load(Ordering::Relaxed),
            self.sdei_errors.load(Ordering::Relaxed),
            stolen.join(","),
            t.calls,
            t.deliveries,
            t.reads(),
            t.writes(),
            t.call_reads,
            t.call_writes,
            t.call_budget,
            t.completion_runs,
            t.starts,
            t.parks,
            self.reboots(),
        );
        s
    }
}
