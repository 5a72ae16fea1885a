/* pyos_kvm_run: see run_exit.h. Compiled into the cffi module (binding.py). */
#include <errno.h>
#include <time.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>
#include "run_exit.h"

static long long monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

long long pyos_kvm_run(int fd, struct pyos_exit_stats *s)
{
    long long entered = monotonic_ns();
    unsigned long long took = entered > s->exited_ns ? (unsigned long long)(entered - s->exited_ns) : 0;
    unsigned long long *hist = s->handling[s->reason];
    hist[took ? 64 - __builtin_clzll(took) : 0]++;   /* Python's took.bit_length() */
    hist[PYOS_HANDLING_SUM] += took;
    long r = s->ioctl ? s->ioctl(fd, KVM_RUN, 0) : ioctl(fd, KVM_RUN, 0);
    if (r < 0) {
        if (!s->ioctl)
            r = -errno;
        s->run->immediate_exit = 0;
    }
    long long now = monotonic_ns();
    s->exited_ns = now;
    unsigned int reason = r < 0 ? KVM_EXIT_INTR : s->run->exit_reason;
    if (reason < PYOS_EXIT_REASONS) {
        s->counts[reason]++;
        s->reason = reason;
    } else {
        s->reason = PYOS_BEFORE_FIRST_EXIT;   /* the loop stops at it: an unexpected exit */
    }
    return r < 0 ? r : now;
}
