/* Every error path of the C API returns its code and never crashes:
 * NULL for each required pointer, vCPUs that do not exist, constants out
 * of range, invalid configurations, raises fwcall must refuse, feature
 * words after the first call, and the error strings themselves. Short
 * buffers and corrupted blobs are in snapshot.c. */
#include "check.h"

int main(void) {
  fwcall_config *cfg = NULL;
  fwcall_vm *vm = NULL;
  const fwcall_vcpu *v = NULL;
  fwcall_outcome out;
  fwcall_delivery d;
  fwcall_interrupted now;
  fwcall_kicks k;
  uint64_t x[FWCALL_CALL_REGS] = {SDEI_VERSION};
  uint64_t u64 = 0;
  uint32_t u32 = 0;
  size_t size = 0;
  uint8_t byte = 0;
  memset(&now, 0, sizeof now);

  /* Configuration: NULL, and values out of range. */
  CHECK_CODE(fwcall_config_new(1, NULL), FWCALL_E_NULL);
  CHECK_CODE(fwcall_config_new(0, &cfg), FWCALL_E_INVALID_ARGUMENT);
  CHECK(cfg == NULL);
  CHECK_CODE(fwcall_config_set_mpidr(NULL, 0, 0), FWCALL_E_NULL);
  CHECK_CODE(fwcall_config_set_smccc_version(NULL, 1, 1), FWCALL_E_NULL);
  CHECK_CODE(fwcall_config_set_sdei(NULL, FWCALL_SDEI_V1_1), FWCALL_E_NULL);
  CHECK_CODE(fwcall_config_add_sdei_event(NULL, 5, 0, 0), FWCALL_E_NULL);
  CHECK_CODE(fwcall_config_set_sdei_slots(NULL, 0, 0), FWCALL_E_NULL);
  CHECK_CODE(fwcall_config_set_cpu_features(NULL, 0), FWCALL_E_NULL);
  CHECK_CODE(fwcall_config_set_pvtime(NULL, true), FWCALL_E_NULL);
  CHECK_CODE(fwcall_config_place_stolen_time(NULL, 0), FWCALL_E_NULL);
  CHECK_CODE(fwcall_config_set_lpt(NULL, 0, 1), FWCALL_E_NULL);
  CHECK_CODE(fwcall_config_set_native_hz(NULL, 1), FWCALL_E_NULL);
  CHECK_CODE(fwcall_config_add_ram(NULL, 0, 1), FWCALL_E_NULL);
  CHECK_CODE(fwcall_config_add_reserved(NULL, 0, 1), FWCALL_E_NULL);
  CHECK_CODE(fwcall_config_set_soc_id(NULL, 0, 0), FWCALL_E_NULL);
  CHECK_CODE(fwcall_config_set_psci(NULL, FWCALL_PSCI_V1_1, NULL, 0), FWCALL_E_NULL);
  CHECK_CODE(fwcall_config_set_trng(NULL, true), FWCALL_E_NULL);
  CHECK_CODE(fwcall_config_check(NULL), FWCALL_E_NULL);
  fwcall_config_free(NULL);

  OK(fwcall_config_new(2, &cfg));
  CHECK_CODE(fwcall_config_set_mpidr(cfg, 2, 0x2), FWCALL_E_NO_SUCH_VCPU);
  CHECK_CODE(fwcall_config_set_smccc_version(cfg, 2, 0), FWCALL_E_INVALID_ARGUMENT);
  CHECK_CODE(fwcall_config_set_sdei(cfg, 3), FWCALL_E_INVALID_ARGUMENT);
  CHECK_CODE(fwcall_config_add_sdei_event(cfg, 5, 2, FWCALL_PRIORITY_NORMAL),
             FWCALL_E_INVALID_ARGUMENT);
  CHECK_CODE(fwcall_config_add_sdei_event(cfg, 5, FWCALL_EVENT_PRIVATE, 2),
             FWCALL_E_INVALID_ARGUMENT);
  CHECK_CODE(fwcall_config_set_cpu_features(cfg, 1u << 9), FWCALL_E_INVALID_ARGUMENT);
  CHECK_CODE(fwcall_config_set_lpt(cfg, 0x0a200000, 0), FWCALL_E_INVALID_ARGUMENT);
  CHECK_CODE(fwcall_config_set_native_hz(cfg, 0), FWCALL_E_INVALID_ARGUMENT);
  CHECK_CODE(fwcall_config_add_ram(cfg, 0x40000000, 0), FWCALL_E_INVALID_ARGUMENT);
  CHECK_CODE(fwcall_config_add_reserved(cfg, 0x0a000000, 0), FWCALL_E_INVALID_ARGUMENT);
  CHECK_CODE(fwcall_config_set_soc_id(cfg, 0x80000000u, 0), FWCALL_E_INVALID_ARGUMENT);
  CHECK_CODE(fwcall_config_set_psci(cfg, 7, NULL, 0), FWCALL_E_INVALID_ARGUMENT);
  CHECK_CODE(fwcall_config_set_psci(cfg, FWCALL_PSCI_V1_0, NULL, 1), FWCALL_E_NULL);
  uint32_t boot_missing[1] = {2};
  CHECK_CODE(fwcall_config_set_psci(cfg, FWCALL_PSCI_V1_0, boot_missing, 1),
             FWCALL_E_NO_SUCH_VCPU);

  /* Invalid as a whole: two vCPUs with one MPIDR; the message says so. */
  OK(fwcall_config_set_mpidr(cfg, 1, 0x0));
  CHECK_CODE(fwcall_config_check(cfg), FWCALL_E_CONFIG);
  CHECK_CODE(fwcall_vm_new(cfg, NULL, &vm), FWCALL_E_CONFIG);
  CHECK(vm == NULL);
  char msg[200];
  size_t len = fwcall_last_error(msg, sizeof msg);
  CHECK(len > 0 && len == strlen(msg));
  CHECK(strstr(msg, "share the affinity") != NULL);
  /* Truncation keeps a NUL; a zero-length buffer only reports the size. */
  char tiny[5];
  CHECK_EQ(fwcall_last_error(tiny, sizeof tiny), len);
  CHECK_EQ(strlen(tiny), 4);
  CHECK_EQ(fwcall_last_error(NULL, 0), len);
  OK(fwcall_config_set_mpidr(cfg, 1, 0x1));
  /* A private platform event, for the raise errors below. */
  OK(fwcall_config_add_sdei_event(cfg, 0x300, FWCALL_EVENT_PRIVATE, FWCALL_PRIORITY_CRITICAL));
  /* A duplicate event is a configuration error only when checked. */
  OK(fwcall_config_add_sdei_event(cfg, 0x300, FWCALL_EVENT_SHARED, FWCALL_PRIORITY_NORMAL));
  CHECK_CODE(fwcall_config_check(cfg), FWCALL_E_CONFIG);
  fwcall_config_free(cfg);
  OK(fwcall_config_new(2, &cfg));
  OK(fwcall_config_add_sdei_event(cfg, 0x300, FWCALL_EVENT_PRIVATE, FWCALL_PRIORITY_CRITICAL));

  /* VM construction and its functions. */
  CHECK_CODE(fwcall_vm_new(NULL, NULL, &vm), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vm_new(cfg, NULL, NULL), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vm_restore(NULL, NULL, &byte, 1, &vm), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vm_restore(cfg, NULL, NULL, 0, &vm), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vm_restore(cfg, NULL, &byte, 1, NULL), FWCALL_E_NULL);
  OK(fwcall_vm_new(cfg, NULL, &vm));
  CHECK_CODE(fwcall_vm_start(NULL), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vm_vcpu_count(NULL, &u32), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vm_vcpu_count(vm, NULL), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vm_vcpu(NULL, 0, &v), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vm_vcpu(vm, 0, NULL), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vm_vcpu(vm, 2, &v), FWCALL_E_NO_SUCH_VCPU);
  CHECK_CODE(fwcall_vm_vcpu(vm, UINT32_MAX, &v), FWCALL_E_NO_SUCH_VCPU);
  CHECK(v == NULL);
  CHECK_CODE(fwcall_vm_raise(NULL, 0x300, 0, &k), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vm_raise(vm, 0x300, 0, NULL), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vm_raise(vm, 0x300, FWCALL_NO_VCPU, &k), FWCALL_E_VCPU_REQUIRED);
  CHECK_CODE(fwcall_vm_raise(vm, 0x300, 2, &k), FWCALL_E_NO_SUCH_VCPU);
  CHECK_CODE(fwcall_vm_raise(vm, 0x301, 0, &k), FWCALL_E_UNKNOWN_EVENT);
  CHECK_CODE(fwcall_vm_raise(vm, 0, 0, &k), FWCALL_E_UNKNOWN_EVENT); /* event 0: guest's */
  OK(fwcall_vm_raise(vm, 0x300, 1, &k)); /* unregistered: dropped */
  CHECK_CODE(fwcall_vm_features(NULL, FWCALL_FEATURES_STD, &u64), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vm_features(vm, FWCALL_FEATURES_STD, NULL), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vm_features(vm, 3, &u64), FWCALL_E_INVALID_ARGUMENT);
  CHECK_CODE(fwcall_vm_set_features(NULL, FWCALL_FEATURES_STD, 0), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vm_set_features(vm, 3, 0), FWCALL_E_INVALID_ARGUMENT);
  /* PSCI is not configured: its bit (STD bit 1) cannot be set. */
  CHECK_CODE(fwcall_vm_set_features(vm, FWCALL_FEATURES_STD, 0x3), FWCALL_E_FEATURES);
  CHECK_CODE(fwcall_vm_reset(NULL), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vm_snapshot_size(NULL, &size), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vm_snapshot_size(vm, NULL), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vm_snapshot(NULL, &byte, 1, &size), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vm_snapshot(vm, &byte, 1, NULL), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vm_snapshot(vm, &byte, 1, &size), FWCALL_E_BUFFER_TOO_SMALL);

  /* vCPU functions. */
  OK(fwcall_vm_vcpu(vm, 1, &v));
  CHECK_CODE(fwcall_vcpu_index(NULL, &u32), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vcpu_index(v, NULL), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vcpu_handle(NULL, x, FWCALL_CONDUIT_HVC, &out), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vcpu_handle(v, NULL, FWCALL_CONDUIT_HVC, &out), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vcpu_handle(v, x, FWCALL_CONDUIT_HVC, NULL), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vcpu_handle(v, x, 2, &out), FWCALL_E_INVALID_ARGUMENT);
  CHECK_CODE(fwcall_vcpu_has_pending(NULL), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vcpu_take_delivery(NULL, &now, &d), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vcpu_take_delivery(v, NULL, &d), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vcpu_take_delivery(v, &now, NULL), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vcpu_account_steal(NULL, 1, &u64), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vcpu_stolen_ns(NULL, &u64), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vcpu_stolen_ns(v, NULL), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vcpu_power_state(NULL, &u32), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vcpu_power_state(v, NULL), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vcpu_reset(NULL, &k), FWCALL_E_NULL);
  CHECK_CODE(fwcall_vcpu_reset(v, NULL), FWCALL_E_NULL);

  /* A guest's garbage is never an API error: unknown IDs answer -1. */
  for (uint64_t fid = 0; fid < 0x100000000u; fid += 0x01000007u) {
    uint64_t regs[FWCALL_CALL_REGS];
    for (int i = 0; i < 18; i++) regs[i] = fid * 0x9E3779B97F4A7C15u + (uint64_t)i;
    regs[0] = fid;
    OK(fwcall_vcpu_handle(v, regs, FWCALL_CONDUIT_SMC, &out));
    CHECK(out.reply <= FWCALL_REPLY_NOTHING && out.count <= 18);
  }
  /* The guest has called now: its ABI is frozen. */
  OK(fwcall_vm_features(vm, FWCALL_FEATURES_STD, &u64));
  CHECK_EQ(u64 & 1, 1); /* SDEI */
  OK(fwcall_vm_set_features(vm, FWCALL_FEATURES_STD, u64)); /* same value: fine */
  CHECK_CODE(fwcall_vm_set_features(vm, FWCALL_FEATURES_STD, 0), FWCALL_E_FEATURES);
  fwcall_vm_free(vm);
  fwcall_vm_free(NULL);

  /* Without SDEI, raising anything is SDEI_OFF; events cannot be added. */
  OK(fwcall_config_set_sdei(cfg, FWCALL_SDEI_NONE));
  CHECK_CODE(fwcall_config_add_sdei_event(cfg, 5, 0, 0), FWCALL_E_SDEI_OFF);
  CHECK_CODE(fwcall_config_set_sdei_slots(cfg, 0, 0), FWCALL_E_SDEI_OFF);
  CHECK_CODE(fwcall_config_set_cpu_features(cfg, 0), FWCALL_E_SDEI_OFF);
  OK(fwcall_vm_new(cfg, NULL, &vm));
  CHECK_CODE(fwcall_vm_raise(vm, 0x300, 0, &k), FWCALL_E_SDEI_OFF);
  OK(fwcall_vm_vcpu(vm, 0, &v));
  CHECK_EQ(fwcall_vcpu_has_pending(v), 0);
  CHECK_EQ(x0_of(CALL0(v, SDEI_VERSION)), SMCCC_NOT_SUPPORTED);
  fwcall_vm_free(vm);
  fwcall_config_free(cfg);

  /* Every code has its own message; unknown codes get a generic one. */
  const int32_t codes[] = {
      FWCALL_OK, FWCALL_E_NULL, FWCALL_E_INVALID_ARGUMENT, FWCALL_E_NO_SUCH_VCPU,
      FWCALL_E_CONFIG, FWCALL_E_BUFFER_TOO_SMALL, FWCALL_E_SNAPSHOT_FORMAT,
      FWCALL_E_INCOMPATIBLE, FWCALL_E_SNAPSHOT_STATE, FWCALL_E_MEMORY,
      FWCALL_E_SDEI_OFF, FWCALL_E_UNKNOWN_EVENT, FWCALL_E_VCPU_REQUIRED,
      FWCALL_E_FEATURES, FWCALL_E_INTERNAL};
  const size_t n = sizeof codes / sizeof codes[0];
  const char *unknown = fwcall_strerror(-1000);
  CHECK(unknown != NULL && strstr(unknown, "unknown") != NULL);
  CHECK(strcmp(fwcall_strerror(1), unknown) == 0);
  CHECK(strcmp(fwcall_strerror(INT32_MIN), unknown) == 0);
  for (size_t i = 0; i < n; i++) {
    const char *m = fwcall_strerror(codes[i]);
    CHECK(m != NULL && strlen(m) > 5 && strcmp(m, unknown) != 0);
    for (size_t j = 0; j < i; j++) CHECK(strcmp(m, fwcall_strerror(codes[j])) != 0);
  }
  done("errors");
  return 0;
}
