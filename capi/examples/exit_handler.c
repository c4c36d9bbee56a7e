/* The exit handler of a C VMM, as the README shows it (the part between
 * the "readme" markers; tests/readme.rs keeps the copies identical). main()
 * runs it against a pretend guest; capi/tests/run.sh builds and runs it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* readme: begin */
#include "fwcall.h"

struct vcpu {                /* the VMM's vCPU: its registers, its handle */
  const fwcall_vcpu *fw;     /* from fwcall_vm_vcpu(vm, index, &fw) */
  uint64_t x[31], pc, pstate, sctlr_el1, elr_el1, spsr_el1;
};

void kick(const fwcall_kicks *k); /* make those vCPU threads leave the guest */

/* On an HVC or SMC exit; the hypervisor has already stepped the PC. */
int on_hypercall(struct vcpu *v, uint32_t conduit) {
  fwcall_outcome out;
  int rc = fwcall_vcpu_handle(v->fw, v->x, conduit, &out); /* reads X0..X17 */
  if (rc != FWCALL_OK)
    return rc;
  memcpy(v->x, out.x, out.count * sizeof out.x[0]);
  if (out.reply == FWCALL_REPLY_RESTORE) { /* an SDEI handler completed */
    v->pc = out.pc;
    v->pstate = out.pstate;
    if (out.has_el1) {
      v->elr_el1 = out.elr_el1;
      v->spsr_el1 = out.spsr_el1;
    }
  }
  kick(&out.kicks);
  /* out.power: with fwcall's PSCI, start or park vCPUs, end the VM. */
  return FWCALL_OK;
}

/* Before every resume: enter an SDEI event if one is due. */
int before_resume(struct vcpu *v) {
  if (fwcall_vcpu_has_pending(v->fw) != 1)
    return FWCALL_OK;
  fwcall_interrupted now = {.pc = v->pc, .pstate = v->pstate,
                            .sctlr_el1 = v->sctlr_el1};
  memcpy(now.x, v->x, sizeof now.x);
  fwcall_delivery d;
  int rc = fwcall_vcpu_take_delivery(v->fw, &now, &d);
  if (rc == 1) {
    memcpy(v->x, d.x, sizeof d.x); /* X0..X3 */
    v->pc = d.pc;
    v->pstate = d.pstate;
    kick(&d.kicks);
  }
  return rc < 0 ? rc : FWCALL_OK;
}
/* readme: end */

static unsigned kicks_seen;
void kick(const fwcall_kicks *k) { kicks_seen += k->all ? 1 : k->count; }

/* The guest makes a call: X0 = fid, X1.. = args, then the exit. */
static void guest_call(struct vcpu *v, uint64_t fid, uint64_t a1, uint64_t a2) {
  v->x[0] = fid;
  v->x[1] = a1;
  v->x[2] = a2;
  if (on_hypercall(v, FWCALL_CONDUIT_HVC) != FWCALL_OK) {
    fprintf(stderr, "exit handler failed\n");
    exit(1);
  }
}

int main(void) {
  fwcall_config *cfg;
  fwcall_vm *vm;
  if (fwcall_config_new(1, &cfg) != FWCALL_OK) return 1;
  if (fwcall_vm_new(cfg, NULL, &vm) != FWCALL_OK) return 1;
  fwcall_config_free(cfg);
  struct vcpu v = {.pc = 0x1000, .pstate = 0x3c5};
  if (fwcall_vm_vcpu(vm, 0, &v.fw)) return 1;
  /* Register event 0 at 0x8000, enable it, unmask, and signal it to self. */
  guest_call(&v, 0xC4000021, 0, 0x8000); /* SDEI_EVENT_REGISTER */
  guest_call(&v, 0xC4000022, 0, 0);      /* SDEI_EVENT_ENABLE */
  guest_call(&v, 0xC400002C, 0, 0);      /* SDEI_PE_UNMASK */
  guest_call(&v, 0xC400002F, 0, 0);      /* SDEI_EVENT_SIGNAL to MPIDR 0 */
  v.x[7] = 77;
  if (before_resume(&v) || v.pc != 0x8000 || v.x[2] != 0x1000) return 1;
  guest_call(&v, 0xC4000025, 0, 0); /* the handler's SDEI_EVENT_COMPLETE */
  /* Back where it was interrupted, with SIGNAL's SUCCESS still in X0. */
  if (v.pc != 0x1000 || v.x[7] != 77 || v.x[0] != 0) return 1;
  fwcall_vm_free(vm);
  printf("ok: exit_handler (handler entered at 0x8000, context restored, %u kicks)\n", kicks_seen);
  return 0;
}
