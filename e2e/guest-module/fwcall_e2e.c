// SPDX-License-Identifier: GPL-2.0
/*
 * fwcall end-to-end test module: drives SDEI event 0 through the stock
 * kernel's SDEI driver against fwcall (served by the reference VMM).
 *
 * On load it registers and enables event 0 on every CPU and runs the
 * delivery suite once. Writing a label to the `run` parameter runs the
 * suite again (after CPU hotplug, after a snapshot); writing anything to
 * `stop` disables the event and prints the final handler counts, which the
 * host compares with the VMM's COMPLETE / COMPLETE_AND_RESUME counts, and
 * each CPU's steal as the kernel accounted it next to what fwcall's record
 * says. The event stays registered so the shutdown path unregisters it.
 *
 * For the migration checks a held handler also watches the clocks: it
 * samples the virtual counter and CLOCK_MONOTONIC while it spins and keeps
 * recent samples and, when the VMM's INFO_RESUME changes during the hold,
 * the two around the move, and any step backwards. `deadline_ms` arms a CLOCK_MONOTONIC timer whose firing
 * time is kept, so a deadline pending across a migration can be checked.
 * `resume` reads, through the reference VMM's own service (INFO_RESUME),
 * the guest counter value the VM last resumed at; `clock` prints the
 * handler's jump across the move, the deadline and the backward steps in
 * one line; `steal` prints fwcall's stolen-time
 * records; `mono` reads CLOCK_MONOTONIC. Console output is slow (every
 * character is an MMIO exit), so each of these prints one short line.
 *
 * The driver's sdei_event_* functions are not exported to modules in the
 * Debian kernel, so /init reads their addresses from /proc/kallsyms and
 * passes them as parameters; each one is checked against its name with
 * sprint_symbol() before use. The kernel itself stays unmodified.
 *
 * Every line the host parses starts with "E2E-" and is printed at error
 * level so it reaches the console under `quiet`.
 */
#include <linux/arm-smccc.h>
#include <linux/arm_sdei.h>
#include <linux/atomic.h>
#include <linux/cpu.h>
#include <linux/hrtimer.h>
#include <linux/cpumask.h>
#include <linux/io.h>
#include <linux/kernel_stat.h>
#include <linux/kallsyms.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/smp.h>
#include <linux/string.h>
#include <linux/sysfs.h>
#include <linux/timekeeping.h>
#include <asm/arch_timer.h>
#include <asm/cputype.h>
#include <asm/pvclock-abi.h>
#include <asm/ptrace.h>

#define E2E_EVENT 0
/* Guest-time bound on every wait; deliveries take microseconds. */
#define E2E_WAIT_NS (5ULL * NSEC_PER_SEC)

/*
 * SDEI_EVENT_SIGNAL(event, target MPIDR) over HVC, written out by hand so
 * the handler can check the interrupted context exactly: a signal to the
 * calling PE is delivered as the call returns, so the interrupted PC is the
 * instruction after the HVC and the interrupted X0 is the call's result.
 * Linux exports no helper for this call.
 */
u64 e2e_hvc_signal(u64 event, u64 mpidr);
extern const char e2e_after_hvc[];
asm(".pushsection .text\n"
    ".balign 4\n"
    ".type e2e_hvc_signal, %function\n"
    "e2e_hvc_signal:\n"
    "	mov	x2, x1\n"
    "	mov	x1, x0\n"
    "	movz	x0, #0x002f\n"
    "	movk	x0, #0xc400, lsl #16\n"
    "	hvc	#0\n"
    "e2e_after_hvc:\n"
    "	ret\n"
    ".size e2e_hvc_signal, . - e2e_hvc_signal\n"
    ".popsection\n");

/* --- the driver API, resolved from /proc/kallsyms addresses --- */

typedef int (e2e_register_fn)(u32 event, sdei_event_callback *cb, void *arg);
typedef int (e2e_event_fn)(u32 event);

static unsigned long sym_register, sym_enable, sym_disable, sym_unregister;
module_param(sym_register, ulong, 0400);
MODULE_PARM_DESC(sym_register, "address of sdei_event_register");
module_param(sym_enable, ulong, 0400);
MODULE_PARM_DESC(sym_enable, "address of sdei_event_enable");
module_param(sym_disable, ulong, 0400);
MODULE_PARM_DESC(sym_disable, "address of sdei_event_disable");
module_param(sym_unregister, ulong, 0400);
MODULE_PARM_DESC(sym_unregister, "address of sdei_event_unregister");

