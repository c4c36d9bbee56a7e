/* Snapshot to a caller's buffer (size query, short buffer) and restore
 * into a new VM, with an SDEI handler running and PV time enabled at the
 * moment of the snapshot; then destinations and blobs that must be
 * refused, each with its code. */
#include "region.h"

#define ENTRY 0xffff800010002000u

static struct region src_mem, dst_mem;

static fwcall_config *config(uint32_t vcpus) {
  fwcall_config *cfg = NULL;
  OK(fwcall_config_new(vcpus, &cfg));
  OK(fwcall_config_add_ram(cfg, RAM_BASE, RAM_SIZE));
  OK(fwcall_config_add_reserved(cfg, REGION_BASE, REGION_SIZE));
  OK(fwcall_config_place_stolen_time(cfg, REGION_BASE));
  uint32_t boot[2] = {0, 1};
  OK(fwcall_config_set_psci(cfg, FWCALL_PSCI_V1_1, boot, 2));
  return cfg;
}

int main(void) {
  fwcall_memory smem = region_memory(&src_mem), dmem = region_memory(&dst_mem);
  fwcall_config *cfg = config(2);
  fwcall_vm *vm = NULL;
  OK(fwcall_vm_new(cfg, &smem, &vm));
  OK(fwcall_vm_start(vm));
  const fwcall_vcpu *v1 = NULL;
  OK(fwcall_vm_vcpu(vm, 1, &v1));

  /* vCPU 1: PV time enabled with 4000 ns stolen, event 0 registered and
   * enabled, and its handler running when the VM is paused. */
  CHECK_EQ(x0_of(CALL0(v1, PV_TIME_ST)), REGION_BASE + 64);
  OK(fwcall_vcpu_account_steal(v1, 4000, NULL));
  CHECK_EQ(x0_of(call5(v1, SDEI_EVENT_REGISTER, 0, ENTRY, 0x55, 0, 0)), 0);
  CHECK_EQ(x0_of(CALL1(v1, SDEI_EVENT_ENABLE, 0)), 0);
  CHECK_EQ(x0_of(CALL0(v1, SDEI_PE_UNMASK)), 0);
  CHECK_EQ(x0_of(CALL2(v1, SDEI_EVENT_SIGNAL, 0, 1)), 0); /* MPIDR of vCPU 1 */
  fwcall_interrupted now;
  memset(&now, 0, sizeof now);
  for (int i = 0; i < 18; i++) now.x[i] = 0xA0u + (uint64_t)i;
  now.pc = 0xffff800010555000u;
  now.pstate = 0x3c5;
  fwcall_delivery d;
  CHECK_EQ(fwcall_vcpu_take_delivery(v1, &now, &d), 1);

  /* Size query, then short buffers, then the real thing. */
  size_t need = 0, written = 0;
  OK(fwcall_vm_snapshot_size(vm, &need));
  CHECK(need > 32);
  CHECK_CODE(fwcall_vm_snapshot(vm, NULL, 0, &written), FWCALL_E_BUFFER_TOO_SMALL);
  CHECK_EQ(written, need);
  uint8_t *blob = malloc(need + 16);
  CHECK(blob != NULL);
  memset(blob, 0xEE, need + 16);
  written = 0;
  CHECK_CODE(fwcall_vm_snapshot(vm, blob, need - 1, &written), FWCALL_E_BUFFER_TOO_SMALL);
  CHECK_EQ(written, need);
  CHECK_EQ(blob[0], 0xEE); /* nothing copied into a short buffer */
  OK(fwcall_vm_snapshot(vm, blob, need + 16, &written));
  CHECK_EQ(written, need);
  CHECK(memcmp(blob, "FWCALLSN", 8) == 0);
  CHECK_EQ(blob[need], 0xEE); /* nothing written past the blob */
  fwcall_vm_free(vm);

  /* Restore into a new VM with its own memory (zeroed: the region did
   * not travel); start() rewrites vCPU 1's record with its total. */
  fwcall_vm *copy = NULL;
  OK(fwcall_vm_restore(cfg, &dmem, blob, need, &copy));
  OK(fwcall_vm_start(copy));
  CHECK_EQ(le(&dst_mem.bytes[64 + 8], 8), 4000);
  const fwcall_vcpu *c1 = NULL;
  OK(fwcall_vm_vcpu(copy, 1, &c1));
  uint64_t stolen = 0;
  OK(fwcall_vcpu_stolen_ns(c1, &stolen));
  CHECK_EQ(stolen, 4000);
  uint32_t power = 99;
  OK(fwcall_vcpu_power_state(c1, &power));
  CHECK_EQ(power, FWCALL_VCPU_ON);

  /* Snapshot -> restore -> snapshot is byte-identical. */
  size_t again = 0;
  uint8_t *blob2 = malloc(need);
  CHECK(blob2 != NULL);
  OK(fwcall_vm_snapshot(copy, blob2, need, &again));
  CHECK_EQ(again, need);
  CHECK(memcmp(blob, blob2, need) == 0);
  free(blob2);

  /* The handler is still running on the copy: its context is there and
   * COMPLETE brings back the interrupted registers. */
  CHECK_EQ(x0_of(CALL1(c1, SDEI_EVENT_STATUS, 0)), 7);
  for (uint64_t i = 0; i < 4; i++)
    CHECK_EQ(x0_of(CALL1(c1, SDEI_EVENT_CONTEXT, i)), 0xA0u + i);
  fwcall_outcome c = CALL1(c1, SDEI_EVENT_COMPLETE, 0);
  CHECK_EQ(c.reply, FWCALL_REPLY_RESTORE);
  CHECK_EQ(c.pc, now.pc);
  CHECK_EQ(c.x[17], 0xA0u + 17);
  fwcall_vm_free(copy);

  /* Refusals: each with its code, and a message naming the reason. */
  fwcall_vm *none = NULL;
  fwcall_config *bigger = config(3);
  CHECK_CODE(fwcall_vm_restore(bigger, &dmem, blob, need, &none), FWCALL_E_INCOMPATIBLE);
  char msg[256];
  CHECK(fwcall_last_error(msg, sizeof msg) > 0);
  CHECK(strstr(msg, "vCPU count") != NULL);
  fwcall_config_free(bigger);
  fwcall_config *no_psci = config(2);
  OK(fwcall_config_set_psci(no_psci, FWCALL_PSCI_NONE, NULL, 0));
  CHECK_CODE(fwcall_vm_restore(no_psci, &dmem, blob, need, &none), FWCALL_E_INCOMPATIBLE);
  fwcall_config_free(no_psci);
  /* Truncated anywhere, or one byte flipped anywhere: a format error. */
  for (size_t len = 0; len < need; len += 7)
    CHECK_CODE(fwcall_vm_restore(cfg, &dmem, blob, len, &none), FWCALL_E_SNAPSHOT_FORMAT);
  for (size_t at = 0; at < need; at += 5) {
    blob[at] ^= 0x40;
    int32_t rc = fwcall_vm_restore(cfg, &dmem, blob, need, &none);
    CHECK(rc == FWCALL_E_SNAPSHOT_FORMAT);
    blob[at] ^= 0x40;
  }
  CHECK(none == NULL); /* nothing was ever made */
  /* Not a snapshot at all. */
  CHECK_CODE(fwcall_vm_restore(cfg, &dmem, (const uint8_t *)"hello, world", 12, &none),
             FWCALL_E_SNAPSHOT_FORMAT);
  /* The intact blob still restores. */
  OK(fwcall_vm_restore(cfg, &dmem, blob, need, &copy));
  fwcall_vm_free(copy);

  free(blob);
  fwcall_config_free(cfg);
  done("snapshot");
  return 0;
}
