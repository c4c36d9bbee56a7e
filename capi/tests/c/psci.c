/* PSCI and TRNG through the C ABI, opted in by configuration: power
 * actions come back in the outcome (CPU_ON with its entry state, SYSTEM_RESET),
 * vCPU power states follow, and fwcall_vm_reset brings the boot set back.
 * Values from DEN0022 (PSCI) and DEN0098 (TRNG). */
#include "check.h"

#define PSCI_AFFINITY_INFO_64 0xC4000004u
#define PSCI_SYSTEM_RESET 0x84000009u
#define TRNG_VERSION 0x84000050u
#define PSCI_ALREADY_ON ((uint64_t)(int64_t)-4)

int main(void) {
  fwcall_config *cfg = NULL;
  OK(fwcall_config_new(2, &cfg));
  OK(fwcall_config_add_ram(cfg, 0x40000000u, 256u << 20));
  OK(fwcall_config_set_psci(cfg, FWCALL_PSCI_V1_1, NULL, 0)); /* vCPU 0 boots */
  OK(fwcall_config_set_trng(cfg, true));
  fwcall_vm *vm = NULL;
  OK(fwcall_vm_new(cfg, NULL, &vm));
  fwcall_config_free(cfg);
  const fwcall_vcpu *v0 = NULL, *v1 = NULL;
  OK(fwcall_vm_vcpu(vm, 0, &v0));
  OK(fwcall_vm_vcpu(vm, 1, &v1));
  uint32_t state = 99;
  OK(fwcall_vcpu_power_state(v1, &state));
  CHECK_EQ(state, FWCALL_VCPU_OFF);
  /* STD word: SDEI (bit 0), PSCI (bit 1), TRNG (bit 2). */
  uint64_t word = 0;
  OK(fwcall_vm_features(vm, FWCALL_FEATURES_STD, &word));
  CHECK_EQ(word, 0x7);

  /* PSCI_VERSION: major 1 in bits 31:16, minor 1. */
  CHECK_EQ(x0_of(CALL0(v0, PSCI_VERSION)), 0x10001);
  /* TRNG_VERSION: 1.0. */
  CHECK_EQ(x0_of(CALL0(v0, TRNG_VERSION)), 0x10000);
  /* AFFINITY_INFO(vCPU 1, level 0): OFF (1). */
  CHECK_EQ(x0_of(CALL2(v0, PSCI_AFFINITY_INFO_64, 1, 0)), 1);

  /* CPU_ON(vCPU 1, entry, context): SUCCESS and an action to apply. */
  fwcall_outcome on = call5(v0, PSCI_CPU_ON_64, 1, 0x40080000u, 0xC0FFEE, 0, 0);
  CHECK_EQ(x0_of(on), 0);
  CHECK_EQ(on.power.action, FWCALL_POWER_CPU_ON);
  CHECK_EQ(on.power.target, 1);
  CHECK_EQ(on.power.entry, 0x40080000u);
  CHECK_EQ(on.power.context_id, 0xC0FFEE);
  OK(fwcall_vcpu_power_state(v1, &state));
  CHECK_EQ(state, FWCALL_VCPU_ON);
  CHECK_EQ(x0_of(CALL2(v0, PSCI_AFFINITY_INFO_64, 1, 0)), 0); /* ON */
  /* Again: ALREADY_ON, and no action. */
  on = call5(v0, PSCI_CPU_ON_64, 1, 0x40080000u, 0, 0, 0);
  CHECK_EQ(x0_of(on), PSCI_ALREADY_ON);
  CHECK_EQ(on.power.action, FWCALL_POWER_NONE);

  /* SYSTEM_RESET: the VMM resets the VM, fwcall's part included. */
  fwcall_outcome reset = CALL0(v1, PSCI_SYSTEM_RESET);
  CHECK_EQ(reset.power.action, FWCALL_POWER_SYSTEM_RESET);
  OK(fwcall_vm_reset(vm));
  OK(fwcall_vcpu_power_state(v1, &state));
  CHECK_EQ(state, FWCALL_VCPU_OFF);
  OK(fwcall_vcpu_power_state(v0, &state));
  CHECK_EQ(state, FWCALL_VCPU_ON);

  fwcall_vm_free(vm);
  done("psci");
  return 0;
}