static e2e_register_fn *sdei_register;
static e2e_event_fn *sdei_enable, *sdei_disable, *sdei_unregister;

/* True when `addr` is exactly the start of the function called `name`. */
static bool e2e_is_symbol(unsigned long addr, const char *name)
{
	char buf[KSYM_SYMBOL_LEN];
	size_t len = strlen(name);

	if (!addr)
		return false;
	sprint_symbol(buf, addr);
	return !strncmp(buf, name, len) && !strncmp(buf + len, "+0x0/", 5);
}

static int e2e_resolve(void)
{
	if (!e2e_is_symbol(sym_register, "sdei_event_register") ||
	    !e2e_is_symbol(sym_enable, "sdei_event_enable") ||
	    !e2e_is_symbol(sym_disable, "sdei_event_disable") ||
	    !e2e_is_symbol(sym_unregister, "sdei_event_unregister"))
		return -EINVAL;
	sdei_register = (e2e_register_fn *)sym_register;
	sdei_enable = (e2e_event_fn *)sym_enable;
	sdei_disable = (e2e_event_fn *)sym_disable;
	sdei_unregister = (e2e_event_fn *)sym_unregister;
	return 0;
}

/* Per-CPU counters, written only by the handler on its own CPU. */
struct e2e_cpu {
	atomic64_t handled;
	atomic64_t complete;	/* interrupted EL1 with IRQs masked */
	atomic64_t resume;	/* anything else: Linux resumes via the IRQ vector */
	atomic64_t at_hvc;	/* interrupted right after our own signal */
	atomic64_t at_hvc_x0_bad;
	u64 last_pc, last_pstate, last_bad_x0;
};
static DEFINE_PER_CPU(struct e2e_cpu, e2e_cpu);

/*
 * Holding a handler open for the live snapshot: writing 1 to `hold` arms
 * it; the next handler entered on E2E_HOLD_CPU then spins until 0 is
 * written (or a bound passes), so the VMM's pause lands while that vCPU is
 * inside a handler (delivered, not completed) and the restored fwcall has
 * to accept its completion. Reading `hold` gives the state.
 */
#define E2E_HOLD_CPU 1
enum { HOLD_IDLE, HOLD_ARMED, HOLD_HOLDING, HOLD_RELEASED, HOLD_TIMED_OUT };
static atomic_t e2e_hold = ATOMIC_INIT(HOLD_IDLE);
static atomic_t e2e_release = ATOMIC_INIT(0);

/* How long a hold may last, in guest time (a migration's blackout under
 * the realtime policy counts). */
static unsigned int hold_max_ms = 5000;
module_param(hold_max_ms, uint, 0644);
MODULE_PARM_DESC(hold_max_ms, "bound on a held handler, in ms of CLOCK_MONOTONIC");

/* The reference VMM's INFO_RESUME: the guest counter at the last pause and at the resume. */
#define E2E_INFO_RESUME 0xC600FE01
static bool e2e_resume_info(u64 *paused, u64 *resumed)
{
	struct arm_smccc_res res;

	arm_smccc_1_1_invoke(E2E_INFO_RESUME, &res);
	*paused = res.a1;
	*resumed = res.a2;
	return res.a0 == 0;
}

/*
 * What the held handler saw of the clocks. It samples the virtual counter
 * and CLOCK_MONOTONIC together and keeps recent samples at least
 * E2E_SPACING_NS apart in a ring. After any gap of E2E_GAP_NS between two
 * samples, and every E2E_POLL_NS anyway, it asks the VMM's INFO_RESUME
 * (an HVC, so not at every sample: a pause landing during the call would
 * count the call's time). When the answer changes the VM has just moved:
 * the ring then holds the last sample before the pause and the first after
 * the resume, and their difference is the blackout as the guest saw it.
 * Written only by the handler on E2E_HOLD_CPU while it holds, read after it
 * released.
 */
