//! The VM object and its per-vCPU handles: the front door a VMM calls.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ops::RangeInclusive;

use fwcall_psci::{PowerState, Psci};
use fwcall_pvtime::{GuestMemoryAccess, MemoryError, PvTime};
use fwcall_sdei::{
    Delivery, InterruptHook, Interrupted, IrqOutcome, RaiseError as SdeiRaiseError, Sdei,
};
use fwcall_smccc::error::{NOT_SUPPORTED, SUCCESS};
use fwcall_smccc::{
    ArchService, Call, Convention, FunctionId, Kicks, Outcome, Owner, Reply, Uid, VcpuIndex, ids,
};

use crate::config::{ConfigError, VmConfig};
use crate::features::{
    FeatureError, FeatureRegister, FeatureState, FirmwareFeatures, StdFeatures, StdHypFeatures,
};
use crate::service::{Registered, Service, ServiceError, check_range};
use fwcall_trng::{EntropySource, Trng};

/// Function numbers of the general queries every owner may answer.
pub(crate) const QUERY_CALL_COUNT: u16 = 0xFF00;
pub(crate) const QUERY_CALL_UID: u16 = 0xFF01;
pub(crate) const QUERY_REVISION: u16 = 0xFF03;

/// The first and last function numbers of SDEI within OEN 4.
pub(crate) const SDEI_FIRST: u16 = 0x20;
pub(crate) const SDEI_LAST: u16 = 0x3F;
/// PSCI's function numbers within OEN 4.
pub(crate) const PSCI_FIRST: u16 = ids::PSCI_FIRST_NUMBER;
pub(crate) const PSCI_LAST: u16 = ids::PSCI_LAST_NUMBER;
/// TRNG 1.0's function numbers within OEN 4.
pub(crate) const TRNG_FIRST: u16 = ids::TRNG_FIRST_NUMBER;
pub(crate) const TRNG_LAST: u16 = ids::TRNG_LAST_NUMBER;

/// One VM's firmware-call server.
///
/// Share it between vCPU threads (it is `Sync`; wrap it in an `Arc`) and
/// give each thread its [`Vcpu`] handle. Calls on different vCPUs never
/// contend on a VM-wide lock.
///
/// ```
/// use fwcall::{Vm, VmConfig, Call, Reply, VcpuIndex, ids, NoMemory};
///
/// let vm = Vm::new(VmConfig::new(2), NoMemory).unwrap();
/// let vcpu = vm.vcpu(VcpuIndex(0)).unwrap();
/// let out = vcpu.handle(&Call::new(ids::SDEI_VERSION, &[]));
/// assert_eq!(out.reply, Reply::x0(0x1_0001_0066_7763)); // SDEI 1.1, vendor "fwc"
/// ```
pub struct Vm<M> {
    pub(crate) config: VmConfig,
    pub(crate) arch: ArchService,
    pub(crate) features: FeatureState,
    pub(crate) sdei: Option<Sdei>,
    pub(crate) pvtime: PvTime,
    pub(crate) psci: Option<Psci>,
    pub(crate) trng: Option<Trng>,
    pub(crate) services: Vec<Registered>,
    pub(crate) mem: M,
    /// Whether the VMM installed an [`InterruptHook`]: without one, no
    /// bound interrupt can ever reach SDEI.
    pub(crate) hooked: bool,
}

impl<M> core::fmt::Debug for Vm<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Vm")
            .field("vcpus", &self.config.vcpu_count())
            .field("smccc", &self.arch.version)
            .field("features", &self.features.current())
            .field("sdei", &self.sdei.is_some())
            .field("psci", &self.psci.as_ref().map(Psci::version))
            .field("trng", &self.trng.is_some())
            .field("services", &self.services.len())
            .finish_non_exhaustive()
    }
}

impl<M: GuestMemoryAccess> Vm<M> {
    /// Builds a VM from its configuration and the VMM's guest-memory access.
    pub fn new(config: VmConfig, mem: M) -> Result<Self, ConfigError> {
        config.validate()?;
        let sdei = match &config.sdei {
            Some(c) => Some(Sdei::new(c, &config.mpidrs)?),
            None => None,
        };
        let pvtime = PvTime::new(
            &config.pvtime,
            config.vcpu_count(),
            &config.ram,
            &config.reserved,
        )?;
        let psci = match &config.psci {
            Some(p) => Some(Psci::new(
                p,
                &config.mpidrs,
                config.smccc_version,
                &crate::power::ram_pairs(&config),
            )?),
            None => None,
        };
        let vm = Self::assemble(config, mem, sdei, pvtime, psci);
        vm.follow_power();
        Ok(vm)
    }

