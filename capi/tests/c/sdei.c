/* A Linux-style SDEI session through the C ABI: probe (VERSION, FEATURES),
 * resets, register, enable, unmask, EVENT_SIGNAL to another vCPU, the
 * delivery, four EVENT_CONTEXT calls as Linux's handler makes them, and
 * COMPLETE restoring the interrupted context; then a platform event the
 * VMM raises. */
#include "check.h"

#define ENTRY 0xffff800010001000u
#define ARG0 0x1234u

static const fwcall_vcpu *vcpu_of(const fwcall_vm *vm, uint32_t i) {
  const fwcall_vcpu *v = NULL;
  OK(fwcall_vm_vcpu(vm, i, &v));
  uint32_t index = 99;
  OK(fwcall_vcpu_index(v, &index));
  CHECK_EQ(index, i);
  return v;
}

int main(void) {
  fwcall_config *cfg = NULL;
  OK(fwcall_config_new(2, &cfg));
  /* vCPU 1 sits in another cluster: Aff1 = 1. */
  OK(fwcall_config_set_mpidr(cfg, 1, 0x100));
  OK(fwcall_config_set_sdei_slots(cfg, 2, 3));
  OK(fwcall_config_add_sdei_event(cfg, 0x200, FWCALL_EVENT_SHARED,
                                  FWCALL_PRIORITY_NORMAL));
  OK(fwcall_config_check(cfg));
  fwcall_vm *vm = NULL;
  OK(fwcall_vm_new(cfg, NULL, &vm));
  fwcall_config_free(cfg);
  OK(fwcall_vm_start(vm));
  uint32_t n = 0;
  OK(fwcall_vm_vcpu_count(vm, &n));
  CHECK_EQ(n, 2);
  const fwcall_vcpu *v0 = vcpu_of(vm, 0), *v1 = vcpu_of(vm, 1);

  /* Probe, as drivers/firmware/arm_sdei.c does: SDEI_VERSION, major 1. */
  uint64_t version = x0_of(CALL0(v0, SDEI_VERSION));
  CHECK_EQ(version >> 63, 0);             /* not an error */
  CHECK_EQ((version >> 48) & 0x7fff, 1);  /* major */
  CHECK_EQ((version >> 32) & 0xffff, 1);  /* minor: 1.1 by default */
  /* FEATURES(0): BIND_SLOTS, private in 15:0, shared in 31:16. */
  CHECK_EQ(x0_of(CALL1(v0, SDEI_FEATURES, 0)), (3u << 16) | 2u);
  /* FEATURES(1): relative mode, not supported (0) in 1.1. */
  CHECK_EQ(x0_of(CALL1(v0, SDEI_FEATURES, 1)), 0);
  /* SMCCC itself: ARCH_FEATURES says SDEI_VERSION is implemented. */
  CHECK_EQ(x0_of(CALL1(v0, SMCCC_ARCH_FEATURES, SDEI_VERSION)), 0);
  CHECK_EQ(x0_of(CALL1(v0, SMCCC_ARCH_FEATURES, 0xC4000040u)),
           SMCCC_NOT_SUPPORTED);

  /* Linux resets everything, then registers event 0 on each CPU. */
  for (uint32_t i = 0; i < 2; i++) {
    const fwcall_vcpu *v = i ? v1 : v0;
    CHECK_EQ(x0_of(CALL0(v, SDEI_PRIVATE_RESET)), 0);
    CHECK_EQ(x0_of(call5(v, SDEI_EVENT_REGISTER, 0, ENTRY, ARG0 + i, 0, 0)), 0);
    CHECK_EQ(x0_of(CALL1(v, SDEI_EVENT_ENABLE, 0)), 0);
    /* PE_UNMASK: the CPU comes online. */
    CHECK_EQ(x0_of(CALL0(v, SDEI_PE_UNMASK)), 0);
  }
  CHECK_EQ(x0_of(CALL0(v0, SDEI_SHARED_RESET)), 0);
  /* STATUS bit 0 registered, bit 1 enabled, bit 2 running. */
  CHECK_EQ(x0_of(CALL1(v1, SDEI_EVENT_STATUS, 0)), 3);
  CHECK_EQ(fwcall_vcpu_has_pending(v1), 0);

  /* vCPU 0 signals event 0 to vCPU 1 (by MPIDR): vCPU 1 must be kicked. */
  fwcall_outcome sig = CALL2(v0, SDEI_EVENT_SIGNAL, 0, 0x100);
  CHECK_EQ(x0_of(sig), 0);
  CHECK_EQ(sig.kicks.all, 0);
  CHECK_EQ(sig.kicks.count, 1);
  CHECK_EQ(sig.kicks.vcpus[0], 1);
  CHECK_EQ(sig.power.action, FWCALL_POWER_NONE);
  CHECK_EQ(fwcall_vcpu_has_pending(v0), 0);
  CHECK_EQ(fwcall_vcpu_has_pending(v1), 1);

  /* vCPU 1 was interrupted at EL1h with NZCV.N set. */
  fwcall_interrupted now;
  memset(&now, 0, sizeof now);
  for (int i = 0; i < 18; i++) now.x[i] = 0x1000u + (uint64_t)i;
  now.pc = 0xffff800010123450u;
  now.pstate = 0x80000005u;
  now.sctlr_el1 = 0x30d00800u;
  fwcall_delivery d;
  CHECK_EQ(fwcall_vcpu_take_delivery(v1, &now, &d), 1);
  CHECK_EQ(d.event, 0);
  CHECK_EQ(d.x[0], 0);          /* event number */
  CHECK_EQ(d.x[1], ARG0 + 1);   /* the argument vCPU 1 registered */
  CHECK_EQ(d.x[2], now.pc);     /* interrupted PC */
  CHECK_EQ(d.x[3], now.pstate); /* interrupted PSTATE */
  CHECK_EQ(d.pc, ENTRY);
  CHECK_EQ(d.pstate & 0xf, 5);        /* EL1h */
  CHECK_EQ(d.pstate & 0x3c0, 0x3c0);  /* D, A, I, F masked */
  CHECK_EQ(d.kicks.count, 0);
  /* Running now: STATUS has bit 2, and nothing more is pending. */
  CHECK_EQ(x0_of(CALL1(v1, SDEI_EVENT_STATUS, 0)), 7);
  CHECK_EQ(fwcall_vcpu_take_delivery(v1, &now, &d), 0);

  /* Linux's handler recovers X0..X3 with EVENT_CONTEXT. */
  for (uint64_t i = 0; i < 4; i++)
    CHECK_EQ(x0_of(CALL1(v1, SDEI_EVENT_CONTEXT, i)), 0x1000u + i);
  /* Index 18 is out of range: INVALID_PARAMETERS (-2). */
  CHECK_EQ(x0_of(CALL1(v1, SDEI_EVENT_CONTEXT, 18)), (uint64_t)(int64_t)-2);

  /* COMPLETE(HANDLED): the whole interrupted context comes back. */
  fwcall_outcome c = CALL1(v1, SDEI_EVENT_COMPLETE, 0);
  CHECK_EQ(c.reply, FWCALL_REPLY_RESTORE);
  CHECK_EQ(c.count, 18);
  for (int i = 0; i < 18; i++) CHECK_EQ(c.x[i], now.x[i]);
  CHECK_EQ(c.pc, now.pc);
  CHECK_EQ(c.pstate, now.pstate);
  CHECK_EQ(c.has_el1, 0);
  /* Nothing running any more: a second COMPLETE is DENIED. */
  CHECK_EQ(x0_of(CALL1(v1, SDEI_EVENT_COMPLETE, 0)), SDEI_DENIED);
  CHECK_EQ(x0_of(CALL1(v1, SDEI_EVENT_STATUS, 0)), 3);

  /* The VMM raises shared event 0x200, registered RM_ANY by vCPU 0. */
  fwcall_kicks k;
  OK(fwcall_vm_raise(vm, 0x200, FWCALL_NO_VCPU, &k)); /* unregistered: dropped */
  CHECK_EQ(k.count, 0);
  CHECK_EQ(x0_of(call5(v0, SDEI_EVENT_REGISTER, 0x200, ENTRY + 0x100, 7, 0, 0)), 0);
  CHECK_EQ(x0_of(CALL1(v0, SDEI_EVENT_ENABLE, 0x200)), 0);
  /* Mask vCPU 0: the event can only go to vCPU 1. */
  CHECK_EQ(x0_of(CALL0(v0, SDEI_PE_MASK)), 1);
  OK(fwcall_vm_raise(vm, 0x200, FWCALL_NO_VCPU, &k));
  CHECK_EQ(k.all, 0);
  CHECK_EQ(k.count, 1);
  CHECK_EQ(k.vcpus[0], 1);
  CHECK_EQ(fwcall_vcpu_take_delivery(v0, &now, &d), 0);
  CHECK_EQ(fwcall_vcpu_take_delivery(v1, &now, &d), 1);
  CHECK_EQ(d.event, 0x200);
  CHECK_EQ(d.x[1], 7);
  CHECK_EQ(d.pc, ENTRY + 0x100);
  CHECK_EQ(CALL1(v1, SDEI_EVENT_COMPLETE, 0).reply, FWCALL_REPLY_RESTORE);

  /* The same call over SMC is served the same way. */
  uint64_t x[FWCALL_CALL_REGS] = {SDEI_VERSION};
  fwcall_outcome smc;
  OK(fwcall_vcpu_handle(v0, x, FWCALL_CONDUIT_SMC, &smc));
  CHECK_EQ(x0_of(smc), version);

  fwcall_vm_free(vm);
  done("sdei");
  return 0;
}
