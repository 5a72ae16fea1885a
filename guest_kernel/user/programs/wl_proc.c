/*
 * wl_proc: the process-model benchmark (benchmarks/proc.py), timed with the
 * TSC in the guest. Medians over COUNT rounds (default 20):
 *   fork_exit     fork, the child exits at once, the parent waits
 *   fork_exec     fork, the child execs `wl_proc exit`, the parent waits
 *   spawn         spawn `wl_proc exit` and wait (the fast path)
 *   cow_fault     a write to a page shared with a forked child (copied)
 *   zero_fault    the first write to a fresh anonymous page (demand-zero)
 *     wl_proc [COUNT]
 */
#include <workload.h>

#define PAGES 64

static unsigned long median(unsigned long *v, int n)
{
    wl_sort(v, n);
    return wl_pct(v, n, 50);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "exit"))
        return 0;
    wl_init();
    int count = (int)wl_arg(argc, argv, 1, 20);
    if (count < 1 || count > 200)
        count = 20;
    static unsigned long fe[200], fx[200], sp[200], cow[PAGES], zero[PAGES];
    int ok = 1, st;
    for (int i = 0; i < count; i++) {
        unsigned long long t0 = wl_tsc();
        int pid = fork();
        if (pid == 0)
            exit(0);
        ok &= pid > 0 && waitpid(pid, &st, 0) == pid && st == 0;
        fe[i] = wl_tsc() - t0;
    }
    for (int i = 0; i < count; i++) {
        unsigned long long t0 = wl_tsc();
        int pid = fork();
        if (pid == 0) {
            char *av[] = {"wl_proc", "exit", 0};
            execve("wl_proc", av, 0);
            exit(99);
        }
        ok &= pid > 0 && waitpid(pid, &st, 0) == pid && st == 0;
        fx[i] = wl_tsc() - t0;
    }
    for (int i = 0; i < count; i++) {
        unsigned long long t0 = wl_tsc();
        const char *av[] = {"wl_proc", "exit", 0};
        int pid = spawn("wl_proc", av);
        ok &= pid > 0 && wait(pid, &st) == pid && st == 0;
        sp[i] = wl_tsc() - t0;
    }
    char *z = mmap(0, PAGES * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ok &= z != MAP_FAILED;
    for (int i = 0; ok && i < PAGES; i++) {
        unsigned long long t0 = wl_tsc();
        z[i * 4096] = 1;
        zero[i] = wl_tsc() - t0;
    }
    int fds[2];
    pipe(fds);
    int pid = fork();
    if (pid == 0) {   /* holds the pages shared until the parent is done */
        char c;
        close(fds[1]);
        read(fds[0], &c, 1);
        exit(0);
    }
    close(fds[0]);
    for (int i = 0; ok && i < PAGES; i++) {
        unsigned long long t0 = wl_tsc();
        z[i * 4096] = 2;
        cow[i] = wl_tsc() - t0;
    }
    close(fds[1]);
    waitpid(pid, &st, 0);
    munmap(z, PAGES * 4096);
    printf("result workload=proc ok=%d rounds=%d fork_exit_ns=%lu fork_exec_ns=%lu spawn_ns=%lu cow_fault_ns=%lu "
           "zero_fault_ns=%lu\n", ok, count, wl_us(median(fe, count) * 1000), wl_us(median(fx, count) * 1000),
           wl_us(median(sp, count) * 1000), wl_us(median(cow, PAGES) * 1000), wl_us(median(zero, PAGES) * 1000));
    return ok ? 0 : 1;
}