    pub(crate) fn assemble(
        config: VmConfig,
        mem: M,
        sdei: Option<Sdei>,
        pvtime: PvTime,
        psci: Option<Psci>,
    ) -> Self {
        let mut supported = FirmwareFeatures::default();
        if sdei.is_some() {
            supported.std |= StdFeatures::SDEI;
        }
        if psci.is_some() {
            supported.std |= StdFeatures::PSCI;
        }
        let trng = config.trng.and_then(|t| {
            supported.std |= StdFeatures::TRNG;
            // Validated with the configuration; a failure cannot happen here.
            Trng::new(t, crate::power::default_entropy()).ok()
        });
        if config.pvtime.enabled {
            supported.std_hyp |= StdHypFeatures::PV_TIME;
            if config.pvtime.lpt.is_some() {
                supported.std_hyp |= StdHypFeatures::PV_TIME_LPT;
            }
        }
        let arch = ArchService {
            version: config.smccc_version,
            soc_id: config.soc_id,
            workarounds: config.workarounds,
        };
        Vm {
            arch,
            features: FeatureState::new(supported),
            sdei,
            pvtime,
            psci,
            trng,
            services: Vec::new(),
            mem,
            config,
            hooked: false,
        }
    }

    /// Adds a service of the VMM's own for the function IDs in `range`,
    /// gated by bit `feature_bit` of [`FeatureRegister::VendorHyp`] (the
    /// bit is set by default). Only before the guest's first call.
    ///
    /// On a VM restored from a snapshot, add the same services again
    /// before it runs: the vendor word keeps exactly the bits the guest
    /// saw, and [`Vm::unserved_vendor_features`] names any bit still
    /// missing its service.
    pub fn add_service(
        &mut self,
        range: RangeInclusive<u32>,
        feature_bit: u32,
        service: Box<dyn Service>,
    ) -> Result<(), ServiceError> {
        let name = || alloc::string::String::from(service.name());
        if self.features.has_served() {
            return Err(ServiceError::Started { name: name() });
        }
        if feature_bit > 63 {
            return Err(ServiceError::BadBit {
                name: name(),
                bit: feature_bit,
            });
        }
        check_range(service.name(), &range, &self.services, &self.owned_ranges())?;
        let bit = 1u64 << feature_bit;
        self.features.add_vendor_bit(bit);
        self.services.push(Registered {
            start: *range.start(),
            end: *range.end(),
            bit,
            service,
        });
        Ok(())
    }

    /// The ID ranges the configuration makes fwcall's besides the fixed
    /// ones: PSCI and TRNG when they are on (a VMM may serve them itself
    /// when they are off).
    fn owned_ranges(&self) -> Vec<(u32, u32, &'static str)> {
        let mut r = Vec::new();
        if self.psci.is_some() {
            r.push((0x8400_0000, 0x8400_001F, "PSCI"));
            r.push((0xC400_0000, 0xC400_001F, "PSCI"));
        }
        if self.trng.is_some() {
            r.push((0x8400_0050, 0x8400_0053, "TRNG"));
            r.push((0xC400_0050, 0xC400_0053, "TRNG"));
        }
        r
    }

    /// Gives TRNG its entropy source (before sharing the VM; also after a
    /// restore). With the `std` feature the default is the host's
    /// generator ([`fwcall_trng::OsEntropy`]); without it, every request
    /// answers `NO_ENTROPY` until a source is set. Ignored when TRNG is off.
    ///
    /// ```
    /// use fwcall::{Call, NoMemory, Reply, TrngConfig, VcpuIndex, Vm, VmConfig, ids};
    /// use fwcall::trng::NoSource;
    ///
    /// let mut config = VmConfig::new(1);
    /// config.trng = Some(TrngConfig::default());
    /// let mut vm = Vm::new(config, NoMemory).unwrap();
    /// vm.set_entropy_source(Box::new(NoSource));
    /// let out = vm.vcpu(VcpuIndex(0)).unwrap().handle(&Call::new(ids::TRNG_RND64, &[64]));
    /// assert_eq!(out.reply, Reply::signed(-3)); // NO_ENTROPY
    /// ```
    pub fn set_entropy_source(&mut self, source: Box<dyn EntropySource>) {
        if let Some(t) = self.trng.as_mut() {
            t.set_source(source);
        }
    }

