/*
 * wl_alloc: the allocation workload, aimed at the memory plugins. Kernel
 * heap: ROUNDS pipe()+close() pairs (each pipe kmallocs two struct file and
 * a struct pipe, kfree on close). Frame allocator and paging: CHILDREN
 * processes that each grow their brk by 64 pages, touch every page and
 * exit (frames back to the allocator). The guest's heap/frame counters
 * beside the result show what each plugin did.
 *     wl_alloc [ROUNDS] [CHILDREN]
 */
#include <workload.h>

#define PAGES 64

static int grower(void)
{
    char *p = sbrk(PAGES * 4096L);
    if (p == (char *)-1 || !p)
        return 1;
    for (long i = 0; i < PAGES; i++)
        p[i * 4096] = (char)i;
    for (long i = 0; i < PAGES; i++)
        if (p[i * 4096] != (char)i)
            return 2;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "grower"))
        return grower();
    wl_init();
    int rounds = (int)wl_arg(argc, argv, 1, 50), children = (int)wl_arg(argc, argv, 2, 2);
    if (rounds < 1 || rounds > 100000)
        rounds = 50;
    if (children < 0 || children > 64)
        children = 2;
    struct pyos_sysinfo a, b;
    sysinfo(&a);
    int ok = 1;
    unsigned long long t0 = wl_tsc();
    for (int i = 0; i < rounds; i++) {
        int fds[2];
        if (pipe(fds) < 0) {
            ok = 0;
            break;
        }
        close(fds[0]);
        close(fds[1]);
    }
    unsigned long long t1 = wl_tsc();
    const char *args[] = {"wl_alloc", "grower", 0};
    for (int i = 0; i < children; i++) {
        int status = -1, pid = spawn("wl_alloc", args);
        if (pid < 0 || wait(pid, &status) < 0 || status != 0)
            ok = 0;
    }
    unsigned long long t2 = wl_tsc();
    sysinfo(&b);
    printf("result workload=alloc ok=%d pipe_pairs=%d pipe_pair_us=%lu children=%d child_us=%lu "
           "frames_leaked=%ld\n", ok, rounds, wl_us((t1 - t0) / (unsigned long long)rounds), children,
           children ? wl_us((t2 - t1) / (unsigned long long)children) : 0, (long)a.free_frames - (long)b.free_frames);
    return ok ? 0 : 1;
}
