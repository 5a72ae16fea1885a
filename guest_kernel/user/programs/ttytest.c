/*
 * ttytest: the console tty and its signals, driven by tests/test_tty.py and
 * tests/test_signals.py through the serial port.
 *   ttytest lines   print each canonical read ("line: ..."), "eof" for a
 *                   read of 0; ends after two ends of file
 *   ttytest raw     raw mode: print each read until a 'q' arrives, then
 *                   canonical again and read one more line
 *   ttytest intr    a child sleeping 100 s in its own process group, made the
 *                   foreground group: ^C ends it, not us; then a ^C while we
 *                   are in the foreground again, caught by our handler
 *   ttytest sleep   (the child) sleep 100 s
 *   ttytest sigbench  the cost of kill(self) + handler + sigreturn beside getpid
 */
#include <pyos_user.h>

static void print_escaped(const char *what, const char *buf, long n)
{
    char out[256 * 4 + 1];
    int k = 0;
    for (long i = 0; i < n && k < (int)sizeof out - 5; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c >= 0x20 && c < 0x7f && c != '\\')
            out[k++] = (char)c;
        else
            k += snprintf(out + k, sizeof out - k, "\\x%02x", c);
    }
    out[k] = 0;
    printf("%s: [%s]\n", what, out);
}

static int lines(void)
{
    char buf[256];
    int eofs = 0;
    printf("ttytest: reading lines\n");
    while (eofs < 2) {
        long n = read(0, buf, sizeof buf);
        if (n < 0) {
            printf("ttytest: read error %ld\n", n);
            return 1;
        }
        if (n == 0) {
            printf("ttytest: eof\n");
            eofs++;
        } else {
            print_escaped("line", buf, n);
        }
    }
    return 0;
}

static int raw(void)
{
    struct pyos_termios saved, t;
    if (ioctl(0, TCGETS, &saved) < 0)
        return 1;
    t = saved;
    t.lflag &= ~(ICANON | ECHO | ISIG);
    ioctl(0, TCSETS, &t);
    printf("ttytest: raw mode (lflag %#x), type; 'q' ends\n", t.lflag);
    char buf[64];
    int done = 0;
    while (!done) {
        long n = read(0, buf, sizeof buf);
        if (n <= 0) {
            printf("ttytest: read returned %ld\n", n);
            return 1;
        }
        print_escaped("raw", buf, n);
        for (long i = 0; i < n; i++)
            done |= buf[i] == 'q';
    }
    ioctl(0, TCSETS, &saved);
    printf("ttytest: canonical again (lflag %#x)\n", saved.lflag);
    long n = read(0, buf, sizeof buf);
    print_escaped("line", buf, n > 0 ? n : 0);
    return 0;
}

static volatile int interrupted;

static void on_intr(int sig)
{
    interrupted = sig;
}

static int intr(void)
{
    const char *argv[] = {"ttytest", "sleep", 0};
    int me = getpid(), fg = 0;
    int pid = spawn("ttytest", argv);
    if (pid < 0)
        return 1;
    setpgid(pid, pid);          /* its own group (the child may not have run yet) */
    ioctl(0, TIOCSPGRP, &pid);
    ioctl(0, TIOCGPGRP, &fg);
    printf("ttytest: child %d sleeping in group %d, foreground group %d; type ^C\n", pid, getpgid(pid), fg);
    int status = -1;
    int r = wait(pid, &status);
    printf("ttytest: child %d ended with status %d (%s)\n", r, status,
           status == 128 + SIGINT ? "killed by SIGINT" : "not SIGINT");
    int mine = getpgid(0);
    ioctl(0, TIOCSPGRP, &mine);
    struct pyos_sigaction act = {.handler = (unsigned long)on_intr};
    sigaction(SIGINT, &act, 0);
    printf("ttytest: pid %d still here, foreground again; type ^C\n", me);
    char buf[64];
    /* ^C interrupts the read (EINTR, then the handler runs). It may also come
     * before the read starts, as we return from printing the prompt: the
     * handler has run then, and there is nothing to wait for. */
    long n = 1;
    if (!interrupted)
        n = read(0, buf, sizeof buf);
    if (n == 1)
        printf("ttytest: ^C came before the read, handler saw signal %d\n", interrupted);
    else
        printf("ttytest: read returned %ld, handler saw signal %d\n", n, interrupted);
    return status == 128 + SIGINT && (n == 1 || n == -EINTR) && interrupted == SIGINT ? 0 : 1;
}

static unsigned long rdtsc(void)
{
    unsigned int lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((unsigned long)hi << 32) | lo;
}

static volatile int bench_hits;

static void on_usr1(int sig)
{
    (void)sig;
    bench_hits++;
}

/* Nanoseconds per operation, from the TSC (sysinfo's tsc_khz). */
static int sigbench(void)
{
    struct pyos_sysinfo info;
    sysinfo(&info);
    struct pyos_sigaction act = {.handler = (unsigned long)on_usr1};
    sigaction(SIGUSR1, &act, 0);
    enum { N = 2000 };
    int me = getpid();
    unsigned long t0 = rdtsc();
    for (int i = 0; i < N; i++)
        getpid();
    unsigned long t1 = rdtsc();
    for (int i = 0; i < N; i++)
        kill(me, SIGUSR1);
    unsigned long t2 = rdtsc();
    unsigned long khz = info.tsc_khz ? info.tsc_khz : 1;
    printf("ttytest: sigbench: getpid %lu ns, kill(self) + handler + sigreturn %lu ns (%d handlers ran)\n",
           (t1 - t0) * 1000000 / khz / N, (t2 - t1) * 1000000 / khz / N, bench_hits);
    return bench_hits == N ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "sigbench"))
        return sigbench();
    if (argc >= 2 && !strcmp(argv[1], "lines"))
        return lines();
    if (argc >= 2 && !strcmp(argv[1], "raw"))
        return raw();
    if (argc >= 2 && !strcmp(argv[1], "intr"))
        return intr();
    if (argc >= 2 && !strcmp(argv[1], "sleep")) {
        sleep_ms(100000);
        return 0;
    }
    printf("usage: ttytest lines | raw | intr\n");
    return 2;
}
