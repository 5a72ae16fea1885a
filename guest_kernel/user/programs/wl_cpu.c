/*
 * wl_cpu: the CPU-bound workload. Spawns NPROC workers (default 3) that each
 * run the same integer/floating-point loop; the parent waits for all. The
 * scheduler decides who runs when; the result says how long the whole mix
 * took (TSC) and how many context switches it cost.
 *     wl_cpu [NPROC] [WORK]
 */
#include <workload.h>

static unsigned long work(long n)
{
    unsigned long h = 1469598103934665603UL;
    double x = 0.5;
    for (long i = 0; i < n; i++) {
        h = (h ^ (unsigned long)i) * 1099511628211UL;
        x = x * 0.9999999 + (double)(h & 1023) * 1e-9;
    }
    return h ^ (unsigned long)(x * 1e6);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "worker")) {
        unsigned long h = work(wl_arg(argc, argv, 2, 0));
        return (int)(h & 0x3f);  /* deterministic: the parent checks it */
    }
    wl_init();
    int nproc = (int)wl_arg(argc, argv, 1, 3);
    long amount = wl_arg(argc, argv, 2, 10000000);
    if (nproc < 1 || nproc > 16)
        nproc = 3;
    char amount_s[24];
    snprintf(amount_s, sizeof amount_s, "%ld", amount);
    const char *args[] = {"wl_cpu", "worker", amount_s, 0};
    int expect = (int)(work(amount) & 0x3f);
    struct pyos_sysinfo a, b;
    sysinfo(&a);
    unsigned long long t0 = wl_tsc();
    int pids[16];
    for (int i = 0; i < nproc; i++)
        pids[i] = spawn("wl_cpu", args);
    int ok = 1;
    for (int i = 0; i < nproc; i++) {
        int status = -1;
        if (pids[i] < 0 || wait(pids[i], &status) < 0 || status != expect)
            ok = 0;
    }
    unsigned long long spent = wl_tsc() - t0;
    sysinfo(&b);
    printf("result workload=cpu ok=%d nproc=%d elapsed_us=%lu ticks=%lu context_switches=%lu\n", ok, nproc,
           wl_us(spent), b.ticks - a.ticks, b.context_switches - a.context_switches);
    return ok ? 0 : 1;
}
