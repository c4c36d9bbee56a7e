/* Tiny assertion helpers shared by the C tests. Each test program exits 0
 * after printing "ok: NAME (N checks)", or 1 at the first failed check. */
#ifndef FWCALL_TEST_CHECK_H
#define FWCALL_TEST_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fwcall.h"

static unsigned long checks;

#define CHECK(cond)                                                          \
  do {                                                                       \
    if (!(cond)) {                                                           \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,       \
              #cond);                                                        \
      exit(1);                                                               \
    }                                                                        \
    checks++;                                                                \
  } while (0)

#define CHECK_EQ(a, b)                                                       \
  do {                                                                       \
    uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                         \
    if (a_ != b_) {                                                          \
      fprintf(stderr, "%s:%d: %s == %s failed: %#" PRIx64 " != %#" PRIx64 "\n", \
              __FILE__, __LINE__, #a, #b, a_, b_);                           \
      exit(1);                                                               \
    }                                                                        \
    checks++;                                                                \
  } while (0)

/* A call that must return the code `want` (FWCALL_OK or FWCALL_E_*). */
#define CHECK_CODE(expr, want)                                               \
  do {                                                                       \
    int32_t got_ = (expr);                                                   \
    if (got_ != (want)) {                                                    \
      char detail_[256];                                                     \
      fwcall_last_error(detail_, sizeof detail_);                            \
      fprintf(stderr, "%s:%d: %s returned %d (%s), want %d (%s); last error: %s\n", \
              __FILE__, __LINE__, #expr, (int)got_, fwcall_strerror(got_),  \
              (int)(want), fwcall_strerror(want), detail_);                  \
      exit(1);                                                               \
    }                                                                        \
    checks++;                                                                \
  } while (0)

#define OK(expr) CHECK_CODE(expr, FWCALL_OK)

/* SMCCC function IDs and SDEI return codes, from the Arm specifications
 * (DEN0028, DEN0054, DEN0057, DEN0022), written out independently of
 * fwcall's Rust source. */
#define SMCCC_VERSION 0x80000000u
#define SMCCC_ARCH_FEATURES 0x80000001u
#define SDEI_VERSION 0xC4000020u
#define SDEI_EVENT_REGISTER 0xC4000021u
#define SDEI_EVENT_ENABLE 0xC4000022u
#define SDEI_EVENT_CONTEXT 0xC4000024u
#define SDEI_EVENT_COMPLETE 0xC4000025u
#define SDEI_EVENT_STATUS 0xC4000028u
#define SDEI_PE_MASK 0xC400002Bu
#define SDEI_PE_UNMASK 0xC400002Cu
#define SDEI_EVENT_SIGNAL 0xC400002Fu
#define SDEI_FEATURES 0xC4000030u
#define SDEI_PRIVATE_RESET 0xC4000031u
#define SDEI_SHARED_RESET 0xC4000032u
#define PV_TIME_FEATURES 0xC5000020u
#define PV_TIME_ST 0xC5000021u
#define PSCI_VERSION 0x84000000u
#define PSCI_CPU_ON_64 0xC4000003u
#define SMCCC_NOT_SUPPORTED UINT64_MAX         /* -1 */
#define SDEI_DENIED ((uint64_t)(int64_t)-3)

/* Makes one call with X0 = fid and X1..X5 = args on `vcpu` over HVC. */
static inline fwcall_outcome call5(const fwcall_vcpu *vcpu, uint32_t fid,
                                   uint64_t a1, uint64_t a2, uint64_t a3,
                                   uint64_t a4, uint64_t a5) {
  uint64_t x[FWCALL_CALL_REGS] = {fid, a1, a2, a3, a4, a5};
  fwcall_outcome out;
  int32_t rc = fwcall_vcpu_handle(vcpu, x, FWCALL_CONDUIT_HVC, &out);
  if (rc != FWCALL_OK) {
    fprintf(stderr, "fwcall_vcpu_handle(%#x): %s\n", fid, fwcall_strerror(rc));
    exit(1);
  }
  return out;
}

#define CALL0(v, fid) call5((v), (fid), 0, 0, 0, 0, 0)
#define CALL1(v, fid, a) call5((v), (fid), (a), 0, 0, 0, 0)
#define CALL2(v, fid, a, b) call5((v), (fid), (a), (b), 0, 0, 0)

/* The X0 of a plain return (fails the test on any other reply). */
static inline uint64_t x0_of(fwcall_outcome out) {
  if (out.reply != FWCALL_REPLY_RETURN || out.count < 1) {
    fprintf(stderr, "expected a plain return, got reply %u count %u\n",
            out.reply, out.count);
    exit(1);
  }
  return out.x[0];
}

static inline void done(const char *name) {
  printf("ok: %s (%lu checks)\n", name, checks);
}

#endif
