/*
 * usertests: the kernel's process, scheduling and system-call tests, run
 * from user mode (in the spirit of xv6's usertests). Each case runs in its
 * own child process and passes when that child exits with status 0; the free
 * frame count is compared before and after each case to catch leaks.
 *
 *   usertests            run every case; exit status = number of failures
 *   usertests CASE ...   the helpers and cases themselves (children)
 */
#include <pyos_user.h>

static int child(const char *const argv[])
{
    int status = -1;
    int pid = spawn("usertests", argv);
    if (pid < 0) {
        printf("  spawn failed: %d\n", pid);
        return -1;
    }
    if (wait(pid, &status) != pid)
        return -1;
    return status;
}

static unsigned long free_frames(void)
{
    struct pyos_sysinfo info;
    sysinfo(&info);
    return info.free_frames;
}

/* -- helpers run as children ------------------------------------------------- */

/* spin START END PRIORITY FD [GOFD]: spin from tick START to END (with GOFD: for END - START ticks after a
 * token arrives on GOFD), then report on FD the guest CPU ticks this process was charged. */
static unsigned long my_cpu_ticks(void)
{
    struct pyos_sysinfo info;
    sysinfo(&info);
    return info.cpu_ticks;
}

static int spin(long start, long end, int priority, int fd, int go)
{
    /* With a go pipe (shares()): block until the parent has spawned every
     * sibling, then spin for END - START ticks from then. A start tick fixed
     * in advance was not enough: on a loaded host the PIT's owed ticks arrive
     * in bursts, the start passed while the parent was still spawning, and
     * the parent's spawning was charged inside the window. Take the priority
     * only at the start: a high-priority child busy-waiting would otherwise
     * keep the parent from spawning its siblings. */
    if (go >= 0) {
        char token;
        if (read(go, &token, 1) != 1)
            return 2;
        long now = uptime();
        end = now + (end - start);
        start = now;
    }
    while (uptime() < start)
        yield();
    setpriority(0, priority);
    /* The share is measured in guest CPU time (timer ticks charged to this
     * process while it ran), not in loop iterations: how fast the host ran
     * the vCPU meanwhile then does not matter, only the scheduler's choices. */
    unsigned long before = my_cpu_ticks();
    volatile unsigned long sink = 0;
    while (uptime() < end)
        for (int i = 0; i < 2000000; i++)
            sink += i;
    dprintf(fd, "%d %lu\n", priority, my_cpu_ticks() - before);
    return 0;
}

/* fpu SEED: run a floating-point recurrence twice, across preemptions; equal results or fail. */
static double recurrence(double seed)
{
    double a = seed, b = seed * 0.5, c = seed * 0.25, d = 1.0;
    for (long i = 0; i < 40000000; i++) {
        a = a * 0.999999 + b;
        b = b * 0.999998 + c;
        c = c * 0.999997 + d;
        d = d * 0.5 + 0.5;
    }
    return a + b + c + d;
}

static int fpu(double seed)
{
    double first = recurrence(seed), second = recurrence(seed);
    return first == second ? 0 : 1;
}

static int crash(const char *how)
{
    if (!strcmp(how, "null"))
        return *(volatile int *)0;
    if (!strcmp(how, "ud"))
        __asm__ volatile("ud2");
    if (!strcmp(how, "divide")) {
        __asm__ volatile("xor %%edx, %%edx; mov $1, %%eax; xor %%ecx, %%ecx; div %%ecx" : : : "rax", "rcx", "rdx");
    }
    if (!strcmp(how, "kernel"))
        return *(volatile int *)0xffffffff80100000UL;  /* the kernel image: not user-accessible */
    if (!strcmp(how, "syscall")) {
        /* A raw `syscall` outside the vDSO, with a number no table has. Where
         * the CPU delivers it, that is just -ENOSYS; where it does not (PVM
         * hosts), the fault at the kernel's entry is this program's: killed. */
        long r;
        __asm__ volatile("syscall" : "=a"(r) : "a"(999L) : "rcx", "r11", "memory");
        return r == -ENOSYS ? 0 : 1;
    }
    return 0;
}

/* orphan: spawn a grandchild that outlives us, and exit without waiting. */
static int orphan(void)
{
    const char *argv[] = {"usertests", "napper", 0};
    return spawn("usertests", argv) > 0 ? 0 : 1;
}

/* count RFD WFD: close the inherited write end, read until EOF, exit with the byte count (mod 256). */
static int count_bytes(int fd, int write_end)
{
    close(write_end);
    char buf[64];
    long total = 0, n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        total += n;
    return (int)(total & 255);
}


/* -- signals ------------------------------------------------------------------- */

static volatile int got_signal, got_count;

static void on_signal(int sig)
{
    got_signal = sig;
    got_count++;
    volatile double x = 1.0;        /* the handler's own FPU work must not leak out */
    for (int i = 0; i < 10; i++)
        x = x * 3.25 + 0.5;
    (void)x;
}

static int catch_signal(int sig, void (*handler)(int))
{
    struct pyos_sigaction act = {.handler = (unsigned long)handler};
    return sigaction(sig, &act, 0);
}

/* The third handler argument: the saved registers, in struct trap_frame order. */
#define CTX_RIP 17

static void skip_ud2(int sig, void *info, unsigned long *ctx)
{
    (void)info;
    got_signal = sig;
    ctx[CTX_RIP] += 2;              /* resume after the ud2 */
}

static void exit_on_segv(int sig)
{
    exit(sig == SIGSEGV ? 42 : 1);
}

/* sigsegv: a SIGSEGV handler runs for a write near NULL (it exits 42). */
static int sigsegv(void)
{
    catch_signal(SIGSEGV, exit_on_segv);
    *(volatile int *)8 = 1;         /* a write near NULL (not crash()'s read: no code shared) */
    return 1;
}

/* catcher FD: handlers for SIGTERM and SIGUSR1, tell the parent through FD,
 * then sleep 100 s: a caught signal interrupts the sleep (-EINTR, exit 5;
 * 6 if the signal came before the sleep). */
static int catcher(int fd)
{
    struct pyos_sigaction kill_act = {.handler = (unsigned long)on_signal};
    if (sigaction(SIGKILL, &kill_act, 0) != -EINVAL || sigaction(SIGSTOP, &kill_act, 0) != -EINVAL)
        return 1;
    catch_signal(SIGTERM, on_signal);
    catch_signal(SIGUSR1, on_signal);
    unsigned long all = ~0UL;
    sigprocmask(SIG_BLOCK, &all, 0);  /* SIGKILL stays deliverable whatever the mask says */
    unsigned long none = 0;
    sigprocmask(SIG_SETMASK, &none, 0);
    write(fd, "r", 1);
    int interrupted = 0;
    while (!got_signal)             /* a signal may come before the sleep starts: no hang then */
        interrupted |= sleep_ms(100000) == -EINTR;
    return interrupted ? 5 : 6;
}