#define E2E_RING 1024
#define E2E_SPACING_NS (50ULL * NSEC_PER_USEC)
#define E2E_GAP_NS (200ULL * NSEC_PER_USEC)
#define E2E_POLL_NS (40ULL * NSEC_PER_MSEC)
struct e2e_sample {
	u64 cnt, mono;
};
static struct {
	struct e2e_sample ring[E2E_RING];
	unsigned int next;
	bool found;
	u64 paused, resumed;
	struct e2e_sample before, after;
	u64 samples, counter_back, mono_back;
	/* The two largest gaps between consecutive reads, in ticks. */
	u64 gap1, gap2;
} e2e_clock;

/* The samples around the pause at `paused` and the resume at `resumed`. */
static void e2e_find_span(u64 paused, u64 resumed)
{
	unsigned int i, n = min_t(unsigned int, e2e_clock.next, E2E_RING);
	const struct e2e_sample *before = NULL, *after = NULL;

	for (i = 0; i < n; i++) {
		const struct e2e_sample *s = &e2e_clock.ring[i];

		if (s->cnt <= paused && (!before || s->cnt > before->cnt))
			before = s;
		if (s->cnt >= resumed && (!after || s->cnt < after->cnt))
			after = s;
	}
	e2e_clock.paused = paused;
	e2e_clock.resumed = resumed;
	if (before && after) {
		e2e_clock.before = *before;
		e2e_clock.after = *after;
		e2e_clock.found = true;
	}
}

static void e2e_push(u64 cnt, u64 mono)
{
	e2e_clock.ring[e2e_clock.next++ % E2E_RING] = (struct e2e_sample){ cnt, mono };
}

/* The virtual counter, touching no memory (not even the stack). */
static __always_inline u64 e2e_counter(void)
{
	isb();
	return read_sysreg(cntvct_el0);
}

static void e2e_maybe_hold(void)
{
	u64 start, cnt, mono, prev_mono, spacing, gap, poll, next_poll;
	u64 paused, resumed, was = 0, back = 0;

	if (smp_processor_id() != E2E_HOLD_CPU ||
	    atomic_cmpxchg(&e2e_hold, HOLD_ARMED, HOLD_HOLDING) != HOLD_ARMED)
		return;
	memset(&e2e_clock, 0, sizeof(e2e_clock));
	spacing = div_u64(arch_timer_get_cntfrq() * E2E_SPACING_NS, NSEC_PER_SEC);
	gap = div_u64(arch_timer_get_cntfrq() * E2E_GAP_NS, NSEC_PER_SEC);
	poll = div_u64(arch_timer_get_cntfrq() * E2E_POLL_NS, NSEC_PER_SEC);
	if (e2e_resume_info(&paused, &resumed))
		was = resumed;
	start = prev_mono = ktime_get_mono_fast_ns();
	cnt = next_poll = e2e_counter();
	while (!atomic_read_acquire(&e2e_release)) {
		u64 prev = cnt, c;
		bool jumped = false;

		/*
		 * Spin on the counter alone, in registers, until E2E_SPACING_NS
		 * passed or two reads are E2E_GAP_NS apart. Nearly all the time
		 * is spent here, so a pause almost always lands here, and on the
		 * destination the first read after the resume needs no memory
		 * but this code (each page the guest touches first costs a
		 * stage-2 fault there, which is guest time).
		 */
		for (;;) {
			c = e2e_counter();
			if (c < prev)
				back++;
			if (c - prev >= gap) {
				jumped = true;
				break;
			}
			prev = c;
			if (c - cnt >= spacing)
				break;
		}
		mono = ktime_get_mono_fast_ns();
		e2e_clock.samples++;
		if (mono < prev_mono)
			e2e_clock.mono_back++;
		if (jumped) {
			u64 d = c - prev;

			e2e_push(prev, prev_mono);
			if (d > e2e_clock.gap1) {
				e2e_clock.gap2 = e2e_clock.gap1;
				e2e_clock.gap1 = d;
			} else if (d > e2e_clock.gap2) {
				e2e_clock.gap2 = d;
			}
		}
		e2e_push(c, mono);
		if (!e2e_clock.found && (jumped || c >= next_poll)) {
			next_poll = c + poll;
			if (e2e_resume_info(&paused, &resumed) && resumed != was)
				e2e_find_span(paused, resumed);
			/* The call's own time is not a gap. */
			c = e2e_counter();
			mono = ktime_get_mono_fast_ns();
		}
		cnt = c;
		prev_mono = mono;
		if (mono - start > (u64)hold_max_ms * NSEC_PER_MSEC) {
			e2e_clock.counter_back = back;
			atomic_set(&e2e_hold, HOLD_TIMED_OUT);
			return;
		}
		cpu_relax();
	}
	e2e_clock.counter_back = back;
	atomic_set(&e2e_hold, HOLD_RELEASED);
}

