//! A typed view of the calls fwcall serves, with both directions:
//! [`Decoded::decode`] from registers and [`Decoded::encode`] back, so the
//! `decode` fuzz target can check that the two round-trip.

use fwcall::smccc::Convention;
use fwcall::{Call, Conduit, FunctionId, ids};

/// What a call's registers mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `SMCCC_VERSION`.
    SmcccVersion,
    /// `SMCCC_ARCH_FEATURES(fid)`.
    ArchFeatures {
        /// The queried ID (`W1`).
        fid: u32,
    },
    /// `SDEI_VERSION`.
    SdeiVersion,
    /// `SDEI_EVENT_REGISTER`.
    Register {
        /// `X1`.
        event: u64,
        /// `X2`.
        entry: u64,
        /// `X3`.
        arg: u64,
        /// `X4`.
        flags: u64,
        /// `X5`.
        affinity: u64,
    },
    /// `SDEI_EVENT_ENABLE`.
    Enable {
        /// `X1`.
        event: u64,
    },
    /// `SDEI_EVENT_DISABLE`.
    Disable {
        /// `X1`.
        event: u64,
    },
    /// `SDEI_EVENT_CONTEXT`.
    Context {
        /// `X1`.
        index: u64,
    },
    /// `SDEI_EVENT_COMPLETE`.
    Complete {
        /// `X1`.
        status: u64,
    },
    /// `SDEI_EVENT_COMPLETE_AND_RESUME`.
    CompleteAndResume {
        /// `X1`.
        addr: u64,
    },
    /// `SDEI_EVENT_UNREGISTER`.
    Unregister {
        /// `X1`.
        event: u64,
    },
    /// `SDEI_EVENT_STATUS`.
    Status {
        /// `X1`.
        event: u64,
    },
    /// `SDEI_EVENT_GET_INFO`.
    GetInfo {
        /// `X1`.
        event: u64,
        /// `X2`.
        info: u64,
    },
    /// `SDEI_EVENT_ROUTING_SET`.
    RoutingSet {
        /// `X1`.
        event: u64,
        /// `X2`.
        flags: u64,
        /// `X3`.
        affinity: u64,
    },
    /// `SDEI_PE_MASK`.
    PeMask,
    /// `SDEI_PE_UNMASK`.
    PeUnmask,
    /// `SDEI_INTERRUPT_BIND`.
    Bind {
        /// `X1`.
        intid: u64,
    },
    /// `SDEI_INTERRUPT_RELEASE`.
    Release {
        /// `X1`.
        event: u64,
    },
    /// `SDEI_EVENT_SIGNAL`.
    Signal {
        /// `X1`.
        event: u64,
        /// `X2`.
        target: u64,
    },
    /// `SDEI_FEATURES`.
    Features {
        /// `X1`.
        feature: u64,
    },
    /// `SDEI_PRIVATE_RESET`.
    PrivateReset,
    /// `SDEI_SHARED_RESET`.
    SharedReset,
    /// `PV_TIME_FEATURES(fid)`.
    PvFeatures {
        /// The queried ID (`W1`).
        fid: u32,
    },
    /// `PV_TIME_ST`.
    PvSt,
    /// `PV_TIME_LPT`.
    PvLpt,
    /// Anything else: only the ID is known.
    Other {
        /// The ID as given.
        fid: u32,
    },
}

/// A decoded call: the conduit, whether the SVE hint was set, the op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// HVC or SMC.
    pub conduit: Conduit,
    /// Bit 16 of the ID.
    pub sve_hint: bool,
    /// The call.
    pub op: Op,
}

impl Decoded {
    /// Decodes a call. Never fails: unknown IDs become [`Op::Other`].
    pub fn decode(call: &Call) -> Self {
        let raw = call.fid();
        let sve_hint = raw.sve_hint();
        let fid = raw.without_sve_hint();
        let a = |n: usize| call.arg(n);
        let op = match fid {
            ids::SMCCC_VERSION => Op::SmcccVersion,
            ids::SMCCC_ARCH_FEATURES => Op::ArchFeatures { fid: a(1) as u32 },
            ids::SDEI_VERSION => Op::SdeiVersion,
            ids::SDEI_EVENT_REGISTER => Op::Register {
                event: a(1),
                entry: a(2),
                arg: a(3),
                flags: a(4),
                affinity: a(5),
            },
            ids::SDEI_EVENT_ENABLE => Op::Enable { event: a(1) },
            ids::SDEI_EVENT_DISABLE => Op::Disable { event: a(1) },
            ids::SDEI_EVENT_CONTEXT => Op::Context { index: a(1) },
            ids::SDEI_EVENT_COMPLETE => Op::Complete { status: a(1) },
            ids::SDEI_EVENT_COMPLETE_AND_RESUME => Op::CompleteAndResume { addr: a(1) },
            ids::SDEI_EVENT_UNREGISTER => Op::Unregister { event: a(1) },
            ids::SDEI_EVENT_STATUS => Op::Status { event: a(1) },
            ids::SDEI_EVENT_GET_INFO => Op::GetInfo {
                event: a(1),
                info: a(2),
            },
            ids::SDEI_EVENT_ROUTING_SET => Op::RoutingSet {
                event: a(1),
                flags: a(2),
                affinity: a(3),
            },
            ids::SDEI_PE_MASK => Op::PeMask,
            ids::SDEI_PE_UNMASK => Op::PeUnmask,
            ids::SDEI_INTERRUPT_BIND => Op::Bind { intid: a(1) },
            ids::SDEI_INTERRUPT_RELEASE => Op::Release { event: a(1) },
            ids::SDEI_EVENT_SIGNAL => Op::Signal {
                event: a(1),
                target: a(2),
            },
            ids::SDEI_FEATURES => Op::Features { feature: a(1) },
            ids::SDEI_PRIVATE_RESET => Op::PrivateReset,
            ids::SDEI_SHARED_RESET => Op::SharedReset,
            ids::PV_TIME_FEATURES => Op::PvFeatures { fid: a(1) as u32 },
            ids::PV_TIME_ST => Op::PvSt,
            ids::PV_TIME_LPT => Op::PvLpt,
            _ => Op::Other { fid: fid.raw() },
        };
        Decoded {
            conduit: call.conduit,
            sve_hint,
            op,
        }
    }