/* pipewriter IGNORE: write into a pipe nobody reads. */
static int pipewriter(int ignore)
{
    int fds[2];
    if (pipe(fds) < 0)
        return 1;
    close(fds[0]);
    if (ignore) {
        struct pyos_sigaction act = {.handler = SIG_IGN};
        sigaction(SIGPIPE, &act, 0);
    }
    long r = write(fds[1], "x", 1);
    return r == -EPIPE ? 7 : 1;     /* reached only when SIGPIPE is ignored */
}

/* sleeper: sleep 100 s (the target of kill, alone or with its group). */
static int sleeper(void)
{
    sleep_ms(100000);
    return 3;
}

/* -- the cases ----------------------------------------------------------------- */

static int case_tree(void)
{
    const char *leaf[] = {"usertests", "exitwith", "7", 0};
    const char *branch[] = {"usertests", "branch", 0};
    int a = child(leaf), b = child(branch);
    int none = wait(-1, 0);
    printf("  leaf exited %d, branch (two leaves, summed) %d, wait with no children %d\n", a, b, none);
    return a == 7 && b == 14 && none == -ECHILD ? 0 : 1;
}

static int branch(void)
{
    const char *leaf[] = {"usertests", "exitwith", "7", 0};
    int pids[2], sum = 0, status;
    for (int i = 0; i < 2; i++)
        pids[i] = spawn("usertests", leaf);
    for (int i = 0; i < 2; i++)
        if (wait(-1, &status) > 0)
            sum += status;
    return pids[0] > 0 && pids[1] > 0 ? sum : 100;
}

static int shares(const int priorities[], int n, unsigned long counts[])
{
    /* Highest priority until the start barrier (the children inherit it), so
     * that every child gets going whatever the scheduler. */
    setpriority(0, 0);
    int fds[2], go[2];
    if (pipe(fds) < 0 || pipe(go) < 0)
        return 1;
    char prio[8][8], fd[8], gofd[8];
    snprintf(fd, sizeof fd, "%d", fds[1]);
    snprintf(gofd, sizeof gofd, "%d", go[0]);
    int pids[8];
    for (int i = 0; i < n; i++) {
        snprintf(prio[i], sizeof prio[i], "%d", priorities[i]);
        const char *argv[] = {"usertests", "spin", "0", "100", prio[i], fd, gofd, 0};  /* a 100-tick window */
        pids[i] = spawn("usertests", argv);
    }
    /* Every child exists: one token each starts their windows together. */
    char tokens[8] = {0};
    if (write(go[1], tokens, (size_t)n) != n)
        return 1;
    close(go[0]);
    close(go[1]);
    close(fds[1]);
    for (int i = 0; i < n; i++) {
        int status;
        wait(pids[i], &status);
    }
    char text[256];
    long got = 0, r;
    while ((r = read(fds[0], text + got, sizeof text - 1 - got)) > 0)
        got += r;
    text[got] = 0;
    close(fds[0]);
    /* Each child wrote "priority ticks"; children of equal priority are
     * interchangeable, so fill the first free slot with that priority. */
    const char *p = text;
    int filled[8] = {0};
    for (int k = 0; k < n; k++) {
        int prio = (int)strtol(p, &p, 10);
        while (*p == ' ')
            p++;
        unsigned long ticks = (unsigned long)strtol(p, &p, 10);
        while (*p == '\n')
            p++;
        for (int i = 0; i < n; i++)
            if (!filled[i] && priorities[i] == prio) {
                counts[i] = ticks;
                filled[i] = 1;
                break;
            }
    }
    for (int i = 0; i < n; i++)
        if (!filled[i])
            return 1;
    return 0;
}

static int case_share(void)
{
    int priorities[] = {20, 20};
    unsigned long c[2];
    if (shares(priorities, 2, c))
        return 1;
    printf("  share equal: %lu %lu\n", c[0], c[1]);
    return c[0] && c[1] ? 0 : 1;
}

static int case_share_weighted(void)
{
    int priorities[] = {10, 30};  /* stride: 30 and 10 tickets */
    unsigned long c[2];
    if (shares(priorities, 2, c))
        return 1;
    printf("  share weighted: priority 10 got %lu ticks, priority 30 got %lu\n", c[0], c[1]);
    return c[0] ? 0 : 1;
}

static int case_starvation(void)
{
    int priorities[] = {0, 0, 39};
    unsigned long c[3];
    if (shares(priorities, 3, c))
        return 1;
    unsigned long lo = c[0];
    for (int i = 1; i < 3; i++)
        if (c[i] < lo)
            lo = c[i];
    printf("  starvation: %lu %lu %lu (smallest %lu; the last is priority 39)\n", c[0], c[1], c[2], lo);
    return lo > 0 ? 0 : 1;  /* the priority-39 task ran too */
}

static int case_faults(void)
{
    struct pyos_sysinfo info;
    sysinfo(&info);
    int trampoline = !strcmp(info.syscall_entry, "int3 trampoline");
    const char *kinds[] = {"null", "ud", "divide", "kernel", "syscall"};
    const int expected[] = {KILLED_STATUS_BASE + 14, KILLED_STATUS_BASE + 6, KILLED_STATUS_BASE + 0,
                            KILLED_STATUS_BASE + 14, trampoline ? KILLED_STATUS_BASE + 14 : 0};
    int ok = 1;
    for (int i = 0; i < 5; i++) {
        const char *argv[] = {"usertests", "crash", kinds[i], 0};
        int status = child(argv);
        printf("  crash %s: exit status %d\n", kinds[i], status);
        /* The raw syscall's fault at the kernel entry is a #PF (fetching a
         * supervisor page) or a #GP (its first privileged instruction). */
        ok &= status == expected[i] || (i == 4 && trampoline && status == KILLED_STATUS_BASE + 13);
    }
    const char *fine[] = {"usertests", "exitwith", "0", 0};
    ok &= child(fine) == 0;  /* and life goes on */
    return ok ? 0 : 1;
}

static int case_bad_pointers(void)
{
    struct { const char *what; long got; } r[] = {
        {"write from an unmapped address", write(1, (void *)0x10, 5)},
        {"write from the kernel image", write(1, (void *)0xffffffff80100000UL, 5)},
        {"read into the vDSO", read(0, (void *)VDSO_ADDR, 1)},
        {"read into read-only program text", read(0, (void *)case_faults, 1)},
        {"pipe into unmapped memory", pipe((int *)0x20)},
        {"spawn with a bad path", spawn((const char *)0x30, 0)},
        {"wait with a bad status pointer", wait(-1, (int *)0xffff800000000000UL)},
        {"sysinfo into the kernel", sysinfo((struct pyos_sysinfo *)0xffffffff80000000UL)},
        {"write past the end of user space", write(1, (void *)0x00007ffffffff000UL, 0x2000)},
    };
    int ok = 1;
    for (unsigned i = 0; i < sizeof r / sizeof r[0]; i++) {
        if (r[i].got != -EFAULT) {
            printf("  %s: got %ld, expected -EFAULT\n", r[i].what, r[i].got);
            ok = 0;
        }
    }
    return ok ? 0 : 1;
}

