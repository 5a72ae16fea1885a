/*
 * wl_io: the interactive workload. SLEEPERS tasks sleep 10 ms and wake,
 * ROUNDS times each, measuring how late each wake-up is (TSC); meanwhile a
 * CPU hog competes, so a scheduler that favours waking tasks shows shorter
 * latencies. Then a pipe ping-pong between two processes: ROUNDS one-byte
 * round trips. Each sleeper reports its latencies to the parent over a pipe.
 *     wl_io [SLEEPERS] [ROUNDS]
 */
#include <workload.h>

#define MAXS 64
#define SLEEP_MS 10

static int hog(void)
{
    volatile unsigned long x = 0;
    unsigned long long end = wl_tsc() + (unsigned long long)wl_khz * 400;  /* 400 ms */
    while (wl_tsc() < end)
        x++;
    return 0;
}

static int sleeper(int fd, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        unsigned long long t = wl_tsc();
        sleep_ms(SLEEP_MS);
        unsigned long long late = wl_tsc() - t;
        unsigned long us = wl_us(late);
        unsigned long lat = us > SLEEP_MS * 1000 ? us - SLEEP_MS * 1000 : 0;
        write(fd, &lat, sizeof lat);
    }
    return 0;
}

static int echo(int in, int out, int rounds)
{
    char c;
    for (int i = 0; i < rounds; i++) {
        if (read(in, &c, 1) != 1)
            return 1;
        write(out, &c, 1);
    }
    return 0;
}

int main(int argc, char **argv)
{
    wl_init();
    if (argc > 1 && !strcmp(argv[1], "hog"))
        return hog();
    if (argc > 4 && !strcmp(argv[1], "sleeper"))
        return sleeper((int)wl_arg(argc, argv, 2, 1), (int)wl_arg(argc, argv, 3, 1));
    if (argc > 4 && !strcmp(argv[1], "echo"))
        return echo((int)wl_arg(argc, argv, 2, 0), (int)wl_arg(argc, argv, 3, 1), (int)wl_arg(argc, argv, 4, 1));
    int sleepers = (int)wl_arg(argc, argv, 1, 4), rounds = (int)wl_arg(argc, argv, 2, 10);
    if (sleepers < 1 || sleepers > 8)
        sleepers = 4;
    if (rounds < 1 || rounds > MAXS / sleepers)
        rounds = MAXS / sleepers;
    struct pyos_sysinfo a, b;
    sysinfo(&a);
    static unsigned long lat[MAXS];
    int n = 0, ok = 1;
    int fds[2];
    if (pipe(fds) < 0)
        return 1;
    char wfd[8], rs[8];
    snprintf(wfd, sizeof wfd, "%d", fds[1]);
    snprintf(rs, sizeof rs, "%d", rounds);
    const char *hog_args[] = {"wl_io", "hog", 0};
    int hog_pid = spawn("wl_io", hog_args);
    int pids[8];
    const char *sargs[] = {"wl_io", "sleeper", wfd, rs, "x", 0};
    for (int i = 0; i < sleepers; i++)
        pids[i] = spawn("wl_io", sargs);
    close(fds[1]);
    while (n < sleepers * rounds && read(fds[0], &lat[n], sizeof lat[n]) == sizeof lat[n])
        n++;
    close(fds[0]);
    for (int i = 0; i < sleepers; i++)
        if (pids[i] < 0 || wait(pids[i], 0) < 0)
            ok = 0;
    if (hog_pid < 0 || wait(hog_pid, 0) < 0)
        ok = 0;
    ok = ok && n == sleepers * rounds;
    wl_sort(lat, n);

    /* Pipe ping-pong: parent writes a byte, the echo process writes it back. */
    int to[2], from[2];
    if (pipe(to) < 0 || pipe(from) < 0)
        return 1;
    char in_s[8], out_s[8], pr[8];
    enum { pings = 20 };
    snprintf(in_s, sizeof in_s, "%d", to[0]);
    snprintf(out_s, sizeof out_s, "%d", from[1]);
    snprintf(pr, sizeof pr, "%d", pings);
    const char *eargs[] = {"wl_io", "echo", in_s, out_s, pr, 0};
    int echo_pid = spawn("wl_io", eargs);
    static unsigned long rtt[pings];
    for (int i = 0; i < pings; i++) {
        char c = (char)i, back = 0;
        unsigned long long t = wl_tsc();
        write(to[1], &c, 1);
        if (read(from[0], &back, 1) != 1 || back != c)
            ok = 0;
        rtt[i] = wl_us(wl_tsc() - t);
    }
    int status = -1;
    if (echo_pid < 0 || wait(echo_pid, &status) < 0 || status != 0)
        ok = 0;
    wl_sort(rtt, pings);
    sysinfo(&b);
    printf("result workload=io ok=%d wakeups=%d wake_p50_us=%lu wake_p90_us=%lu wake_p99_us=%lu wake_max_us=%lu "
           "pingpong_p50_us=%lu pingpong_p99_us=%lu context_switches=%lu\n",
           ok, n, wl_pct(lat, n, 50), wl_pct(lat, n, 90), wl_pct(lat, n, 99), n ? lat[n - 1] : 0,
           wl_pct(rtt, pings, 50), wl_pct(rtt, pings, 99), b.context_switches - a.context_switches);
    return ok ? 0 : 1;
}
