// include/fwcall.h from C++17: it must compile without warnings, give C
// linkage (this links against the Rust library), and its structures must
// have the layout the Rust side declares.
#include "fwcall.h"

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <type_traits>

static_assert(std::is_trivially_copyable<fwcall_outcome>::value, "plain data");
static_assert(std::is_standard_layout<fwcall_outcome>::value, "plain data");
static_assert(sizeof(fwcall_kicks) == 24, "kicks: all, count, 4 indices");
static_assert(offsetof(fwcall_outcome, x) == 8, "x after reply and count");
static_assert(offsetof(fwcall_outcome, pc) == 8 + 18 * 8, "pc after X0..X17");
static_assert(sizeof(fwcall_interrupted) == 21 * 8, "X0..X17, PC, PSTATE, SCTLR");
static_assert(FWCALL_CALL_REGS == 18, "X0..X17");

int main() {
  fwcall_config *cfg = nullptr;
  if (fwcall_config_new(1, &cfg) != FWCALL_OK) return 1;
  fwcall_vm *vm = nullptr;
  int32_t rc = fwcall_vm_new(cfg, nullptr, &vm);
  fwcall_config_free(cfg);
  if (rc != FWCALL_OK) return 1;
  const fwcall_vcpu *v = nullptr;
  if (fwcall_vm_vcpu(vm, 0, &v) != FWCALL_OK) return 1;
  uint64_t x[FWCALL_CALL_REGS] = {0x80000000u};  // SMCCC_VERSION
  fwcall_outcome out;
  if (fwcall_vcpu_handle(v, x, FWCALL_CONDUIT_HVC, &out) != FWCALL_OK) return 1;
  fwcall_vm_free(vm);
  // SMCCC 1.4 by default: major 1 in bits 30:16, minor 4 in 15:0.
  if (out.reply != FWCALL_REPLY_RETURN || out.x[0] != 0x10004u) {
    std::fprintf(stderr, "SMCCC_VERSION from C++: %#llx\n",
                 static_cast<unsigned long long>(out.x[0]));
    return 1;
  }
  if (std::strcmp(fwcall_strerror(FWCALL_OK), "success") != 0) return 1;
  std::puts("ok: header from C++17");
  return 0;
}