/* Zero-length and boundary ranges are checked like any other, and nothing
 * blocks or stores for a zero-length transfer. */
static int case_boundaries(void)
{
    int fds[2];
    char byte = 'x';
    if (pipe(fds) < 0)
        return 1;
    struct { const char *what; long got, want; } r[] = {
        {"read 0 bytes from an empty pipe", read(fds[0], &byte, 0), 0},
        {"read 0 bytes from the console", read(0, &byte, 0), 0},
        {"write 0 bytes", write(fds[1], &byte, 0), 0},
        {"read 0 bytes at the top of user space", read(fds[0], (void *)0x00007ffffffff000UL, 0), -EFAULT},
        {"read 0 bytes into the kernel", read(fds[0], (void *)0xffffffff80100000UL, 0), -EFAULT},
        {"write with a length that wraps past 2^64", write(fds[1], &byte, -1L), -EFAULT},
        {"write with a huge length", write(fds[1], &byte, 0x7fffffffffffffffL), -EFAULT},
        {"spawn with a path running into unmapped memory", spawn((const char *)(0x00007ffffffff000UL - 1), 0),
         -EFAULT},
    };
    int ok = byte == 'x';
    for (unsigned i = 0; i < sizeof r / sizeof r[0]; i++) {
        if (r[i].got != r[i].want) {
            printf("  %s: got %ld, expected %ld\n", r[i].what, r[i].got, r[i].want);
            ok = 0;
        }
    }
    close(fds[0]);
    close(fds[1]);
    return ok ? 0 : 1;
}

/* Children that exit leaving running children of their own: init adopts and
 * reaps those, so no task slot or frame is lost however many rounds. */
static int case_orphans(void)
{
    struct pyos_sysinfo before, after;
    sysinfo(&before);
    for (int round = 0; round < 40; round++) {
        const char *argv[] = {"usertests", "orphan", 0};
        if (child(argv) != 0) {
            printf("  round %d: spawn failed\n", round);
            return 1;
        }
    }
    for (int i = 0; i < 100; i++) {  /* the last grandchildren nap 50 ms, then init reaps them */
        sleep_ms(20);
        sysinfo(&after);
        if (after.processes == before.processes && after.free_frames == before.free_frames)
            break;
    }
    printf("  40 orphans: %lu processes before, %lu after; free frames %lu -> %lu\n", before.processes,
           after.processes, before.free_frames, after.free_frames);
    return after.processes == before.processes && after.free_frames == before.free_frames ? 0 : 1;
}

static int case_fpu(void)
{
    const char *a[] = {"usertests", "fpu", "3", 0};
    const char *b[] = {"usertests", "fpu", "5", 0};
    int pa = spawn("usertests", a), pb = spawn("usertests", b), sa = -1, sb = -1;
    wait(pa, &sa);
    wait(pb, &sb);
    printf("  two processes' floating-point results across preemption: %s, %s\n",
           sa ? "differ" : "equal", sb ? "differ" : "equal");
    return sa == 0 && sb == 0 ? 0 : 1;
}

static int case_pipe_dup(void)
{
    int fds[2];
    if (pipe(fds) < 0)
        return 1;
    char fd[8], wfd[8];
    snprintf(fd, sizeof fd, "%d", fds[0]);
    snprintf(wfd, sizeof wfd, "%d", fds[1]);
    const char *argv[] = {"usertests", "count", fd, wfd, 0};
    int pid = spawn("usertests", argv);
    close(fds[0]);
    int copy = dup(fds[1]);
    char block[100];
    memset(block, 'x', sizeof block);
    for (int i = 0; i < 10; i++)
        write(i % 2 ? copy : fds[1], block, sizeof block);  /* 1000 bytes through both descriptors */
    close(fds[1]);
    close(copy);
    int status = -1;
    wait(pid, &status);
    printf("  1000 bytes through a pipe (and a dup of it) counted as %d (mod 256: %d)\n", status, 1000 & 255);
    int null = open("/dev/null", 0);
    int bad = open("/no/such/file", 0);
    return status == (1000 & 255) && null >= 0 && write(null, "abc", 3) == 3 && bad == -ENOENT ? 0 : 1;
}

static int case_memory(void)
{
    void *blocks[200];
    for (int i = 0; i < 200; i++) {
        blocks[i] = malloc(16 + i * 97);
        if (!blocks[i])
            return 1;
        memset(blocks[i], i, 16 + i * 97);
    }
    for (int i = 0; i < 200; i++)
        if (((unsigned char *)blocks[i])[i * 97] != (unsigned char)i)
            return 1;
    for (int i = 0; i < 200; i++)
        free(blocks[i]);
    char *big = sbrk(1 << 20);
    if (big == (void *)-1)
        return 1;
    big[0] = 1;
    big[(1 << 20) - 1] = 2;
    return 0;
}

static int case_sleep(void)
{
    struct pyos_sysinfo info;
    sysinfo(&info);
    long before = uptime();
    sleep_ms(200);
    long slept = uptime() - before, expected = 200 * (long)info.timer_hz / 1000;
    printf("  sleep 200 ms: %ld ticks at %lu Hz\n", slept, info.timer_hz);
    return slept >= expected && slept <= expected + expected / 2 + 2 ? 0 : 1;
}


/* A handler runs at the return of the call that raised the signal, and
 * sigreturn resumes with every register and the FPU state as they were. */
static int case_signal(void)
{
    struct pyos_sigaction old = {.handler = 99};
    if (catch_signal(SIGUSR1, on_signal) || sigaction(SIGUSR1, 0, &old) || old.handler != (unsigned long)on_signal)
        return 1;
    volatile double before = 2.5;
    long r = kill(getpid(), SIGUSR1);
    int ran = got_signal == SIGUSR1 && got_count == 1;
    /* Blocked: pending until unblocked, then delivered at once. */
    unsigned long set = 1UL << SIGUSR1, was = 99;
    sigprocmask(SIG_BLOCK, &set, &was);
    kill(getpid(), SIGUSR1);
    int held = got_count == 1;
    sigprocmask(SIG_UNBLOCK, &set, 0);
    int released = got_count == 2;
    /* Ignored: nothing happens; a bad signal number is an error. */
    struct pyos_sigaction ign = {.handler = SIG_IGN};
    sigaction(SIGUSR2, &ign, 0);
    kill(getpid(), SIGUSR2);
    int bad = kill(getpid(), 64) == -EINVAL && sigaction(0, &ign, 0) == -EINVAL && kill(99999, SIGUSR1) == -ESRCH;
    /* SIGILL: the handler moves the saved RIP past the ud2, and execution goes on. */
    struct pyos_sigaction ill = {.handler = (unsigned long)skip_ud2};
    sigaction(SIGILL, &ill, 0);
    got_signal = 0;
    __asm__ volatile("ud2");
    int skipped = got_signal == SIGILL;
    printf("  kill -> %ld, handler ran %d, blocked held %d then released %d, ignored/bad ok %d, "
           "ud2 skipped by its handler %d, FPU %s\n", r, ran, held, released, bad, skipped,
           before == 2.5 ? "intact" : "clobbered");
    return r == 0 && ran && was == 0 && held && released && bad && skipped && before == 2.5 ? 0 : 1;
}