/* A CLOCK_MONOTONIC deadline armed from the shell, on the writer's CPU. */
static struct hrtimer e2e_deadline_timer;
static u64 e2e_deadline_ns, e2e_fired_ns;
static atomic_t e2e_deadline_state = ATOMIC_INIT(0); /* 0 idle, 1 armed, 2 fired */

static enum hrtimer_restart e2e_deadline_fn(struct hrtimer *t)
{
	e2e_fired_ns = ktime_get_ns();
	atomic_set_release(&e2e_deadline_state, 2);
	return HRTIMER_NORESTART;
}

static int e2e_set_deadline(const char *val, const struct kernel_param *kp)
{
	unsigned int ms;
	int err = kstrtouint(val, 0, &ms);

	if (err)
		return err;
	hrtimer_cancel(&e2e_deadline_timer);
	e2e_fired_ns = 0;
	e2e_deadline_ns = ktime_get_ns() + (u64)ms * NSEC_PER_MSEC;
	atomic_set(&e2e_deadline_state, 1);
	hrtimer_start(&e2e_deadline_timer, ns_to_ktime(e2e_deadline_ns), HRTIMER_MODE_ABS);
	return 0;
}

static int e2e_get_deadline(char *buf, const struct kernel_param *kp)
{
	static const char *const names[] = { "idle", "armed", "fired" };

	return sysfs_emit(buf, "%s\n", names[atomic_read_acquire(&e2e_deadline_state)]);
}

static const struct kernel_param_ops e2e_deadline_ops = {
	.set = e2e_set_deadline, .get = e2e_get_deadline
};
module_param_cb(deadline_ms, &e2e_deadline_ops, NULL, 0644);
MODULE_PARM_DESC(deadline_ms, "arm a CLOCK_MONOTONIC timer this many ms ahead; read: its state");

static int e2e_get_mono(char *buf, const struct kernel_param *kp)
{
	return sysfs_emit(buf, "%llu\n", ktime_get_ns());
}

static const struct kernel_param_ops e2e_mono_ops = { .get = e2e_get_mono };
module_param_cb(mono, &e2e_mono_ops, NULL, 0444);
MODULE_PARM_DESC(mono, "read: CLOCK_MONOTONIC in ns");

static int e2e_set_hold(const char *val, const struct kernel_param *kp)
{
	bool on;
	int err = kstrtobool(val, &on);

	if (err)
		return err;
	if (on) {
		atomic_set(&e2e_release, 0);
		atomic_set(&e2e_hold, HOLD_ARMED);
	} else {
		atomic_set_release(&e2e_release, 1);
	}
	return 0;
}

static int e2e_get_hold(char *buf, const struct kernel_param *kp)
{
	static const char *const names[] = { "idle", "armed", "holding", "released", "timed-out" };

	return sysfs_emit(buf, "%s\n", names[atomic_read(&e2e_hold)]);
}

static const struct kernel_param_ops e2e_hold_ops = { .set = e2e_set_hold, .get = e2e_get_hold };
module_param_cb(hold, &e2e_hold_ops, NULL, 0644);
MODULE_PARM_DESC(hold, "1: hold the next handler on CPU 1 open; 0: release it");

static DEFINE_MUTEX(e2e_lock);
static bool e2e_registered, e2e_stopped;
static int e2e_failures;

/*
 * Linux completes with COMPLETE when it interrupted its own exception level
 * with IRQs masked, and with COMPLETE_AND_RESUME (to the IRQ vector)
 * otherwise; the classification mirrors that rule so the counts can be
 * compared with the VMM's.
 */
static bool e2e_completes_plainly(const struct pt_regs *regs)
{
	u64 mode = regs->pstate & (PSR_MODE32_BIT | PSR_MODE_MASK);

	return mode == PSR_MODE_EL1h && !interrupts_enabled(regs);
}