    /// Installs the hook SDEI calls when a guest interrupt becomes an SDEI
    /// trigger (a bound event is registered) and when it is given back.
    pub fn set_interrupt_hook(&mut self, hook: Box<dyn InterruptHook>) {
        self.hooked = true;
        if let Some(s) = self.sdei.as_mut() {
            s.set_interrupt_hook(hook);
            // A restored VM may hold bindings: divert their interrupts
            // again (nothing is bound on a fresh VM, so nothing happens).
            s.replay_diversions();
        }
    }

    /// Whether an [`InterruptHook`] is installed ([`Vm::set_interrupt_hook`]).
    pub fn has_interrupt_hook(&self) -> bool {
        self.hooked
    }

    /// Vendor feature bits in force that no added service backs: after a
    /// restore, services the guest saw but the VMM has not added again.
    /// Empty on a VM built with [`Vm::new`].
    pub fn unserved_vendor_features(&self) -> crate::features::VendorHypFeatures {
        let served = self.services.iter().fold(0, |m, r| m | r.bit);
        let word = self.features.word(FeatureRegister::VendorHyp);
        crate::features::VendorHypFeatures::from_bits_retain(word & !served)
    }

    /// Writes one feature word. Refused for bits the VM cannot serve, and
    /// for any change once the guest has made a call.
    pub fn set_features(&self, register: FeatureRegister, value: u64) -> Result<(), FeatureError> {
        self.features.write(register, value)?;
        if register == FeatureRegister::Std {
            // PSCI served or not decides who owns power, and so SDEI's gates.
            self.follow_power();
        }
        Ok(())
    }

    /// The feature words in force.
    pub fn features(&self) -> FirmwareFeatures {
        self.features.current()
    }

    /// The feature words this VM could serve (the default values).
    pub fn supported_features(&self) -> FirmwareFeatures {
        self.features.supported()
    }

    /// Prepares guest-visible state before any vCPU runs: rewrites the
    /// stolen-time records the guest enabled and publishes the LPT
    /// structure, each only when the feature words switch it on. Call it
    /// once after [`Vm::new`] and once after a restore, after writing the
    /// feature words and before the first `KVM_RUN` (or equivalent).
    pub fn start(&self) -> Result<(), MemoryError> {
        let on = self.features.std_hyp();
        if !on.contains(StdHypFeatures::PV_TIME) {
            return Ok(());
        }
        self.pvtime
            .start_with(&self.mem, on.contains(StdHypFeatures::PV_TIME_LPT))
    }

