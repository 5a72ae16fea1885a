#ifndef PYOS_VMM_RUN_EXIT_H
#define PYOS_VMM_RUN_EXIT_H
/*
 * The run loop's KVM_RUN and its per-exit bookkeeping, in C so the hot path
 * pays no Python for it (vmm/run_loop.py). Written in the subset cffi parses
 * (vmm/kvm/binding.py feeds this header to cdef and to the compiler).
 *
 * The time from one KVM_RUN returning to the next entering is the exit's
 * handling time, counted in a log2 histogram of nanoseconds per exit reason:
 * handling[reason][bits] += 1 (bits: the time's bit length, so bucket k holds
 * times below 2^k ns), the sum in handling[reason][PYOS_HANDLING_SUM]. Exits
 * are counted by reason in counts[], KVM_EXIT_INTR for a KVM_RUN a signal cut
 * short. Slot PYOS_BEFORE_FIRST_EXIT holds the time before the first KVM_RUN
 * (and an exit reason past the table's end, which ends the loop).
 */
#define PYOS_EXIT_REASONS 64
#define PYOS_BEFORE_FIRST_EXIT 64
#define PYOS_HANDLING_SUM 64

struct pyos_exit_stats {
    struct kvm_run *run;        /* the vCPU's mapped kvm_run */
    long (*ioctl)(int fd, unsigned long request, unsigned long arg);  /* NULL: the real ioctl (tests script one) */
    long long exited_ns;        /* CLOCK_MONOTONIC when the last KVM_RUN returned */
    unsigned int reason;        /* the slot of the exit being handled now */
    unsigned long long counts[64];
    unsigned long long handling[65][65];
};

/* KVM_RUN once. Returns the CLOCK_MONOTONIC time it returned (also in
 * exited_ns), or -errno when it failed; then immediate_exit is cleared
 * before the clock is read, so a kick after it is not lost. */
long long pyos_kvm_run(int fd, struct pyos_exit_stats *s);

#endif
