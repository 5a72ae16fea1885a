/*
 * init: the first process. It runs the program named by the kernel's
 * init_args (default: a short demo), waits for it, and exits with its
 * status, which powers the machine off.
 */
#include <pyos_user.h>

int main(int argc, char **argv)
{
    struct pyos_sysinfo info;
    sysinfo(&info);
    printf("init: pid %d, scheduler '%s', system calls via %s, %lu of %lu frames free\n", getpid(),
           info.scheduler, info.syscall_entry, info.free_frames, info.total_frames);
    const char *demo[] = {"hello", "world", 0};
    const char *const *run = argc > 1 ? (const char *const *)&argv[1] : demo;
    int pid = spawn(run[0], run);
    if (pid == -ENOENT) {
        printf("init: no such program '%s'; the programs are: %s\n", run[0], info.programs);
        return 127;
    }
    if (pid < 0) {
        printf("init: cannot spawn %s: error %d\n", run[0], -pid);
        return 126;
    }
    /* Orphans become init's children: reap every one while waiting for ours. */
    int status = -1;
    for (;;) {
        int code;
        int r = wait(-1, &code);
        if (r == pid) {
            status = code;
            break;
        }
        if (r < 0)
            break;
    }
    sysinfo(&info);
    printf("init: %s exited with status %d; %lu context switches; powering off\n", run[0], status,
           info.context_switches);
    return status;
}