    /// The handle for one vCPU.
    pub fn vcpu(&self, index: VcpuIndex) -> Result<Vcpu<'_, M>, VcpuError> {
        if index.get() < self.config.vcpu_count() {
            Ok(Vcpu { vm: self, index })
        } else {
            Err(VcpuError {
                index,
                count: self.config.vcpu_count(),
            })
        }
    }

    /// The handles of every vCPU, in order.
    pub fn vcpus(&self) -> impl Iterator<Item = Vcpu<'_, M>> {
        (0..self.config.vcpu_count() as u32).map(move |i| Vcpu {
            vm: self,
            index: VcpuIndex(i),
        })
    }

    /// The number of vCPUs.
    pub fn vcpu_count(&self) -> usize {
        self.config.vcpu_count()
    }

    /// The configuration the VM was built from.
    pub fn config(&self) -> &VmConfig {
        &self.config
    }

    /// The guest-memory access the VM writes through.
    pub fn memory(&self) -> &M {
        &self.mem
    }

    /// The SDEI server, if SDEI is configured.
    pub fn sdei(&self) -> Option<&Sdei> {
        self.sdei.as_ref()
    }

    /// The PV-time server.
    pub fn pvtime(&self) -> &PvTime {
        &self.pvtime
    }

    /// The PSCI server, if PSCI is configured.
    pub fn psci(&self) -> Option<&Psci> {
        self.psci.as_ref()
    }

    /// The TRNG server, if TRNG is configured.
    pub fn trng(&self) -> Option<&Trng> {
        self.trng.as_ref()
    }

    /// Whether fwcall serves PSCI now (configured, and on in the feature words).
    #[inline]
    pub(crate) fn psci_served(&self) -> Option<&Psci> {
        self.psci
            .as_ref()
            .filter(|_| self.features.std().contains(StdFeatures::PSCI))
    }

    /// Raises a platform SDEI event the configuration declared (an NMI-like
    /// event, a migration notification, a RAS error). `vcpu` names the
    /// target of a private event. Returns the vCPUs to kick.
    pub fn raise(&self, event: u32, vcpu: Option<VcpuIndex>) -> Result<Kicks, RaiseError> {
        let sdei = self.sdei.as_ref().ok_or(RaiseError::SdeiOff)?;
        if self.features.std().contains(StdFeatures::SDEI) {
            Ok(sdei.raise(event, vcpu)?)
        } else {
            Err(RaiseError::SdeiOff)
        }
    }

    /// Reports that guest interrupt `intid` fired (`vcpu` for a PPI). If
    /// the guest bound it to an SDEI event, SDEI takes it and the result
    /// names the vCPUs to kick; otherwise the VMM delivers it as an IRQ.
    pub fn irq(&self, intid: u32, vcpu: Option<VcpuIndex>) -> IrqOutcome {
        match &self.sdei {
            Some(s) => s.irq(intid, vcpu),
            None => IrqOutcome::NotBound,
        }
    }

    /// What `SMCCC_ARCH_FEATURES` answers for an ID outside the Arm
    /// Architecture range: truthful for everything this VM serves.
    fn arch_features_of(&self, fid: FunctionId) -> i64 {
        match fid.owner() {
            Owner::StandardSecure if (SDEI_FIRST..=SDEI_LAST).contains(&fid.number()) => {
                let served = self.sdei.is_some()
                    && self.features.std().contains(StdFeatures::SDEI)
                    && (ids::SDEI_VERSION.raw()..=ids::SDEI_SHARED_RESET.raw())
                        .contains(&fid.raw());
                if served { SUCCESS } else { NOT_SUPPORTED }
            }
            Owner::StandardSecure
                if (PSCI_FIRST..=PSCI_LAST).contains(&fid.number()) && self.psci.is_some() =>
            {
                match self.psci_served() {
                    Some(p) if p.implements(fid) => SUCCESS,
                    _ => NOT_SUPPORTED,
                }
            }
            Owner::StandardSecure
                if (TRNG_FIRST..=TRNG_LAST).contains(&fid.number()) && self.trng.is_some() =>
            {
                let on = self.features.std().contains(StdFeatures::TRNG);
                if on && Trng::implements(fid) {
                    SUCCESS
                } else {
                    NOT_SUPPORTED
                }
            }
            Owner::StandardHypervisor => {
                let on = self.features.std_hyp();
                if !on.contains(StdHypFeatures::PV_TIME) {
                    return NOT_SUPPORTED;
                }
                if is_general_query(fid) {
                    // Served whenever OEN 5 is: the same condition as the call.
                    return SUCCESS;
                }
                if fid == ids::PV_TIME_LPT && !on.contains(StdHypFeatures::PV_TIME_LPT) {
                    return NOT_SUPPORTED;
                }
                self.pvtime.arch_features(fid)
            }
            _ => match self.service_for(fid) {
                Some(s) => s.service.arch_features(fid),
                None => NOT_SUPPORTED,
            },
        }
    }

    #[inline]
    pub(crate) fn service_for(&self, fid: FunctionId) -> Option<&Registered> {
        let vendor = self.features.word(FeatureRegister::VendorHyp);
        self.services
            .iter()
            .find(|r| r.covers(fid) && vendor & r.bit != 0)
    }

    /// The routing step: serves `call` (whose ID is `fid`, already checked
    /// and stripped of the SVE hint) on `vcpu`. Every arm builds its
    /// outcome in tail position, so the (large) value is written once,
    /// straight into the caller's slot.
    #[inline]
    fn route(&self, vcpu: VcpuIndex, fid: FunctionId, call: &Call) -> Outcome {
        match fid.owner() {
            Owner::Arch => match self.arch.answer(fid, call, |q| self.arch_features_of(q)) {
                Some(x0) => Outcome::reply(Reply::x0(x0)),
                None => Outcome::not_supported(),
            },
            Owner::StandardSecure if (SDEI_FIRST..=SDEI_LAST).contains(&fid.number()) => {
                match &self.sdei {
                    Some(s) if self.features.std().contains(StdFeatures::SDEI) => {
                        s.call(vcpu, call)
                    }
                    _ => Outcome::not_supported(),
                }
            }
            Owner::StandardSecure
                if (PSCI_FIRST..=PSCI_LAST).contains(&fid.number()) && self.psci.is_some() =>
            {
                match self.psci_served() {
                    Some(p) => p.call(vcpu, call, &crate::power::Coupling::of(self)),
                    None => Outcome::not_supported(),
                }
            }
            Owner::StandardSecure
                if (TRNG_FIRST..=TRNG_LAST).contains(&fid.number()) && self.trng.is_some() =>
            {
                match &self.trng {
                    Some(t) if self.features.std().contains(StdFeatures::TRNG) => t.call(call),
                    _ => Outcome::not_supported(),
                }
            }
            Owner::StandardHypervisor => self.std_hyp(vcpu, fid, call),
            _ => match self.service_for(fid) {
                Some(r) => {
                    let mut out = r.service.call(vcpu, call);
                    // fwcall's own services return 32-bit values for SMC32
                    // calls already; a VMM's service may not.
                    if fid.convention() == Convention::Smc32 {
                        smc32_results(&mut out.reply);
                    }
                    out
                }
                None => Outcome::not_supported(),
            },
        }
    }

    #[inline]
    fn std_hyp(&self, vcpu: VcpuIndex, fid: FunctionId, call: &Call) -> Outcome {
        let on = self.features.std_hyp();
        if !on.contains(StdHypFeatures::PV_TIME) {
            return Outcome::not_supported();
        }
        if fid == ids::PV_TIME_LPT && !on.contains(StdHypFeatures::PV_TIME_LPT) {
            return Outcome::not_supported();
        }
        if is_general_query(fid) {
            match fid.number() {
                QUERY_CALL_COUNT => {
                    // The functions the words switch on: FEATURES and ST,
                    // and LPT when its bit is set (the bit exists only when
                    // LPT is configured).
                    let lpt = on.contains(StdHypFeatures::PV_TIME_LPT);
                    return Outcome::reply(Reply::x0(2 + u64::from(lpt)));
                }
                QUERY_CALL_UID => return Outcome::reply(Uid::FWCALL_STD_HYP.reply()),
                // Revision 1.0 of fwcall's OEN 5 implementation: major in
                // W0, minor in W1, nothing else written.
                _ => return Outcome::reply(Reply::x0_1([1, 0])),
            }
        }
        if fid == ids::PV_TIME_FEATURES
            && call.arg(1) as u32 == ids::PV_TIME_LPT.raw()
            && !on.contains(StdHypFeatures::PV_TIME_LPT)
        {
            return Outcome::not_supported();
        }
        match self.pvtime.answer(vcpu, call, &self.mem) {
            Some(x0) => Outcome::reply(Reply::x0(x0)),
            None => Outcome::not_supported(),
        }
    }
}