/* SIGKILL cannot be caught, blocked or ignored; caught SIGTERM/SIGUSR1 interrupt a sleep. */
static int case_sigkill(void)
{
    int status[3] = {-1, -1, -1};
    int sigs[3] = {SIGKILL, SIGTERM, SIGUSR1};
    for (int i = 0; i < 3; i++) {
        int fds[2];
        pipe(fds);
        char fd[8];
        snprintf(fd, sizeof fd, "%d", fds[1]);
        const char *argv[] = {"usertests", "catcher", fd, 0};
        int pid = spawn("usertests", argv);
        char c;
        close(fds[1]);
        if (pid < 0 || read(fds[0], &c, 1) != 1)   /* its handlers are in place */
            return 1;
        close(fds[0]);
        sleep_ms(30);                               /* let it reach its sleep */
        kill(pid, sigs[i]);
        wait(pid, &status[i]);
    }
    printf("  SIGKILL to a process catching everything: status %d; caught SIGTERM: %d; caught SIGUSR1: %d\n",
           status[0], status[1], status[2]);
    return status[0] == 128 + SIGKILL && status[1] == 5 && status[2] == 5 ? 0 : 1;
}

/* Writing a pipe with no reader: SIGPIPE kills by default; ignored, write gets EPIPE. */
static int case_sigpipe(void)
{
    const char *dflt[] = {"usertests", "pipewriter", "0", 0};
    const char *ign[] = {"usertests", "pipewriter", "1", 0};
    int a = child(dflt), b = child(ign);
    printf("  default: status %d (128 + SIGPIPE = %d); ignored: status %d (EPIPE seen: 7)\n", a, 128 + SIGPIPE, b);
    return a == 128 + SIGPIPE && b == 7 ? 0 : 1;
}

/* A child's exit sends SIGCHLD to its parent (caught here; ignored by default). */
static int case_sigchld(void)
{
    const char *argv[] = {"usertests", "exitwith", "4", 0};
    int quiet = -1;
    wait(spawn("usertests", argv), &quiet);       /* default action: nothing happens */
    catch_signal(SIGCHLD, on_signal);
    int pid = spawn("usertests", argv);
    int status = -1;
    int reaped = wait(pid, &status);
    printf("  default: child status %d; with a handler: SIGCHLD %s, child %d reaped with status %d\n",
           quiet, got_signal == SIGCHLD ? "caught" : "missing", reaped, status);
    return quiet == 4 && got_signal == SIGCHLD && reaped == pid && status == 4 ? 0 : 1;
}

/* kill(-pgid): every member of the group, and nobody else. */
static int case_killpg(void)
{
    const char *argv[] = {"usertests", "sleeper", 0};
    int a = spawn("usertests", argv), b = spawn("usertests", argv), c = spawn("usertests", argv);
    int me = getpgid(0);
    int ok = setpgid(a, a) == 0 && setpgid(b, a) == 0 && setpgid(c, 0) == 0 &&
             getpgid(a) == a && getpgid(b) == a && getpgid(c) == c && getpgid(0) == me &&
             setpgid(a, 99999) == -EPERM && setpgid(1, 0) == -ESRCH;
    int sent = kill(-a, SIGTERM);
    int sa = -1, sb = -1, sc = -1;
    wait(a, &sa);
    wait(b, &sb);
    kill(c, SIGINT);
    wait(c, &sc);
    printf("  group %d: setpgid/getpgid ok %d, kill(-%d) -> %d, members %d %d; the other group's %d (SIGINT later)\n",
           a, ok, a, sent, sa, sb, sc);
    return ok && sent == 0 && sa == 128 + SIGTERM && sb == 128 + SIGTERM && sc == 128 + SIGINT &&
           kill(-a, SIGTERM) == -ESRCH ? 0 : 1;
}

/* A SIGSEGV handler runs for a user page fault instead of the default kill. */
static int case_sigsegv(void)
{
    const char *argv[] = {"usertests", "sigsegv", 0};
    int status = child(argv);
    printf("  write to address 8 with a SIGSEGV handler: status %d (the handler exits 42)\n", status);
    return status == 42 ? 0 : 1;
}

/* -- processes and memory (issue 10): fork, exec, COW, demand paging, mmap ---------------- */

/* envcheck: exec's argv and envp arrived in the SysV layout. */
static int envcheck(int argc, char **argv)
{
    char **env = environ;
    int ok = argc == 3 && !strcmp(argv[2], "a b") && env && env[0] && !strcmp(env[0], "PYOS=1") && env[1] &&
             !strcmp(env[1], "X=yz") && !env[2] && !argv[3];
    return ok ? 0 : 1;
}

static int case_fork(void)
{
    int pid = fork();
    if (pid == 0)
        exit(42);
    int st = -1;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 42) {
        printf("  fork: pid %d, status %#x\n", pid, st);
        return 1;
    }
    int hold[2];  /* the child waits for end of file here: WNOHANG surely finds it running */
    if (pipe(hold) < 0)
        return 1;
    int slow = fork();
    if (slow == 0) {
        char go;
        close(hold[1]);
        read(hold[0], &go, 1);
        exit(3);
    }
    close(hold[0]);
    int early = waitpid(slow, &st, WNOHANG);
    close(hold[1]);
    int late = waitpid(slow, &st, 0);
    if (early != 0 || late != slow || WEXITSTATUS(st) != 3) {
        printf("  WNOHANG gave %d, then %d with %#x\n", early, late, st);
        return 1;
    }
    /* By process group: -pgid finds a child that leads its own group, 0 one in ours.
     * The leader waits on a pipe until it has been moved (no sleep racing a slow fork). */
    int gate[2];
    if (pipe(gate) < 0)
        return 1;
    int leader = fork();
    if (leader == 0) {
        char go;
        close(gate[1]);
        read(gate[0], &go, 1);
        exit(5);
    }
    close(gate[0]);
    int member = fork();
    if (member == 0)
        exit(6);
    int grouped = setpgid(leader, leader);
    close(gate[1]);  /* end of file: the leader exits */
    int by_group = waitpid(-leader, &st, 0), leader_status = WEXITSTATUS(st);
    int by_ours = waitpid(0, &st, 0), member_status = WEXITSTATUS(st);
    if (grouped || by_group != leader || leader_status != 5 || by_ours != member || member_status != 6) {
        printf("  waitpid by group: setpgid %d, -pgid gave %d (%d), 0 gave %d (%d)\n", grouped, by_group,
               leader_status, by_ours, member_status);
        return 1;
    }
    int sum = 0, n = 20;
    for (int i = 0; i < n; i++)
        if (fork() == 0)
            exit(i);
    for (int i = 0; i < n; i++) {
        if (waitpid(-1, &st, 0) <= 0)
            return 1;
        sum += WEXITSTATUS(st);
    }
    int none = waitpid(-1, &st, WNOHANG);
    printf("  fork: child status 42, WNOHANG 0 then 3, by group 5 and 6, %d children summed %d, then %d\n", n, sum,
           none);
    return sum == n * (n - 1) / 2 && none == -ECHILD ? 0 : 1;
}

