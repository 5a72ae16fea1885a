/*
 * ps: every task the kernel has (proclist), in creation order: pid, parent,
 * process group, state, scheduler priority (0 highest .. 39), CPU time in
 * timer ticks, resident user pages, and name. Kernel threads have no pages.
 */
#include <ulib.h>

static const char *state_name(int state)
{
    static const char *const names[] = {"free", "ready", "running", "sleeping", "blocked", "zombie"};
    return state >= 0 && state <= 5 ? names[state] : "?";
}

int main(void)
{
    static struct pyos_procinfo procs[64];
    int n = proclist(procs, 64);
    if (n < 0) {
        warn_err("ps", "proclist", -n);
        return 1;
    }
    struct writer out;
    writer_init(&out, 1);
    writer_printf(&out, "%5s %5s %5s %-8s %3s %7s %5s %s\n", "PID", "PPID", "PGID", "STATE", "PRI", "TICKS",
                  "PAGES", "NAME");
    for (int i = 0; i < n; i++) {
        const struct pyos_procinfo *p = &procs[i];
        writer_printf(&out, "%5d %5d %5d %-8s %3d %7lu %5lu %s\n", p->pid, p->ppid, p->pgid, state_name(p->state),
                      p->priority, p->cpu_ticks, p->pages, p->name);
    }
    return writer_flush(&out) ? 1 : 0;
}
