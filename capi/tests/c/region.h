/* A reserved guest-memory region backed by a byte array, lent to fwcall
 * through fwcall_memory callbacks (the PV-time tests). */
#ifndef FWCALL_TEST_REGION_H
#define FWCALL_TEST_REGION_H

#include "check.h"

#define RAM_BASE 0x40000000u
#define RAM_SIZE (256u << 20)
#define REGION_BASE 0x0a100000u
#define REGION_SIZE 0x10000u

struct region {
  uint8_t bytes[REGION_SIZE];
  int fail_writes;
  unsigned writes, reads;
};

static inline int in_region(uint64_t gpa, size_t len) {
  return gpa >= REGION_BASE && len <= REGION_SIZE &&
         gpa - REGION_BASE <= REGION_SIZE - len;
}

static inline int32_t mem_write_u64(void *ctx, uint64_t gpa, uint64_t value) {
  struct region *r = ctx;
  if (r->fail_writes || !in_region(gpa, 8) || gpa % 8) return -1;
  for (int i = 0; i < 8; i++) r->bytes[gpa - REGION_BASE + i] = (uint8_t)(value >> (8 * i));
  r->writes++;
  return 0;
}

static inline int32_t mem_write_bytes(void *ctx, uint64_t gpa, const uint8_t *data, size_t len) {
  struct region *r = ctx;
  if (r->fail_writes || !in_region(gpa, len)) return -1;
  memcpy(&r->bytes[gpa - REGION_BASE], data, len);
  r->writes++;
  return 0;
}

static inline int32_t mem_read_bytes(void *ctx, uint64_t gpa, uint8_t *buf, size_t len) {
  struct region *r = ctx;
  if (!in_region(gpa, len)) return -1;
  memcpy(buf, &r->bytes[gpa - REGION_BASE], len);
  r->reads++;
  return 0;
}

static inline uint64_t le(const uint8_t *p, int n) {
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

static inline fwcall_memory region_memory(struct region *r) {
  fwcall_memory m = {r, mem_write_u64, mem_write_bytes, mem_read_bytes};
  return m;
}

#endif