static int e2e_handler(u32 event, struct pt_regs *regs, void *arg)
{
	struct e2e_cpu *c = this_cpu_ptr(&e2e_cpu);

	e2e_maybe_hold();
	if (e2e_completes_plainly(regs))
		atomic64_inc(&c->complete);
	else
		atomic64_inc(&c->resume);
	if (regs->pc == (u64)e2e_after_hvc) {
		atomic64_inc(&c->at_hvc);
		if (regs->regs[0] != SDEI_SUCCESS) {
			atomic64_inc(&c->at_hvc_x0_bad);
			c->last_bad_x0 = regs->regs[0];
		}
	}
	c->last_pc = regs->pc;
	c->last_pstate = regs->pstate;
	atomic64_inc_return_release(&c->handled);
	return 0;
}

static u64 e2e_handled(int cpu)
{
	return atomic64_read_acquire(&per_cpu_ptr(&e2e_cpu, cpu)->handled);
}

/* Spin (in whatever IRQ state the caller chose) until `cpu` handles one more. */
static bool e2e_wait_handled(int cpu, u64 before)
{
	u64 start = ktime_get_mono_fast_ns();

	while (e2e_handled(cpu) == before) {
		if (ktime_get_mono_fast_ns() - start > E2E_WAIT_NS)
			return false;
		cpu_relax();
	}
	return true;
}

static void e2e_report(const char *label, const char *test, int cpu, bool ok,
		       const char *fmt_detail, s64 a, s64 b)
{
	if (!ok)
		e2e_failures++;
	pr_err("E2E-SDEI-TEST run=%s test=%s cpu=%d result=%s %s=%lld/%lld\n",
	       label, test, cpu, ok ? "ok" : "FAIL", fmt_detail, a, b);
}

/* --- tests that run pinned to one CPU (smp_call_on_cpu: process context) --- */

struct e2e_pinned {
	bool masked;
	s64 ret;
	bool handled, at_hvc, x0_ok, class_ok;
};

/* The VMM raises event 0 periodically: wait for one with IRQs masked. */
static int e2e_wait_raise(void *data)
{
	struct e2e_pinned *p = data;
	int cpu = smp_processor_id();
	struct e2e_cpu *c = this_cpu_ptr(&e2e_cpu);
	u64 before = e2e_handled(cpu), complete = atomic64_read(&c->complete);
	unsigned long flags;

	local_irq_save(flags);
	p->handled = e2e_wait_handled(cpu, before);
	local_irq_restore(flags);
	p->class_ok = atomic64_read(&c->complete) > complete;
	return 0;
}

/* Signal event 0 to this PE itself, IRQs masked or not. */
static int e2e_self_signal(void *data)
{
	struct e2e_pinned *p = data;
	int cpu = smp_processor_id();
	struct e2e_cpu *c = this_cpu_ptr(&e2e_cpu);
	u64 before = e2e_handled(cpu);
	u64 at_hvc = atomic64_read(&c->at_hvc), bad = atomic64_read(&c->at_hvc_x0_bad);
	u64 complete = atomic64_read(&c->complete), resume = atomic64_read(&c->resume);
	unsigned long flags = 0;

	preempt_disable();
	if (p->masked)
		local_irq_save(flags);
	p->ret = (s64)e2e_hvc_signal(E2E_EVENT, read_cpuid_mpidr() & MPIDR_HWID_BITMASK);
	p->handled = p->ret == SDEI_SUCCESS && e2e_wait_handled(cpu, before);
	if (p->masked)
		local_irq_restore(flags);
	preempt_enable();
	p->at_hvc = atomic64_read(&c->at_hvc) > at_hvc;
	p->x0_ok = atomic64_read(&c->at_hvc_x0_bad) == bad;
	p->class_ok = p->masked ? atomic64_read(&c->complete) > complete
				: atomic64_read(&c->resume) > resume;
	return 0;
}

/* --- cross-CPU signal: the target spins with IRQs masked in an IPI --- */

static struct {
	atomic_t spinning;
	atomic_t done;
	bool handled;
	u64 before;
} e2e_target;