    /// The registers of this call (unused ones zero).
    pub fn encode(&self) -> Call {
        let (fid, args): (FunctionId, [u64; 5]) = match self.op {
            Op::SmcccVersion => (ids::SMCCC_VERSION, [0; 5]),
            Op::ArchFeatures { fid } => (ids::SMCCC_ARCH_FEATURES, [u64::from(fid), 0, 0, 0, 0]),
            Op::SdeiVersion => (ids::SDEI_VERSION, [0; 5]),
            Op::Register {
                event,
                entry,
                arg,
                flags,
                affinity,
            } => (
                ids::SDEI_EVENT_REGISTER,
                [event, entry, arg, flags, affinity],
            ),
            Op::Enable { event } => (ids::SDEI_EVENT_ENABLE, [event, 0, 0, 0, 0]),
            Op::Disable { event } => (ids::SDEI_EVENT_DISABLE, [event, 0, 0, 0, 0]),
            Op::Context { index } => (ids::SDEI_EVENT_CONTEXT, [index, 0, 0, 0, 0]),
            Op::Complete { status } => (ids::SDEI_EVENT_COMPLETE, [status, 0, 0, 0, 0]),
            Op::CompleteAndResume { addr } => {
                (ids::SDEI_EVENT_COMPLETE_AND_RESUME, [addr, 0, 0, 0, 0])
            }
            Op::Unregister { event } => (ids::SDEI_EVENT_UNREGISTER, [event, 0, 0, 0, 0]),
            Op::Status { event } => (ids::SDEI_EVENT_STATUS, [event, 0, 0, 0, 0]),
            Op::GetInfo { event, info } => (ids::SDEI_EVENT_GET_INFO, [event, info, 0, 0, 0]),
            Op::RoutingSet {
                event,
                flags,
                affinity,
            } => (ids::SDEI_EVENT_ROUTING_SET, [event, flags, affinity, 0, 0]),
            Op::PeMask => (ids::SDEI_PE_MASK, [0; 5]),
            Op::PeUnmask => (ids::SDEI_PE_UNMASK, [0; 5]),
            Op::Bind { intid } => (ids::SDEI_INTERRUPT_BIND, [intid, 0, 0, 0, 0]),
            Op::Release { event } => (ids::SDEI_INTERRUPT_RELEASE, [event, 0, 0, 0, 0]),
            Op::Signal { event, target } => (ids::SDEI_EVENT_SIGNAL, [event, target, 0, 0, 0]),
            Op::Features { feature } => (ids::SDEI_FEATURES, [feature, 0, 0, 0, 0]),
            Op::PrivateReset => (ids::SDEI_PRIVATE_RESET, [0; 5]),
            Op::SharedReset => (ids::SDEI_SHARED_RESET, [0; 5]),
            Op::PvFeatures { fid } => (ids::PV_TIME_FEATURES, [u64::from(fid), 0, 0, 0, 0]),
            Op::PvSt => (ids::PV_TIME_ST, [0; 5]),
            Op::PvLpt => (ids::PV_TIME_LPT, [0; 5]),
            Op::Other { fid } => (FunctionId(fid), [0; 5]),
        };
        let fid = if self.sve_hint {
            FunctionId(fid.raw() | FunctionId::SVE_HINT_BIT)
        } else {
            fid
        };
        let mut call = Call::new(fid, &args);
        call.conduit = self.conduit;
        // An SMC32 call only has 32-bit arguments.
        if fid.convention() == Convention::Smc32 {
            for r in &mut call.x[1..] {
                *r = u64::from(*r as u32);
            }
        }
        call
    }
}
