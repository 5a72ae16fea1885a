/*
 * bench: system-call and context-switch costs, and a CPU-bound loop, timed
 * with the TSC in user mode. The same file builds for the host (-DHOST) so
 * benchmarks/processes.py can compare the loop with native speed.
 */
#ifdef HOST
#include <stdio.h>
#include <time.h>
#else
#include <pyos_user.h>
#endif

static inline unsigned long long tsc(void)
{
    unsigned lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (unsigned long long)hi << 32 | lo;
}

/* The CPU-bound work: integer hashing and floating point, no memory traffic. */
static double work(long n)
{
    unsigned long h = 1469598103934665603UL;
    double x = 0.5;
    for (long i = 0; i < n; i++) {
        h = (h ^ (unsigned long)i) * 1099511628211UL;
        x = x * 0.9999999 + (double)(h & 1023) * 1e-9;
    }
    return x + (double)(h & 1);
}

#define WORK 200000000L

#ifdef HOST
#include <stdlib.h>
int main(int argc, char **argv)
{
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    double r = work(argc > 1 ? atol(argv[1]) : WORK);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("bench cpu loop: %.1f ms (%g)\n", (b.tv_sec - a.tv_sec) * 1e3 + (b.tv_nsec - a.tv_nsec) / 1e6, r);
    return 0;
}
#else
static unsigned long khz;
static unsigned long ns(unsigned long long cycles) { return (unsigned long)(cycles * 1000000ULL / khz); }

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "yielder")) {  /* the other half of the ping-pong */
        long n = strtol(argv[2], 0, 10);
        for (long i = 0; i < n; i++)
            yield();
        return 0;
    }
    struct pyos_sysinfo info;
    sysinfo(&info);
    khz = info.tsc_khz;
    const long calls = argc > 1 ? strtol(argv[1], 0, 10) : 2000;
    void (*null_trap)(void) = (void (*)(void))(VDSO_ADDR + VDSO_NULL_TRAP);
    unsigned long long t = tsc();
    for (long i = 0; i < calls; i++)
        null_trap();
    printf("bench null trap (int3 round trip, the floor): %lu ns\n", ns((tsc() - t) / calls));
    t = tsc();
    for (long i = 0; i < calls; i++)
        getpid();
    printf("bench null system call (getpid) round trip: %lu ns\n", ns((tsc() - t) / calls));

    const long yields = argc > 2 ? strtol(argv[2], 0, 10) : 1000;
    char count[24];
    snprintf(count, sizeof count, "%ld", yields);
    const char *argv2[] = {"bench", "yielder", count, 0};
    int pid = spawn("bench", argv2);
    yield();  /* let it start */
    unsigned long switches = info.context_switches;
    t = tsc();
    for (long i = 0; i < yields; i++)
        yield();
    unsigned long long spent = tsc() - t;
    wait(pid, 0);
    sysinfo(&info);
    switches = info.context_switches - switches;
    printf("bench yield to another process and back: %lu ns (%lu context switches, %lu ns each)\n",
           ns(spent / yields), switches, ns(spent / (switches ? switches : 1)));

    t = tsc();
    double r = work(argc > 3 ? strtol(argv[3], 0, 10) : WORK);
    printf("bench cpu loop: %lu.%lu ms (%d)\n", ns(tsc() - t) / 1000000, ns(tsc() - t) / 100000 % 10, (int)r);
    return 0;
}
#endif
