/*
 * init: the first process.
 *
 *   init [-i] [PROGRAM ARGS...]
 *
 * With a PROGRAM (the words after "--" on the kernel command line) it runs
 * that and exits with its status, which powers the machine off. Without
 * one: when the console is a person's terminal (-i, which the kernel passes
 * for interactive=1, which pyos-vmm adds when its stdin is a terminal) it
 * runs `sh /etc/rc` if that file exists and then a shell on the console,
 * powering off when the shell exits; otherwise a short demo (hello world).
 * While it waits, init reaps every orphan that becomes its child.
 *
 * A program is started from the kernel's built-in programs (spawn) or,
 * failing that, from /bin with fork and execve.
 */
#include <ulib.h>

static struct pyos_sysinfo info;

/* Start argv[0]: built in, or /bin/NAME. The pid, or -errno. */
static int start(char *const argv[])
{
    int pid = spawn(argv[0], (const char *const *)argv);
    if (pid != -ENOENT)
        return pid;
    char path[128];
    snprintf(path, sizeof path, "%s%s", strchr(argv[0], '/') ? "" : "/bin/", argv[0]);
    struct pyos_stat st;
    if (stat(path, &st) < 0)
        return -ENOENT;
    pid = fork();
    if (pid == 0) {
        static char *const env[] = {"PATH=/bin", "HOME=/", NULL};
        int r = execve(path, argv, env);
        dprintf(2, "init: cannot run %s: %s\n", path, strerror(-r));
        exit(127);
    }
    return pid == -ENOSYS ? -ENOENT : pid;
}

/* Wait for pid, reaping any other child (orphans) meanwhile; its exit status. */
static int wait_for(int pid)
{
    for (;;) {
        int code;
        int r = wait(-1, &code);
        if (r == pid)
            return code;
        if (r < 0)
            return -1;
    }
}

static int run(char *const argv[])
{
    int pid = start(argv);
    if (pid == -ENOENT) {
        printf("init: no such program '%s'; the programs are: %s and those in /bin\n", argv[0], info.programs);
        return 127;
    }
    if (pid < 0) {
        printf("init: cannot start %s: %s\n", argv[0], strerror(-pid));
        return 126;
    }
    return wait_for(pid);
}

int main(int argc, char **argv)
{
    sysinfo(&info);
    printf("init: pid %d, scheduler '%s', system calls via %s, %lu of %lu frames free\n", getpid(),
           info.scheduler, info.syscall_entry, info.free_frames, info.total_frames);
    int interactive = argc > 1 && !strcmp(argv[1], "-i");
    char **program = argv + 1 + interactive;
    if (!*program && interactive) {
        struct pyos_stat st;
        if (stat("/etc/rc", &st) == 0) {
            char *rc[] = {"sh", "/etc/rc", NULL};
            int status = run(rc);
            if (status)
                printf("init: /etc/rc exited with status %d\n", status);
        }
        char *shell[] = {"sh", NULL};
        int status = run(shell);
        printf("init: the shell exited with status %d; powering off\n", status);
        return status;
    }
    static char *demo[] = {"hello", "world", NULL};
    char **run_this = *program ? program : demo;
    int status = run(run_this);
    sysinfo(&info);
    printf("init: %s exited with status %d; %lu context switches; powering off\n", run_this[0], status,
           info.context_switches);
    return status;
}
