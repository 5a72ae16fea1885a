/*
 * kill [-SIGNAL | -s SIGNAL] PID...: send a signal (TERM by default) to
 * each process; a negative PID names a process group. SIGNAL is a name
 * (INT, SIGINT) or a number. kill -l lists the names.
 */
#include <ulib.h>

int main(int argc, char **argv)
{
    int sig = SIGTERM, i = 1;
    if (i < argc && !strcmp(argv[i], "-l")) {
        for (int s = 1; s < NSIG; s++)
            if (signal_name(s))
                printf("%2d %s\n", s, signal_name(s));
        return 0;
    }
    if (i + 1 < argc && !strcmp(argv[i], "-s")) {
        sig = signal_number(argv[i + 1]);
        i += 2;
    } else if (i < argc && argv[i][0] == '-' && argv[i][1] && !isdigit(argv[i][1])) {
        sig = signal_number(argv[i] + 1);
        i++;
    } else if (i + 1 < argc && argv[i][0] == '-' && isdigit(argv[i][1])) {
        sig = signal_number(argv[i] + 1);   /* kill -9 PID */
        i++;
    }
    if (sig < 0) {
        dprintf(2, "kill: unknown signal %s; kill -l lists them\n", argv[i - 1]);
        return 2;
    }
    if (i == argc) {
        dprintf(2, "usage: kill [-SIGNAL | -s SIGNAL] PID...\n");
        return 2;
    }
    int status = 0;
    for (; i < argc; i++) {
        const char *arg = argv[i];
        long pid = parse_count(arg[0] == '-' ? arg + 1 : arg);
        if (pid <= 0) {
            dprintf(2, "kill: %s: not a process id\n", arg);
            status = 1;
            continue;
        }
        int r = kill(arg[0] == '-' ? (int)-pid : (int)pid, sig);
        if (r < 0) {
            warn_err("kill", arg, -r);
            status = 1;
        }
    }
    return status;
}