static int case_exec(void)
{
    int pid = fork();
    if (pid == 0) {
        char *av[] = {"usertests", "envcheck", "a b", 0};
        char *ev[] = {"PYOS=1", "X=yz", 0};
        int r = execve("usertests", av, ev);
        printf("  execve failed: %d\n", r);
        exit(99);
    }
    int st = -1;
    waitpid(pid, &st, 0);
    int hello = fork();
    if (hello == 0) {
        char *av[] = {"hello", "exec", 0};
        execve("hello", av, 0);
        exit(99);
    }
    int st2 = -1;
    waitpid(hello, &st2, 0);
    char *av[] = {"x", 0};
    int missing = execve("no-such-program", av, 0), missing2 = execve("/no/such/file", av, 0);
    printf("  exec: argv/envp check %d, hello %d, missing %d and %d\n", WEXITSTATUS(st), WEXITSTATUS(st2),
           missing, missing2);
    return st == 0 && st2 == 0 && missing == -ENOENT && missing2 == -ENOENT ? 0 : 1;
}

static char cow_page[4096] __attribute__((aligned(4096)));
static char cow_data[4096] __attribute__((aligned(4096))) = {'D'};

static int case_cow(void)
{
    cow_page[0] = 'P';
    char *heap = malloc(8192);
    heap[0] = 'H';
    int pid = fork();
    if (pid == 0) {
        int saw = cow_page[0] == 'P' && heap[0] == 'H' && cow_data[0] == 'D';
        cow_page[0] = 'C';
        heap[0] = 'c';
        cow_data[0] = 'd';
        sleep_ms(50);   /* the parent writes meanwhile */
        exit(saw && cow_page[0] == 'C' && heap[0] == 'c' && cow_data[0] == 'd' ? 0 : 1);
    }
    cow_page[0] = 'Q';
    heap[0] = 'h';
    int st = -1;
    waitpid(pid, &st, 0);
    printf("  cow: child saw its own values: %s; parent keeps '%c' '%c' '%c'\n", st == 0 ? "yes" : "no",
           cow_page[0], heap[0], cow_data[0]);
    int ok = st == 0 && cow_page[0] == 'Q' && heap[0] == 'h' && cow_data[0] == 'D';
    free(heap);
    return ok ? 0 : 1;
}

static int deep(int n)
{
    volatile char frame[4000];
    frame[0] = (char)n;
    frame[3999] = (char)n;
    return n ? deep(n - 1) + (frame[0] == (char)n) : 1;
}

