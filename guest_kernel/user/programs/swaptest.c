/*
 * swaptest: live scheduler swaps under a mixed load. Spawns CPU-bound and
 * sleeping children, then swaps the scheduler back and forth SWAPS times
 * through the sched_swap system call while they run; every child must exit
 * with its expected status. Prints one result line.
 *     swaptest [SWAPS] [SCHED_A] [SCHED_B]
 *     swaptest watch NAME   wait (sleeping) until the active scheduler is NAME
 *                           (a swap the VMM asked for through its control socket)
 */
#include <pyos_user.h>

static unsigned long work(long n)
{
    unsigned long h = 1469598103934665603UL;
    for (long i = 0; i < n; i++)
        h = (h ^ (unsigned long)i) * 1099511628211UL;
    return h;
}

static long num(const char *s)
{
    long n = 0;
    while (*s >= '0' && *s <= '9')
        n = n * 10 + (*s++ - '0');
    return n;
}

int main(int argc, char **argv)
{
    if (argc > 2 && !strcmp(argv[1], "cpu"))
        return (int)(work(num(argv[2])) & 0x3f);
    if (argc > 2 && !strcmp(argv[1], "sleep")) {
        for (int i = 0; i < 20; i++)
            sleep_ms(5);
        return (int)num(argv[2]);
    }
    if (argc > 2 && !strcmp(argv[1], "watch")) {
        struct pyos_sysinfo info;
        sysinfo(&info);
        printf("swaptest: scheduler '%s', waiting for '%s'\n", info.scheduler, argv[2]);
        while (!sysinfo(&info) && strcmp(info.scheduler, argv[2]))
            sleep_ms(20);
        printf("swaptest: scheduler is now '%s'\n", info.scheduler);
        return 0;
    }
    long swaps = argc > 1 ? num(argv[1]) : 300;
    const char *a = argc > 2 ? argv[2] : "rr", *b = argc > 3 ? argv[3] : "stride";
    enum { NCPU = 3, NSLEEP = 3, WORK = 300000 };
    const char *cpu_args[] = {"swaptest", "cpu", "300000", 0};
    int pids[NCPU + NSLEEP], expect[NCPU + NSLEEP];
    char codes[NSLEEP][8];
    for (int i = 0; i < NCPU; i++) {
        pids[i] = spawn("swaptest", cpu_args);
        expect[i] = (int)(work(WORK) & 0x3f);
    }
    for (int i = 0; i < NSLEEP; i++) {
        snprintf(codes[i], sizeof codes[i], "%d", 40 + i);
        const char *sleep_args[] = {"swaptest", "sleep", codes[i], 0};
        pids[NCPU + i] = spawn("swaptest", sleep_args);
        expect[NCPU + i] = 40 + i;
    }
    long done = 0, failed = 0;
    for (long i = 0; i < swaps; i++) {
        if (sched_swap(i & 1 ? a : b) == 0)
            done++;
        else
            failed++;
        work(20000);  /* stay CPU-bound between swaps: the timer preempts us */
    }
    int bad_name = sched_swap("no-such-scheduler");
    int ok_children = 0;
    for (int i = 0; i < NCPU + NSLEEP; i++) {
        int status = -1;
        if (pids[i] > 0 && wait(pids[i], &status) == pids[i] && status == expect[i])
            ok_children++;
    }
    printf("result workload=swap swaps=%ld failed=%ld bad_name=%d children=%d ok_children=%d\n", done, failed,
           bad_name, NCPU + NSLEEP, ok_children);
    return ok_children == NCPU + NSLEEP && !failed && bad_name < 0 ? 0 : 1;
}