static void e2e_target_spin(void *unused)
{
	int cpu = smp_processor_id();

	/* IPI context: IRQs are masked here, SDEI is not. */
	atomic_set_release(&e2e_target.spinning, 1);
	e2e_target.handled = e2e_wait_handled(cpu, e2e_target.before);
	atomic_set_release(&e2e_target.done, 1);
}

struct e2e_cross {
	int target;
	u64 target_mpidr;
	s64 ret;
	bool handled;
};

/*
 * Runs on the source CPU (never the target, so the IPI is remote): park the
 * target in a masked spin, signal it, wait for its handler.
 */
static int e2e_cross_signal(void *data)
{
	struct e2e_cross *x = data;
	u64 start;

	atomic_set(&e2e_target.spinning, 0);
	atomic_set(&e2e_target.done, 0);
	e2e_target.handled = false;
	e2e_target.before = e2e_handled(x->target);
	x->ret = -1000;
	if (smp_call_function_single(x->target, e2e_target_spin, NULL, 0))
		return 0;
	start = ktime_get_mono_fast_ns();
	while (!atomic_read_acquire(&e2e_target.spinning)) {
		if (ktime_get_mono_fast_ns() - start > E2E_WAIT_NS)
			return 0;
		cpu_relax();
	}
	x->ret = (s64)e2e_hvc_signal(E2E_EVENT, x->target_mpidr);
	start = ktime_get_mono_fast_ns();
	while (!atomic_read_acquire(&e2e_target.done)) {
		if (ktime_get_mono_fast_ns() - start > 2 * E2E_WAIT_NS)
			return 0;
		cpu_relax();
	}
	x->handled = e2e_target.handled;
	return 0;
}

static int e2e_read_mpidr(void *data)
{
	*(u64 *)data = read_cpuid_mpidr() & MPIDR_HWID_BITMASK;
	return 0;
}

static void e2e_run_cross(const char *label, int src, int target)
{
	struct e2e_cross x = { .target = target };

	smp_call_on_cpu(target, e2e_read_mpidr, &x.target_mpidr, false);
	smp_call_on_cpu(src, e2e_cross_signal, &x, false);
	e2e_report(label, "signal-cross", target, x.ret == SDEI_SUCCESS && x.handled,
		   "from-cpu/ret", src, x.ret);
}

static void e2e_run_suite(const char *label)
{
	int cpu, before = e2e_failures;

	cpus_read_lock();
	for_each_online_cpu(cpu) {
		struct e2e_pinned p = { .masked = true };

		smp_call_on_cpu(cpu, e2e_wait_raise, &p, false);
		e2e_report(label, "raise-masked", cpu, p.handled && p.class_ok,
			   "handled/complete", p.handled, p.class_ok);

		p = (struct e2e_pinned){ .masked = true };
		smp_call_on_cpu(cpu, e2e_self_signal, &p, false);
		e2e_report(label, "signal-self-masked", cpu,
			   p.handled && p.at_hvc && p.x0_ok && p.class_ok,
			   "ret/context", p.ret, p.at_hvc && p.x0_ok);

		p = (struct e2e_pinned){ .masked = false };
		smp_call_on_cpu(cpu, e2e_self_signal, &p, false);
		e2e_report(label, "signal-self-unmasked", cpu,
			   p.handled && p.at_hvc && p.x0_ok && p.class_ok,
			   "ret/context", p.ret, p.at_hvc && p.x0_ok);
	}
	for_each_online_cpu(cpu) {
		int src = cpumask_any_but(cpu_online_mask, cpu);

		if (src < nr_cpu_ids)
			e2e_run_cross(label, src, cpu);
	}
	cpus_read_unlock();
	pr_err("E2E-SDEI-SUITE run=%s failures=%d\n", label, e2e_failures - before);
}

static void e2e_print_counts(const char *when)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct e2e_cpu *c = per_cpu_ptr(&e2e_cpu, cpu);

		pr_err("E2E-SDEI-COUNTS when=%s cpu=%d handled=%lld complete=%lld resume=%lld at_hvc=%lld x0_bad=%lld last_bad_x0=%llx last_pc=%llx last_pstate=%llx\n",
		       when, cpu, atomic64_read(&c->handled), atomic64_read(&c->complete),
		       atomic64_read(&c->resume), atomic64_read(&c->at_hvc),
		       atomic64_read(&c->at_hvc_x0_bad), c->last_bad_x0, c->last_pc,
		       c->last_pstate);
	}
}