static int case_stack(void)
{
    int depth = 1000;   /* ~4 MB of stack: far past the 64 KiB the program starts with */
    int r = deep(depth);
    int pid = fork();
    if (pid == 0)
        exit(deep(3000) ? 0 : 1);   /* ~12 MB: past the 8 MiB limit, killed */
    int st = -1;
    waitpid(pid, &st, 0);
    printf("  stack: %d frames of 4 KB deep: %s; 3000 deep: status %#x (killed by signal %d)\n", depth,
           r == depth + 1 ? "ok" : "bad", st, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    return r == depth + 1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV ? 0 : 1;
}

static int case_mmap(void)
{
    char *p = mmap(0, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *q = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || q == MAP_FAILED)
        return 1;
    int zero = p[0] == 0 && p[3 * 4096 - 1] == 0;
    p[0] = 1;
    p[3 * 4096 - 1] = 2;
    int pid = fork();
    if (pid == 0) {
        p[0] = 5;
        q[0] = 7;
        exit(0);
    }
    int st = -1;
    waitpid(pid, &st, 0);
    int isolated = p[0] == 1, shared = q[0] == 7;
    int unmapped = munmap(p, 3 * 4096), bad = munmap(p + 1, 4096);
    void *none = mmap(0, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int gone = fork();
    if (gone == 0)
        exit(p[0]);   /* unmapped: killed */
    waitpid(gone, &st, 0);
    printf("  mmap: zeroed %d, private after fork %d, shared after fork %d, munmap %d/%d, touch after munmap: "
           "killed by signal %d\n", zero, isolated, shared, unmapped, bad, WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    munmap(q, 4096);
    return zero && isolated && shared && !unmapped && bad == -EINVAL && none == MAP_FAILED &&
           WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV ? 0 : 1;
}

/* Needs a writable root filesystem. */
static int case_mmap_file(void)
{
    int fd = open("/mmtest", O_CREAT | O_RDWR | O_TRUNC);
    if (fd < 0)
        return 1;
    static char pattern[10000];
    for (int i = 0; i < 10000; i++)
        pattern[i] = (char)('a' + i % 26);
    if (write(fd, pattern, sizeof pattern) != sizeof pattern)
        return 1;
    char *p = mmap(0, 10000, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    char *s = mmap(0, 10000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED || s == MAP_FAILED)
        return 1;
    int same = !memcmp(p, pattern, 10000) && !memcmp(s, pattern, 10000);
    p[1] = 'X';                        /* private: the file keeps its byte */
    s[5] = 'S';
    s[9999] = 'E';
    int synced = msync(s, 10000, MS_SYNC);
    char back[10000];
    lseek(fd, 0, SEEK_SET);
    long n = read(fd, back, sizeof back);
    int ok_private = back[1] == pattern[1], ok_shared = back[5] == 'S' && back[9999] == 'E';
    munmap(p, 10000);
    munmap(s, 10000);
    char *t = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 4096);
    t[0] = 'T';
    munmap(t, 4096);                   /* written back on munmap */
    int pid = fork();
    if (pid == 0) {
        char *c = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 8192);
        c[0] = 'K';
        exit(0);                       /* and at exit */
    }
    int st;
    waitpid(pid, &st, 0);
    char b1 = 0, b2 = 0;
    lseek(fd, 4096, SEEK_SET);
    read(fd, &b1, 1);
    lseek(fd, 8192, SEEK_SET);
    read(fd, &b2, 1);
    int ro = open("/mmtest", O_RDONLY);
    void *denied = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, ro, 0);
    close(ro);
    close(fd);
    unlink("/mmtest");
    printf("  mmap file: same bytes %d, msync %d, read back %ld: private kept %d, shared written %d, "
           "munmap wrote '%c', exit wrote '%c', read-only shared writable mapping refused %d\n",
           same, synced, n, ok_private, ok_shared, b1, b2, denied == MAP_FAILED);
    return same && !synced && n == 10000 && ok_private && ok_shared && b1 == 'T' && b2 == 'K' &&
           denied == MAP_FAILED ? 0 : 1;
}

/* Write a file that exec must refuse; returns execve's result. */
static int exec_bad(const char *path, const void *bytes, long len)
{
    int fd = open(path, O_CREAT | O_RDWR | O_TRUNC);
    if (fd < 0 || write(fd, bytes, len) != len)
        return 1000;
    close(fd);
    char *av[] = {(char *)path, 0};
    int r = execve(path, av, 0);
    unlink(path);
    return r;
}

struct elf_image {   /* an ELF header and one program header */
    unsigned char ident[16];
    unsigned short type, machine;
    unsigned int version;
    unsigned long entry, phoff, shoff;
    unsigned int flags;
    unsigned short ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
    unsigned int p_type, p_flags;
    unsigned long p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align;
};

static struct elf_image good_elf(unsigned long vaddr)
{
    struct elf_image e;
    memset(&e, 0, sizeof e);
    memcpy(e.ident, "\177ELF\2\1\1", 7);
    e.type = 2;
    e.machine = 62;
    e.version = 1;
    e.entry = vaddr;
    e.phoff = 64;
    e.ehsize = 64;
    e.phentsize = 56;
    e.phnum = 1;
    e.p_type = 1;
    e.p_flags = 5;
    e.p_vaddr = vaddr;
    e.p_filesz = e.p_memsz = sizeof e;
    return e;
}

/* Needs a writable root filesystem. */
static int case_exec_errors(void)
{
    char *av[] = {"x", 0};
    int missing = execve("/no/such/program", av, 0);
    int text = exec_bad("/notelf", "#!/bin/sh\necho hello\n", 21);
    struct elf_image e = good_elf(0x400000);
    e.ident[4] = 1;                                      /* 32-bit */
    int elf32 = exec_bad("/elf32", &e, sizeof e);
    e = good_elf(0x400000);
    e.machine = 183;                                     /* AArch64 */
    int arm = exec_bad("/elfarm", &e, sizeof e);
    e = good_elf(0xffffffff80100000UL);                  /* over the kernel */
    int kernel = exec_bad("/elfkern", &e, sizeof e);
    e = good_elf(VDSO_ADDR - 4096);                      /* over the vDSO */
    e.p_memsz = 3 * 4096;
    int vdso = exec_bad("/elfvdso", &e, sizeof e);
    e = good_elf(0x400000);
    e.phnum = 9;                                         /* headers past the end of the file */
    int truncated = exec_bad("/elftrunc", &e, sizeof e);
    int dir = execve("/", av, 0);
    printf("  exec errors: missing %d, text %d, 32-bit %d, aarch64 %d, kernel %d, vdso %d, truncated %d, "
           "directory %d\n", missing, text, elf32, arm, kernel, vdso, truncated, dir);
    return missing == -ENOENT && text == -ENOEXEC && elf32 == -ENOEXEC && arm == -ENOEXEC &&
           (kernel == -EINVAL || kernel == -ENOEXEC) && (vdso == -EINVAL || vdso == -ENOEXEC) &&
           truncated == -ENOEXEC && dir == -13 ? 0 : 1;
}

/* grind: random system calls with random arguments in children; the kernel
 * must survive and give every frame back (the harness compares). */
static unsigned long rng_state;
static unsigned long rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static long random_arg(char *buf)
{
    switch (rnd() % 12) {
    case 0: return 0;
    case 1: return -1;
    case 2: return (long)(rnd() % 64);
    case 3: return (long)rnd();
    case 4: return (long)(buf + rnd() % 4096);
    case 5: return 0x400000 + (long)(rnd() % 64) * 4096;
    case 6: return (long)0xffffffff80100000UL;
    case 7: return (long)VDSO_ADDR + (long)(rnd() % 8192) - 4096;
    case 8: return 0x7ffffff00000L - (long)(rnd() % 0x1000000);
    case 9: return (long)(rnd() % 0x10000) * 4096;
    case 10: return (long)(rnd() % 0x100000);
    default: return (long)(1UL << 47) - (long)(rnd() % 8192);
    }
}

static int grinder(unsigned long seed, int calls)
{
    rng_state = seed * 2654435761UL + 1;
    char *buf = malloc(4096);
    for (int i = 0; i < calls; i++) {
        long nr = (long)(rnd() % 56);
        long a[6];
        for (int k = 0; k < 6; k++)
            a[k] = random_arg(buf);
        switch (nr) {   /* calls that would block forever, or reach beyond this child */
        case SYS_read: case SYS_sleep: case SYS_spawn: case SYS_execve: case SYS_pipe: case SYS_kill:
        case SYS_sched_swap: case SYS_ioctl: case SYS_setpgid: case SYS_sigprocmask: case SYS_sigaction:
        case SYS_sigreturn: case SYS_exit: case SYS_mount:
            continue;
        case SYS_wait: case SYS_waitpid:
            a[0] = -1;
            break;
        case SYS_setpriority:
            a[0] = 0;
            break;
        case SYS_write: case SYS_dup: case SYS_dup2:   /* never the console: no garbage on it */
            if ((unsigned long)a[0] < 3)
                a[0] += 3;
            if (nr == SYS_dup2 && (unsigned long)a[1] < 3)
                a[1] += 3;
            break;
        }
        long r = pyos_syscall6(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
        if (nr == SYS_fork && r == 0)
            exit(0);
        if (nr == SYS_fork && r > 0)
            waitpid((int)r, 0, 0);   /* no orphans left to init if this child is killed later */
    }
    while (waitpid(-1, 0, 0) > 0)
        ;
    return 0;
}

static int case_grind(void)
{
    int children = 8, calls = 400, killed = 0;
    for (int c = 0; c < children; c++) {
        int pid = fork();
        if (pid == 0)
            exit(grinder((unsigned long)c + 1, calls));
        int st = -1;
        if (pid < 0 || waitpid(pid, &st, 0) != pid)
            return 1;
        killed += WIFSIGNALED(st);
    }
    printf("  grind: %d children x %d random system calls; %d killed by their own faults; kernel alive\n",
           children, calls, killed);
    return 0;
}

/* -- the system-call boundary at a page edge (issue 16) ------------------------
 * The kernel checks a user string page by page as it copies it, and a
 * buffer over its whole length: these cases put strings and buffers right
 * against the first unmapped page after the heap, where a kernel that
 * skipped a check would take a page fault itself. */

/* The first unmapped address after the heap, with a whole mapped page below
 * it; 0 if the layout is not as expected (checked: it is a test failure). */
static char *heap_edge(void)
{
    unsigned long cur = (unsigned long)sbrk(0), edge = ((cur + 4095) & ~4095UL) + 4096;
    if (sbrk((long)(edge - cur)) == (void *)-1)
        return 0;
    int null = open("/dev/null", O_RDONLY);
    long below = write(null, (char *)edge - 4096, 4096), above = write(null, (char *)edge, 1);
    close(null);
    return below == 4096 && above == -EFAULT ? (char *)edge : 0;
}

struct expect {
    const char *what;
    long got, want;
};

static int all_as_expected(const struct expect *r, unsigned n)
{
    int ok = 1;
    for (unsigned i = 0; i < n; i++) {
        if (r[i].got != r[i].want) {
            printf("  %s: got %ld, expected %ld\n", r[i].what, r[i].got, r[i].want);
            ok = 0;
        }
    }
    return ok;
}

static int case_edge_strings(void)
{
    char *edge = heap_edge();
    if (!edge) {
        printf("  no unmapped page after the heap\n");
        return 1;
    }
    char *run = edge - 16;          /* 16 bytes, no NUL, then the unmapped page */
    memset(run, 'a', 16);
    run[0] = '/';
    char *longest = edge - 4096;    /* VFS_PATH_MAX (256) bytes without a NUL, all mapped */
    memset(longest, 'b', 300);
    longest[0] = '/';
    const char *argv_bad[] = {"usertests", run, 0};
    struct pyos_stat st;
    struct pyos_statfs sfs;
    /* (Each call on its own line: an initialiser list's calls are not ordered.) */
    struct expect r[21];
    unsigned n = 0;
    r[n++] = (struct expect){"spawn, path into unmapped memory", spawn(run, 0), -EFAULT};
    r[n++] = (struct expect){"spawn, an argument into unmapped memory", spawn("usertests", argv_bad), -EFAULT};
    r[n++] = (struct expect){"open", open(run, O_RDONLY), -EFAULT};
    r[n++] = (struct expect){"stat", stat(run, &st), -EFAULT};
    r[n++] = (struct expect){"statfs", statfs(run, &sfs), -EFAULT};
    r[n++] = (struct expect){"mkdir", mkdir(run, 0755), -EFAULT};
    r[n++] = (struct expect){"unlink", unlink(run), -EFAULT};
    r[n++] = (struct expect){"chdir", chdir(run), -EFAULT};
    r[n++] = (struct expect){"rename, first path", rename(run, "/x"), -EFAULT};
    r[n++] = (struct expect){"rename, second path", rename("/no-such-file", run), -EFAULT};
    r[n++] = (struct expect){"truncate", truncate(run, 0), -EFAULT};
    /* (a device name is at most 15 characters: these 4 run into the unmapped page first) */
    r[n++] = (struct expect){"mount, device", mount(run + 12, "/mnt"), -EFAULT};
    r[n++] = (struct expect){"mount, a device name of 16 characters", mount(run, "/mnt"), -ENAMETOOLONG};
    r[n++] = (struct expect){"mount, path", mount("hdb", run), -EFAULT};
    r[n++] = (struct expect){"open a path longer than VFS_PATH_MAX", open(longest, O_RDONLY), -ENAMETOOLONG};
    r[n++] = (struct expect){"spawn a path longer than its buffer", spawn(longest, 0), -ENAMETOOLONG};
    /* An empty path is copied in fine (it is not a bad pointer) and names nothing (POSIX: ENOENT). */
    r[n++] = (struct expect){"open an empty path", open("", O_RDONLY), -ENOENT};
    r[n++] = (struct expect){"stat an empty path", stat("", &st), -ENOENT};
    r[n++] = (struct expect){"unlink an empty path", unlink(""), -ENOENT};
    run[14] = '/';                  /* now "/aaa...a/" ends with its NUL in the last mapped byte */
    run[15] = 0;
    r[n++] = (struct expect){"chdir to a path ending at the page edge", chdir(run) == -EFAULT, 0};
    r[n++] = (struct expect){"stat of a path ending at the page edge", stat(run, &st) == -EFAULT, 0};
    return all_as_expected(r, n) ? 0 : 1;
}

static int case_edge_buffers(void)
{
    char *edge = heap_edge();
    if (!edge) {
        printf("  no unmapped page after the heap\n");
        return 1;
    }
    int fds[2];
    if (pipe(fds) < 0)
        return 1;
    write(fds[1], "0123456789", 10);
    int null = open("/dev/null", O_RDONLY);
    int dir = open("/", O_RDONLY | O_DIRECTORY);
    struct pyos_stat *st_over = (struct pyos_stat *)(edge - sizeof(struct pyos_stat) + 8);
    struct pyos_statfs *sfs_over = (struct pyos_statfs *)(edge - sizeof(struct pyos_statfs) + 8);
    struct pyos_stat *st_fits = (struct pyos_stat *)(edge - sizeof(struct pyos_stat));
    struct pyos_statfs sfs;
    long statfs_root = statfs("/", &sfs);  /* without a root filesystem: its error comes first */
    struct expect r[] = {
        {"write running into unmapped memory", write(null, edge - 10, 11), -EFAULT},
        {"write ending at the page edge", write(null, edge - 10, 10), 10},
        {"read running into unmapped memory", read(fds[0], edge - 4, 5), -EFAULT},
        {"read ending at the page edge", read(fds[0], edge - 4, 4), 4},
        {"read 0 bytes at the unmapped page", read(fds[0], edge, 0), 0},
        {"read with a length wrapping past 2^64", read(fds[0], edge - 4, -1L), -EFAULT},
        {"write with a length wrapping past 2^64", write(null, edge - 4096, -4096L), -EFAULT},
        {"write with the top bit of the length set", write(null, edge - 4096, (long)(1UL << 63)), -EFAULT},
        {"getdents into unmapped memory", getdents(dir, (struct pyos_dirent *)(edge - 16), 64), -EFAULT},
        {"getdents with a length wrapping past 2^64", getdents(dir, (struct pyos_dirent *)(edge - 4096), (size_t)-1),
         -EFAULT},
        /* Zero-length buffers are valid anywhere (no byte is touched): the call's own error then. */
        {"getdents into 0 bytes at the unmapped page", getdents(dir, (struct pyos_dirent *)edge, 0), -EINVAL},
        {"getcwd into 0 bytes at the unmapped page", getcwd(edge, 0), -ERANGE},
        {"getcwd into unmapped memory", getcwd(edge - 1, 16), -EFAULT},
        {"getcwd with a length wrapping past 2^64", getcwd(edge - 16, (size_t)-16), -EFAULT},
        {"stat into a buffer crossing the page edge", stat("/", st_over), -EFAULT},
        {"fstat into a buffer crossing the page edge", fstat(dir, st_over), -EFAULT},
        {"statfs into a buffer crossing the page edge", statfs("/", sfs_over), statfs_root ? statfs_root : -EFAULT},
        {"stat into a buffer ending at the page edge", stat("/", st_fits), 0},
        {"pipe into a pair crossing the page edge", pipe((int *)(edge - 4)), -EFAULT},
        {"wait with a status crossing the page edge", wait(-1, (int *)(edge - 2)), -EFAULT},
    };
    close(fds[0]);
    close(fds[1]);
    close(null);
    close(dir);
    return all_as_expected(r, sizeof r / sizeof r[0]) ? 0 : 1;
}

struct test {
    const char *name;
    int (*run)(void);
};

static const struct test tests[] = {
    {"tree", case_tree},
    {"faults", case_faults},
    {"badptr", case_bad_pointers},
    {"boundaries", case_boundaries},
    {"orphans", case_orphans},
    {"pipe", case_pipe_dup},
    {"memory", case_memory},
    {"sleep", case_sleep},
    {"share", case_share},
    {"share_weighted", case_share_weighted},
    {"starvation", case_starvation},
    {"fpu", case_fpu},
    {"signal", case_signal},
    {"sigkill", case_sigkill},
    {"sigpipe", case_sigpipe},
    {"sigchld", case_sigchld},
    {"killpg", case_killpg},
    {"sigsegv", case_sigsegv},
    {"fork", case_fork},
    {"exec", case_exec},
    {"cow", case_cow},
    {"stack", case_stack},
    {"mmap", case_mmap},
    {"grind", case_grind},
    {"edge_strings", case_edge_strings},
    {"edge_buffers", case_edge_buffers},
};
#define NTESTS (int)(sizeof tests / sizeof tests[0])
/* Cases that need a writable root filesystem: run by name (usertests run CASE...). */
static const struct test disk_tests[] = {
    {"mmap_file", case_mmap_file},
    {"exec_errors", case_exec_errors},
};
#define NDISK_TESTS (int)(sizeof disk_tests / sizeof disk_tests[0])

static const struct test *find_case(const char *name)
{
    for (int i = 0; i < NTESTS; i++)
        if (!strcmp(tests[i].name, name))
            return &tests[i];
    for (int i = 0; i < NDISK_TESTS; i++)
        if (!strcmp(disk_tests[i].name, name))
            return &disk_tests[i];
    return 0;
}

/* Each case in a child of its own; frames compared before and after. */
static int run_case(const char *name)
{
    unsigned long before = free_frames();
    const char *argv_case[] = {"usertests", "case", name, 0};
    int status = child(argv_case);
    unsigned long after = free_frames();
    int leak = after != before;
    int ok = status == 0 && !leak;
    printf("usertests: %s: %s (exit status %d, free frames %lu -> %lu)\n", name, ok ? "OK" : "FAILED", status,
           before, after);
    return !ok;
}

int main(int argc, char **argv)
{
    int only = argc >= 2 && !strcmp(argv[1], "only");  /* usertests only CASE...: those cases, as below */
    if (argc >= 2 && !only) {
        const char *what = argv[1];
        if (!strcmp(what, "exitwith") && argc > 2)
            return (int)strtol(argv[2], 0, 10);
        if (!strcmp(what, "branch"))
            return branch();
        if (!strcmp(what, "spin") && argc > 5)
            return spin(strtol(argv[2], 0, 10), strtol(argv[3], 0, 10), (int)strtol(argv[4], 0, 10),
                        (int)strtol(argv[5], 0, 10), argc > 6 ? (int)strtol(argv[6], 0, 10) : -1);
        if (!strcmp(what, "fpu") && argc > 2)
            return fpu((double)strtol(argv[2], 0, 10));
        if (!strcmp(what, "crash") && argc > 2)
            return crash(argv[2]);
        if (!strcmp(what, "orphan"))
            return orphan();
        if (!strcmp(what, "napper")) {
            sleep_ms(50);
            return 0;
        }
        if (!strcmp(what, "sigsegv"))
            return sigsegv();
        if (!strcmp(what, "catcher") && argc > 2)
            return catcher((int)strtol(argv[2], 0, 10));
        if (!strcmp(what, "pipewriter") && argc > 2)
            return pipewriter(argv[2][0] == '1');
        if (!strcmp(what, "sleeper"))
            return sleeper();
        if (!strcmp(what, "count") && argc > 3)
            return count_bytes((int)strtol(argv[2], 0, 10), (int)strtol(argv[3], 0, 10));
        if (!strcmp(what, "envcheck"))
            return envcheck(argc, argv);
        if (!strcmp(what, "case") && argc > 2 && find_case(argv[2]))
            return find_case(argv[2])->run();
        if (!strcmp(what, "run")) {   /* run CASE...: the named cases, as the full run does */
            const char *warm[] = {"usertests", "case", "pipe", 0};
            child(warm);
            int failed = 0;
            for (int i = 2; i < argc; i++) {
                if (!find_case(argv[i])) {
                    failed++;
                    continue;
                }
                if ((find_case(argv[i]) >= disk_tests && find_case(argv[i]) < disk_tests + NDISK_TESTS) ||
                    !strcmp(argv[i], "exec")) {
                    /* Once to warm up the filesystem's buffer cache, which grows on first use
                     * (exec reads programs from /bin when there is a disk). */
                    const char *warm_case[] = {"usertests", "case", argv[i], 0};
                    child(warm_case);
                }
                failed += run_case(argv[i]);
            }
            printf("usertests: %d passed, %d failed\n", argc - 2 - failed, failed);
            return failed;
        }
        printf("usertests: unknown mode %s\n", what);
        return 2;
    }
    struct pyos_sysinfo info;
    sysinfo(&info);
    printf("usertests: %d cases, scheduler '%s', system calls via %s\n", only ? argc - 2 : NTESTS, info.scheduler,
           info.syscall_entry);
    /* Warm-up: let the kernel heap and page tables reach their steady state. */
    const char *warm[] = {"usertests", "case", "pipe", 0};
    child(warm);
    int failed = 0, ran = 0;
    for (int i = 0; i < NTESTS; i++) {
        int listed = !only;
        for (int a = 2; a < argc && !listed; a++)
            listed = !strcmp(argv[a], tests[i].name);
        if (!listed)
            continue;
        ran++;
        failed += run_case(tests[i].name);
    }
    printf("usertests: %d passed, %d failed\n", ran - failed, failed);
    return failed;
}
