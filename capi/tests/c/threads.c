/* vCPU threads and a raising thread at once: four vCPU threads each take
 * deliveries, read EVENT_CONTEXT, COMPLETE, and mask/unmask around idle as
 * Linux does; a VMM thread raises one shared RM_ANY event 2000 times, each
 * time after the previous trigger was entered, so every raise must be
 * entered exactly once, never on a masked vCPU, never on two at once. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "check.h"

#define VCPUS 4
#define RAISES 2000
#define EVENT 0x200u
#define ENTRY 0xffff800010003000u

static fwcall_vm *vm;
static atomic_uint entered;
static atomic_int running; /* handlers of EVENT running right now */
static atomic_int stop;
static atomic_int failures;
static unsigned per_vcpu[VCPUS];

static void fail(const char *what, uint32_t vcpu, uint64_t value) {
  fprintf(stderr, "vCPU %u: %s (%#llx)\n", vcpu, what, (unsigned long long)value);
  atomic_fetch_add(&failures, 1);
}

static void *vcpu_thread(void *arg) {
  uint32_t me = (uint32_t)(uintptr_t)arg;
  const fwcall_vcpu *v = NULL;
  if (fwcall_vm_vcpu(vm, me, &v) != FWCALL_OK) {
    fail("no handle", me, 0);
    return NULL;
  }
  fwcall_interrupted now;
  memset(&now, 0, sizeof now);
  now.pc = 0xffff800010000000u + me;
  now.pstate = 0x3c5;
  uint64_t round = 0;
  while (!atomic_load(&stop)) {
    round++;
    for (int i = 0; i < 18; i++) now.x[i] = ((uint64_t)me << 32) | (round << 5) | (uint64_t)i;
    if (fwcall_vcpu_has_pending(v) == 1) {
      fwcall_delivery d;
      int32_t got = fwcall_vcpu_take_delivery(v, &now, &d);
      if (got == 1) {
        if (atomic_fetch_add(&running, 1) != 0) fail("entered on two vCPUs at once", me, d.event);
        if (d.event != EVENT || d.pc != ENTRY) fail("wrong delivery", me, d.event);
        if (d.x[2] != now.pc) fail("wrong interrupted PC", me, d.x[2]);
        fwcall_outcome ctx = CALL1(v, SDEI_EVENT_CONTEXT, 1);
        if (ctx.x[0] != now.x[1]) fail("EVENT_CONTEXT(1) is not this vCPU's X1", me, ctx.x[0]);
        per_vcpu[me]++;
        atomic_fetch_sub(&running, 1);
        atomic_fetch_add(&entered, 1);
        fwcall_outcome c = CALL1(v, SDEI_EVENT_COMPLETE, 0);
        if (c.reply != FWCALL_REPLY_RESTORE || c.pc != now.pc || c.x[5] != now.x[5])
          fail("COMPLETE did not restore this vCPU's context", me, c.pc);
      } else if (got < 0) {
        fail("take_delivery failed", me, (uint64_t)(int64_t)got);
      }
    }
    /* Idle entry and exit, as Linux's CPU_PM notifier does. */
    if (round % 7 == 0) {
      if (x0_of(CALL0(v, SDEI_PE_MASK)) > 1) fail("PE_MASK", me, 0);
      /* Masked: no delivery may be handed out now. */
      fwcall_delivery d;
      if (fwcall_vcpu_take_delivery(v, &now, &d) != 0) fail("delivery while masked", me, d.event);
      sched_yield();
      if (x0_of(CALL0(v, SDEI_PE_UNMASK)) != 0) fail("PE_UNMASK", me, 0);
    } else if (round % 3 == 0) {
      sched_yield();
    }
  }
  return NULL;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(void) {
  fwcall_config *cfg = NULL;
  OK(fwcall_config_new(VCPUS, &cfg));
  OK(fwcall_config_add_sdei_event(cfg, EVENT, FWCALL_EVENT_SHARED, FWCALL_PRIORITY_NORMAL));
  OK(fwcall_vm_new(cfg, NULL, &vm));
  fwcall_config_free(cfg);
  const fwcall_vcpu *v0 = NULL;
  OK(fwcall_vm_vcpu(vm, 0, &v0));
  CHECK_EQ(x0_of(call5(v0, SDEI_EVENT_REGISTER, EVENT, ENTRY, 0, 0 /* RM_ANY */, 0)), 0);
  CHECK_EQ(x0_of(CALL1(v0, SDEI_EVENT_ENABLE, EVENT)), 0);
  for (uint32_t i = 0; i < VCPUS; i++) {
    const fwcall_vcpu *v = NULL;
    OK(fwcall_vm_vcpu(vm, i, &v));
    CHECK_EQ(x0_of(CALL0(v, SDEI_PE_UNMASK)), 0);
  }

  pthread_t threads[VCPUS];
  for (uint32_t i = 0; i < VCPUS; i++)
    CHECK(pthread_create(&threads[i], NULL, vcpu_thread, (void *)(uintptr_t)i) == 0);

  /* The VMM thread: raise, wait for the entry, raise again. */
  unsigned kicked = 0;
  for (unsigned i = 0; i < RAISES && !atomic_load(&failures); i++) {
    fwcall_kicks k;
    OK(fwcall_vm_raise(vm, EVENT, FWCALL_NO_VCPU, &k));
    kicked += k.all ? VCPUS : k.count;
    double deadline = now_s() + 10.0;
    while (atomic_load(&entered) <= i) {
      if (now_s() > deadline) {
        fprintf(stderr, "raise %u was never entered\n", i);
        exit(1);
      }
      sched_yield();
    }
  }
  atomic_store(&stop, 1);
  for (uint32_t i = 0; i < VCPUS; i++) CHECK(pthread_join(threads[i], NULL) == 0);

  CHECK_EQ(atomic_load(&failures), 0);
  CHECK_EQ(atomic_load(&entered), RAISES);
  unsigned sum = 0;
  for (int i = 0; i < VCPUS; i++) sum += per_vcpu[i];
  CHECK_EQ(sum, RAISES);
  CHECK(kicked > 0); /* routed triggers name their vCPU */
  /* Nothing left pending anywhere. */
  for (uint32_t i = 0; i < VCPUS; i++) {
    const fwcall_vcpu *v = NULL;
    OK(fwcall_vm_vcpu(vm, i, &v));
    fwcall_interrupted idle;
    memset(&idle, 0, sizeof idle);
    fwcall_delivery d;
    CHECK_EQ(fwcall_vcpu_take_delivery(v, &idle, &d), 0);
  }
  fwcall_vm_free(vm);
  printf("deliveries per vCPU: %u %u %u %u\n", per_vcpu[0], per_vcpu[1], per_vcpu[2], per_vcpu[3]);
  done("threads");
  return 0;
}
