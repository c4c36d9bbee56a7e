/* PV time through the C ABI: the stolen-time table placed in a reserved
 * region the VMM backs with its own memory callbacks; PV_TIME_FEATURES
 * and PV_TIME_ST as Linux calls them; stolen time accounted by the VMM
 * and read back from the record in guest memory (DEN0057: revision 0,
 * attributes 0, stolen_time at offset 8, little-endian). */
#include "check.h"

#include "region.h"

static struct region region;

int main(void) {
  memset(region.bytes, 0xAA, sizeof region.bytes); /* shows what was written */
  fwcall_memory mem = region_memory(&region);

  fwcall_config *cfg = NULL;
  OK(fwcall_config_new(2, &cfg));
  OK(fwcall_config_add_ram(cfg, RAM_BASE, RAM_SIZE));
  OK(fwcall_config_add_reserved(cfg, REGION_BASE, REGION_SIZE));
  OK(fwcall_config_place_stolen_time(cfg, REGION_BASE));
  fwcall_vm *vm = NULL;
  OK(fwcall_vm_new(cfg, &mem, &vm));
  OK(fwcall_vm_start(vm));
  CHECK_EQ(region.writes, 0); /* nothing enabled yet: nothing written */
  const fwcall_vcpu *v0 = NULL, *v1 = NULL;
  OK(fwcall_vm_vcpu(vm, 0, &v0));
  OK(fwcall_vm_vcpu(vm, 1, &v1));

  /* The feature word says PV time is on (STD_HYP bit 0). */
  uint64_t word = 0;
  OK(fwcall_vm_features(vm, FWCALL_FEATURES_STD_HYP, &word));
  CHECK_EQ(word & 1, 1);

  /* Linux: ARCH_FEATURES(PV_TIME_FEATURES), PV_TIME_FEATURES(PV_TIME_ST),
   * then PV_TIME_ST on each CPU. */
  CHECK_EQ(x0_of(CALL1(v1, SMCCC_ARCH_FEATURES, PV_TIME_FEATURES)), 0);
  CHECK_EQ(x0_of(CALL1(v1, PV_TIME_FEATURES, PV_TIME_ST)), 0);
  uint64_t ipa = x0_of(CALL0(v1, PV_TIME_ST));
  CHECK_EQ(ipa, REGION_BASE + 64 * 1); /* vCPU 1's record: base + 64 * 1 */

  /* The record, as the guest maps it. */
  const uint8_t *rec1 = &region.bytes[ipa - REGION_BASE];
  CHECK_EQ(le(rec1, 4), 0);      /* revision */
  CHECK_EQ(le(rec1 + 4, 4), 0);  /* attributes */
  CHECK_EQ(le(rec1 + 8, 8), 0);  /* stolen_time: none accounted yet */
  for (int i = 16; i < 64; i++) CHECK_EQ(rec1[i], 0); /* padding zeroed */

  /* The VMM accounts run delay; each update is one 64-bit store. */
  uint64_t total = 0;
  unsigned before = region.writes;
  OK(fwcall_vcpu_account_steal(v1, 1500, &total));
  CHECK_EQ(total, 1500);
  OK(fwcall_vcpu_account_steal(v1, 2500, NULL)); /* total is optional */
  CHECK_EQ(region.writes - before, 2);
  CHECK_EQ(le(rec1 + 8, 8), 4000);
  OK(fwcall_vcpu_stolen_ns(v1, &total));
  CHECK_EQ(total, 4000);

  /* vCPU 0 never enabled its record: accounted, but nothing written. */
  OK(fwcall_vcpu_account_steal(v0, 700, &total));
  CHECK_EQ(total, 700);
  for (int i = 0; i < 64; i++) CHECK_EQ(region.bytes[i], 0xAA);

  /* A failing store is reported and the total kept; the next success
   * publishes the whole total. */
  region.fail_writes = 1;
  CHECK_CODE(fwcall_vcpu_account_steal(v1, 1000, &total), FWCALL_E_MEMORY);
  CHECK_EQ(le(rec1 + 8, 8), 4000);
  region.fail_writes = 0;
  OK(fwcall_vcpu_account_steal(v1, 0, &total));
  CHECK_EQ(total, 5000);
  CHECK_EQ(le(rec1 + 8, 8), 5000);

  /* start() after a pause rewrites enabled records with their totals:
   * wipe the region as a VMM that does not migrate it would. */
  memset(region.bytes, 0, sizeof region.bytes);
  OK(fwcall_vm_start(vm));
  CHECK_EQ(le(rec1 + 8, 8), 5000);
  fwcall_vm_free(vm);

  /* A VM whose memory refuses writes: PV_TIME_ST cannot write the record
   * and answers NOT_SUPPORTED rather than hand out an unwritten one. */
  region.fail_writes = 1;
  OK(fwcall_vm_new(cfg, &mem, &vm));
  OK(fwcall_vm_vcpu(vm, 0, &v0));
  CHECK_EQ(x0_of(CALL0(v0, PV_TIME_ST)), SMCCC_NOT_SUPPORTED);
  fwcall_vm_free(vm);

  /* No memory at all (NULL): the same answer, and no crash. */
  OK(fwcall_vm_new(cfg, NULL, &vm));
  OK(fwcall_vm_vcpu(vm, 0, &v0));
  CHECK_EQ(x0_of(CALL0(v0, PV_TIME_ST)), SMCCC_NOT_SUPPORTED);
  fwcall_vm_free(vm);

  /* The VMM switches PV time off before the guest's first call: every
   * PV-time call answers NOT_SUPPORTED and nothing is written. */
  region.fail_writes = 0;
  memset(region.bytes, 0xAA, sizeof region.bytes);
  unsigned writes_before = region.writes;
  OK(fwcall_vm_new(cfg, &mem, &vm));
  OK(fwcall_vm_set_features(vm, FWCALL_FEATURES_STD_HYP, 0));
  OK(fwcall_vm_start(vm));
  OK(fwcall_vm_vcpu(vm, 0, &v0));
  CHECK_EQ(x0_of(CALL1(v0, SMCCC_ARCH_FEATURES, PV_TIME_FEATURES)), SMCCC_NOT_SUPPORTED);
  CHECK_EQ(x0_of(CALL0(v0, PV_TIME_ST)), SMCCC_NOT_SUPPORTED);
  OK(fwcall_vcpu_account_steal(v0, 100, NULL)); /* accounted, not written */
  CHECK_EQ(region.writes, writes_before);
  for (size_t i = 0; i < sizeof region.bytes; i++) CHECK_EQ(region.bytes[i], 0xAA);
  fwcall_vm_free(vm);
  fwcall_config_free(cfg);
  done("pvtime");
  return 0;
}
