/*
 * wl_fork: the process-creation workload. pyos has no fork/exec yet, so
 * this is spawn-heavy instead: COUNT children (default 6) created with
 * spawn (a fresh address space, the ELF loaded, files inherited), BATCH at a
 * time, each exiting at once with a known status the parent checks.
 *     wl_fork [COUNT] [BATCH]
 */
#include <workload.h>

int main(int argc, char **argv)
{
    if (argc > 2 && !strcmp(argv[1], "child"))
        return (int)wl_arg(argc, argv, 2, 0) & 0x7f;
    wl_init();
    int count = (int)wl_arg(argc, argv, 1, 6), batch = (int)wl_arg(argc, argv, 2, 3);
    if (count < 1 || count > 1000)
        count = 6;
    if (batch < 1 || batch > 16)
        batch = 3;
    struct pyos_sysinfo a, b;
    sysinfo(&a);
    unsigned long long t0 = wl_tsc();
    int ok = 1, done = 0;
    while (done < count) {
        int pids[16], n = 0;
        char num[16][8];
        for (; n < batch && done + n < count; n++) {
            snprintf(num[n], sizeof num[n], "%d", done + n);
            const char *args[] = {"wl_fork", "child", num[n], 0};
            pids[n] = spawn("wl_fork", args);
        }
        for (int i = 0; i < n; i++) {
            int status = -1;
            if (pids[i] < 0 || wait(pids[i], &status) < 0 || status != ((done + i) & 0x7f))
                ok = 0;
        }
        done += n;
    }
    unsigned long long spent = wl_tsc() - t0;
    sysinfo(&b);
    printf("result workload=fork ok=%d spawns=%d elapsed_us=%lu spawn_wait_us=%lu context_switches=%lu\n", ok,
           count, wl_us(spent), wl_us(spent / (unsigned long long)count), b.context_switches - a.context_switches);
    return ok ? 0 : 1;
}