/*
 * Steal, read on the CPU itself with IRQs masked so no tick can account
 * anything between the two reads: what the kernel accounted (the figure
 * behind the steal column of /proc/stat, in ns) and what fwcall wrote in
 * this CPU's stolen-time record (found with PV_TIME_ST, as the kernel does).
 */
struct e2e_steal {
	u64 kernel_ns, record_ns, ipa;
	int err;
};

static int e2e_read_steal(void *data)
{
	struct e2e_steal *st = data;
	struct arm_smccc_res res;
	struct pvclock_vcpu_stolen_time *rec;
	unsigned long flags;
	int cpu = smp_processor_id();

	arm_smccc_1_1_invoke(ARM_SMCCC_HV_PV_TIME_ST, &res);
	if ((s64)res.a0 < 0) {
		st->err = -EOPNOTSUPP;
		return 0;
	}
	st->ipa = res.a0;
	rec = memremap(res.a0, sizeof(*rec), MEMREMAP_WB);
	if (!rec) {
		st->err = -ENOMEM;
		return 0;
	}
	local_irq_save(flags);
	st->record_ns = le64_to_cpu(READ_ONCE(rec->stolen_time));
	st->kernel_ns = kcpustat_cpu(cpu).cpustat[CPUTIME_STEAL];
	local_irq_restore(flags);
	memunmap(rec);
	return 0;
}

static void e2e_print_steal(void)
{
	int cpu;

	cpus_read_lock();
	for_each_online_cpu(cpu) {
		struct e2e_steal st = {};

		smp_call_on_cpu(cpu, e2e_read_steal, &st, false);
		pr_err("E2E-STEAL-EXACT cpu=%d err=%d kernel_ns=%llu record_ns=%llu record=%llx\n",
		       cpu, st.err, st.kernel_ns, st.record_ns, st.ipa);
	}
	cpus_read_unlock();
}

static int e2e_set_run(const char *val, const struct kernel_param *kp)
{
	char label[32];

	strscpy(label, val, sizeof(label));
	strim(label);
	mutex_lock(&e2e_lock);
	if (e2e_registered && !e2e_stopped)
		e2e_run_suite(label);
	mutex_unlock(&e2e_lock);
	return 0;
}

static int e2e_set_stop(const char *val, const struct kernel_param *kp)
{
	int err = 0;

	mutex_lock(&e2e_lock);
	if (e2e_registered && !e2e_stopped) {
		err = sdei_disable(E2E_EVENT);
		e2e_stopped = true;
		pr_err("E2E-SDEI-DISABLE ret=%d\n", err);
		e2e_print_counts("final");
		pr_err("E2E-SDEI-FAILURES total=%d\n", e2e_failures);
		e2e_print_steal();
	}
	mutex_unlock(&e2e_lock);
	return 0;
}

static int e2e_get_resume(char *buf, const struct kernel_param *kp)
{
	u64 paused, resumed;

	if (!e2e_resume_info(&paused, &resumed))
		return sysfs_emit(buf, "none\n");
	return sysfs_emit(buf, "0x%llx\n", resumed);
}

static const struct kernel_param_ops e2e_resume_ops = { .get = e2e_get_resume };
module_param_cb(resume, &e2e_resume_ops, NULL, 0444);
MODULE_PARM_DESC(resume, "read: the guest counter the VM last resumed at (the VMM's INFO_RESUME)");

/*
 * Writing a label prints, in one line, what the last hold saw: the pause
 * and resume counts the VMM reported, the guest's jump across them (-1 if
 * the VM did not move during the hold), the backward steps, the deadline.
 */
