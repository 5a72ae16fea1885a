/* uptime: time since boot (from the timer ticks), tasks, context switches. */
#include <ulib.h>

int main(void)
{
    struct pyos_sysinfo info;
    int r = sysinfo(&info);
    if (r < 0) {
        warn_err("uptime", "sysinfo", -r);
        return 1;
    }
    unsigned long hz = info.timer_hz ? info.timer_hz : 1, secs = info.ticks / hz;
    printf("up %lu:%02lu:%02lu.%02lu (%lu ticks at %lu Hz), %lu processes, %lu context switches, scheduler %s\n",
           secs / 3600, secs / 60 % 60, secs % 60, info.ticks % hz * 100 / hz, info.ticks, hz, info.processes,
           info.context_switches, info.scheduler);
    return 0;
}