/// Whether `fid` is one of the general queries fwcall answers for OEN 5
/// (Call Count, Call UID, Revision; SMC32 only, as SMCCC defines them).
#[inline]
fn is_general_query(fid: FunctionId) -> bool {
    fid.convention() == Convention::Smc32
        && matches!(
            fid.number(),
            QUERY_CALL_COUNT | QUERY_CALL_UID | QUERY_REVISION
        )
}

/// The handle one vCPU thread uses: cheap to create, borrows the [`Vm`].
pub struct Vcpu<'vm, M> {
    vm: &'vm Vm<M>,
    index: VcpuIndex,
}

impl<M> core::fmt::Debug for Vcpu<'_, M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Vcpu")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl<M> Clone for Vcpu<'_, M> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<M> Copy for Vcpu<'_, M> {}

impl<M: GuestMemoryAccess> Vcpu<'_, M> {
    /// This vCPU's index.
    pub fn index(&self) -> VcpuIndex {
        self.index
    }

    /// Serves one HVC/SMC exit: `call` holds `X0..X17` and the conduit as
    /// the guest left them. The outcome says exactly which registers to
    /// write and which other vCPUs to kick. The PC is never part of it:
    /// the hypervisor has already moved it past the instruction.
    ///
    /// Any ID nobody serves (unknown, malformed, yielding, or switched off
    /// in the feature words) gets `NOT_SUPPORTED` in `X0` and nothing else.
    #[inline]
    pub fn handle(&self, call: &Call) -> Outcome {
        let vm = self.vm;
        vm.features.freeze();
        let raw = call.fid();
        let version = vm.arch.version;
        if !raw.is_well_formed(version) {
            return Outcome::not_supported();
        }
        let fid = raw.for_lookup(version);
        if fid == raw {
            vm.route(self.index, fid, call)
        } else {
            let mut stripped = *call;
            stripped.x[0] = fid.raw() as u64;
            vm.route(self.index, fid, &stripped)
        }
    }

    /// Whether an SDEI delivery may be waiting: a single atomic load, cheap
    /// enough to ask before every resume.
    #[inline]
    pub fn has_pending_delivery(&self) -> bool {
        match &self.vm.sdei {
            Some(s) => s.has_pending(self.index),
            None => false,
        }
    }

    /// Asks for the SDEI event to enter now, given the context the vCPU
    /// would otherwise resume (`X0..X17`, PC and PSTATE after any call
    /// result was applied, and `SCTLR_EL1`). fwcall saves that context;
    /// the VMM writes the [`Delivery`]'s registers and kicks its `kicks`.
    pub fn take_delivery(&self, interrupted: &Interrupted) -> Option<Delivery> {
        let s = self.vm.sdei.as_ref()?;
        if !self.vm.features.std().contains(StdFeatures::SDEI) {
            return None;
        }
        s.take_delivery(self.index, interrupted)
    }

    /// Resets the vCPU's SDEI state (power-on): its private SDEI events
    /// go back to unregistered, any handler in progress is discarded, and
    /// it is masked again. Stolen time and power state are kept. Returns
    /// the vCPUs to kick (a shared event the reset vCPU was chosen for may
    /// go elsewhere). Call it when the hypervisor powers the vCPU on; with
    /// fwcall's PSCI on, `CPU_ON` already does this.
    pub fn reset(&self) -> Kicks {
        match &self.vm.sdei {
            Some(s) => s.reset_vcpu(self.index),
            None => Kicks::none(),
        }
    }

    /// Accounts `ns` more nanoseconds of stolen time and, if the guest
    /// enabled PV time on this vCPU, writes its record with one 64-bit
    /// store. Returns the new total.
    #[inline]
    pub fn account_steal(&self, ns: u64) -> Result<u64, MemoryError> {
        self.vm.pvtime.account(self.index, ns, &self.vm.mem)
    }

    /// Stolen time accounted so far, in nanoseconds.
    pub fn stolen_ns(&self) -> u64 {
        self.vm.pvtime.stolen_ns(self.index)
    }

    /// This vCPU's power state (always `On` unless fwcall serves PSCI).
    #[inline]
    pub fn power_state(&self) -> PowerState {
        self.vm.power_state(self.index)
    }
}

/// SMC32 results are 32-bit: each written register keeps its low 32 bits,
/// zero-extended, except an error code, which stays sign-extended as KVM
/// writes it, so both a `W0` and an `X0` reader see -1.
#[inline]
fn smc32_results(reply: &mut Reply) {
    if let Reply::Return { regs, count } = reply {
        let n = (*count as usize).min(regs.len());
        for r in regs[..n].iter_mut() {
            let sign_extended = *r as u32 as i32 as i64 as u64;
            if !(*r == sign_extended && (*r as i64) < 0) {
                *r = *r as u32 as u64;
            }
        }
    }
}

/// A vCPU index outside the VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{index} does not exist: the VM has {count} vCPUs")]
pub struct VcpuError {
    /// The index asked for.
    pub index: VcpuIndex,
    /// How many vCPUs there are.
    pub count: usize,
}

/// A refused [`Vm::raise`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RaiseError {
    /// SDEI is not configured, or switched off in the feature words.
    #[error("SDEI is off for this VM: configure it in VmConfig::sdei to raise events")]
    SdeiOff,
    /// SDEI refused the event.
    #[error(transparent)]
    Sdei(#[from] SdeiRaiseError),
}