static int e2e_set_clock(const char *val, const struct kernel_param *kp)
{
	char label[32];
	bool found = e2e_clock.found;
	u64 jump = e2e_clock.after.cnt - e2e_clock.before.cnt;
	/* The largest gap that was not the move: how much the host itself
	 * stalls this guest now and then. */
	u64 other = found && jump == e2e_clock.gap1 ? e2e_clock.gap2 : e2e_clock.gap1;

	strscpy(label, val, sizeof(label));
	strim(label);
	pr_err("E2E-CLOCK when=%s g0=0x%llx g1=0x%llx freq=%lu jump=%lld other=%llu cnt=0x%llx-0x%llx mono=%llu-%llu back=%llu/%llu deadline=%llu fired=%llu\n",
	       label, e2e_clock.paused, e2e_clock.resumed, (unsigned long)arch_timer_get_cntfrq(),
	       found ? (s64)jump : -1LL, other,
	       e2e_clock.before.cnt, e2e_clock.after.cnt,
	       e2e_clock.before.mono, e2e_clock.after.mono,
	       e2e_clock.counter_back, e2e_clock.mono_back,
	       atomic_read_acquire(&e2e_deadline_state) == 2 ? e2e_deadline_ns : 0, e2e_fired_ns);
	return 0;
}

/* Writing a label prints every online CPU's stolen-time record as fwcall wrote it. */
static int e2e_set_steal(const char *val, const struct kernel_param *kp)
{
	char label[32], line[160] = "";
	int cpu, len = 0;

	strscpy(label, val, sizeof(label));
	strim(label);
	cpus_read_lock();
	for_each_online_cpu(cpu) {
		struct e2e_steal st = {};

		smp_call_on_cpu(cpu, e2e_read_steal, &st, false);
		len += scnprintf(line + len, sizeof(line) - len, " cpu%d=%lld", cpu,
				 st.err ? -1LL : (s64)st.record_ns);
	}
	cpus_read_unlock();
	pr_err("E2E-STEAL-RECORD when=%s%s\n", label, line);
	return 0;
}

static const struct kernel_param_ops e2e_clock_ops = { .set = e2e_set_clock };
static const struct kernel_param_ops e2e_steal_ops = { .set = e2e_set_steal };
module_param_cb(clock, &e2e_clock_ops, NULL, 0200);
MODULE_PARM_DESC(clock, "write a label: print the last hold's clock samples and the deadline");
module_param_cb(steal, &e2e_steal_ops, NULL, 0200);
MODULE_PARM_DESC(steal, "write a label: print every online CPU's stolen-time record");

static const struct kernel_param_ops e2e_run_ops = { .set = e2e_set_run };
static const struct kernel_param_ops e2e_stop_ops = { .set = e2e_set_stop };
module_param_cb(run, &e2e_run_ops, NULL, 0200);
MODULE_PARM_DESC(run, "write a label: run the SDEI delivery suite again");
module_param_cb(stop, &e2e_stop_ops, NULL, 0200);
MODULE_PARM_DESC(stop, "write anything: disable event 0 and print the final counts");

static int __init e2e_init(void)
{
	int err;

	hrtimer_init(&e2e_deadline_timer, CLOCK_MONOTONIC, HRTIMER_MODE_ABS);
	e2e_deadline_timer.function = e2e_deadline_fn;
	err = e2e_resolve();
	if (err) {
		pr_err("E2E-SDEI-REGISTER ret=%d reason=symbols-not-resolved\n", err);
		return err;
	}
	if (arm_smccc_1_1_get_conduit() != SMCCC_CONDUIT_HVC) {
		pr_err("E2E-SDEI-REGISTER ret=%d reason=conduit-not-hvc\n", -ENODEV);
		return -ENODEV;
	}
	err = sdei_register(E2E_EVENT, e2e_handler, NULL);
	pr_err("E2E-SDEI-REGISTER ret=%d\n", err);
	if (err)
		return err;
	err = sdei_enable(E2E_EVENT);
	pr_err("E2E-SDEI-ENABLE ret=%d\n", err);
	if (err) {
		sdei_unregister(E2E_EVENT);
		return err;
	}
	mutex_lock(&e2e_lock);
	e2e_registered = true;
	e2e_run_suite("load");
	mutex_unlock(&e2e_lock);
	return 0;
}

static void __exit e2e_exit(void)
{
	int err, tries = 0;

	hrtimer_cancel(&e2e_deadline_timer);
	e2e_set_stop("", NULL);
	do {
		err = sdei_unregister(E2E_EVENT);
	} while (err == -EINPROGRESS && ++tries < 100);
	pr_err("E2E-SDEI-UNREGISTER ret=%d\n", err);
}

module_init(e2e_init);
module_exit(e2e_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("fwcall end-to-end test: SDEI event 0 delivery");
