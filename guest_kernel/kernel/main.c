/* Kernel entry in C: from boot information to a running kernel. */
#include <pyos/bootinfo.h>
#include <pyos/console.h>
#include <pyos/counters.h>
#include <pyos/i8042.h>
#include <pyos/io.h>
#include <pyos/mm.h>
#include <pyos/irq.h>
#include <pyos/kernel.h>
#include <pyos/pic.h>
#include <pyos/string.h>
#include <pyos/timer.h>
#include <pyos/task.h>
#include <pyos/tty.h>
#include <pyos/uart.h>
#include <pyos/user.h>
#include <pyos/vga.h>
#include <pyos/vfs.h>
#include <pyos/x86.h>

int bootinfo_init(uint64_t info_phys, uint32_t protocol);
void crash_if_asked(void);
void bench_if_asked(void);
void tick_cost_report(uint64_t n);
int selftest_pic(void);
int mm_selftest_run(void);
void mm_bench_run(unsigned iterations);
void ata_init(void);

extern char _kernel_phys_start[], _kernel_end[];

static const char *memory_type_name(uint32_t type)
{
    switch (type) {
    case PYOS_MEM_USABLE: return "usable";
    case PYOS_MEM_RESERVED: return "reserved";
    case PYOS_MEM_BOOT_DATA: return "boot data";
    case PYOS_MEM_KERNEL: return "kernel";
    default: return "unknown";
    }
}

static void print_memory_map(void)
{
    uint64_t usable = 0;
    printk("memory map (%u entries):\n", boot_info.memmap_count);
    for (uint32_t i = 0; i < boot_info.memmap_count; i++) {
        const struct pyos_memmap_entry *e = &boot_info.memmap[i];
        printk("  [%#018lx-%#018lx] %s\n", e->base, e->base + e->length - 1, memory_type_name(e->type));
        if (e->type == PYOS_MEM_USABLE)
            usable += e->length;
    }
    printk("usable memory: %lu KiB\n", usable / 1024);
}

static void interrupts_init(void)
{
    gdt_init();
    idt_init();
    cpu_enable_nx();
    cpu_enable_sse();
    cpu_use_legacy_pic();
    pic_init(IRQ_BASE_VECTOR, IRQ_BASE_VECTOR + 8);
    printk("interrupts: IDT with 256 vectors, IST stacks for #DF and NMI, "
           "PIC remapped to vectors %#x-%#x\n", IRQ_BASE_VECTOR, IRQ_BASE_VECTOR + 15);
}

static void timer_init(void)
{
    char how[8];  /* tsc=pit: measure against the PIT even when the hypervisor tells the rate */
    uint32_t told = cmdline_get("tsc", how, sizeof how) && !strcmp(how, "pit") ? 0 : cpu_hypervisor_tsc_khz();
    if (told) {
        tsc_khz = told;
        printk("tsc: %lu kHz (from the hypervisor, CPUID 0x40000010)\n", tsc_khz);
    } else {
        tsc_calibrate();
        printk("tsc: %lu kHz (calibrated against PIT counter 2)\n", tsc_khz);
    }
    char hz[16];  /* timer_hz=N on the command line wins (a PVH boot has no other way to say it) */
    pit_init(cmdline_get("timer_hz", hz, sizeof hz) ? (uint32_t)strtol(hz, NULL, 10)
             : boot_info.timer_hz ? boot_info.timer_hz : 100);
    printk("timer: PIT counter 0 at %u Hz on IRQ 0\n", timer_hz);
}

/* timer_test=S: count S seconds of ticks, then report them against the TSC. */
static void timer_test(const char *seconds)
{
    uint64_t n = (uint64_t)strtol(seconds, NULL, 0) * timer_hz;
    uint64_t t0 = ticks;
    while (ticks == t0)  /* start on a tick boundary */
        sti_hlt();
    t0 = ticks;
    uint64_t tsc0 = rdtsc();
    printk("timer_test: start at tick %lu\n", t0);
    while (ticks - t0 < n)
        sti_hlt();
    uint64_t us = tsc_to_us(rdtsc() - tsc0);
    printk("timer_test: %lu ticks at %u Hz in %lu.%06lu s by the TSC\n", ticks - t0, timer_hz,
           us / 1000000, us % 1000000);
    tick_cost_report(n < 30 ? n : 30);
}

/* echo=1: the console tty in the kernel, before any process: input comes in by
 * IRQ 4 (serial) or IRQ 1 (keyboard) and the line discipline echoes and edits
 * it (kernel/tty.c). A read that ends without a newline (Ctrl-D) ends it. */
static void echo_console(void)
{
    printk("echo: type; each key comes in by IRQ 4 (serial) or IRQ 1 (keyboard) and is echoed (Ctrl-D powers off)\n");
    for (;;) {
        char buf[256];   /* a whole line (the tty's line limit) */
        long n;
        while ((n = tty_read_nonblock(buf, sizeof buf)) >= 0) {
            if (n == 0 || buf[n - 1] != '\n') {
                printk("\necho: Ctrl-D, %lu COM1 interrupts\n", pyos_counters.irqs[IRQ_COM1]);
                return;
            }
        }
        mm_refresh_stats();  /* cheap when nothing changed; keeps the VMM's view exact */
        sti_hlt();  /* the idle loop: sleep until the next interrupt */
    }
}

static void start_init(void) __attribute__((noreturn));

/* A kernel thread: keeps the memory counters the VMM reads exact (some
 * allocators refresh them lazily), twice a second. */
static void kmemstat(void *arg)
{
    (void)arg;
    for (;;) {
        mm_refresh_stats();
        task_sleep_ms(500);
    }
}

static void kmain(void)
{
    const char *how = boot_info.boot_protocol == PYOS_BOOT_PVH ? "PVH entry" : "pyos-vmm direct 64-bit entry";
    printk("pyos %s x86_64 kernel, booted via %s\n", PYOS_VERSION, how);
    printk("kernel image: phys %#lx-%#lx\n", (uint64_t)_kernel_phys_start,
           (uint64_t)_kernel_end - KERNEL_VMA - 1);
    print_memory_map();
    printk("command line: \"%s\"\n", boot_info.cmdline);
    cmdline_check();

    interrupts_init();
    mm_init();
    crash_if_asked();
    timer_init();
    uart_enable_rx_irq();
    char i8042_word[8];
    if (!cmdline_get("i8042", i8042_word, sizeof i8042_word) || strcmp(i8042_word, "0"))
        kbd_init();  /* the PS/2 keyboard and mouse (i8042=0: leave the controller alone) */
    sti();
    ata_init();     /* the disks, as block devices */
    vfs_init();     /* root from the first one a linked filesystem recognises */

    bench_if_asked();
    char value[16];
    int selftest_failures = 0;
    /* A boot-time test or benchmark powers off when done, without starting init. */
    int boot_test = cmdline_get("selftest", value, sizeof value) || cmdline_get("timer_test", value, sizeof value) ||
                    cmdline_get("bench", value, sizeof value) || cmdline_get("bench_pio", value, sizeof value) ||
                    cmdline_get("echo", value, sizeof value);
    if (cmdline_get("selftest", value, sizeof value)) {
        if (!strcmp(value, "pic"))
            selftest_failures = selftest_pic();
        else if (!strcmp(value, "memory"))
            selftest_failures = mm_selftest_run();
    }
    if (cmdline_get("bench", value, sizeof value) && !strcmp(value, "memory"))
        mm_bench_run(2000);
    if (cmdline_get("timer_test", value, sizeof value))
        timer_test(value);
    if (cmdline_get("echo", value, sizeof value))
        echo_console();
    if (cmdline_get("idle", value, sizeof value)) {
        printk("idle=%s: idling with interrupts enabled until the VMM stops us\n", value);
        for (;;) {
            mm_refresh_stats();
            sti_hlt();
        }
    }
    if (cmdline_get("spin", value, sizeof value)) {
        printk("spin=%s: spinning in kernel mode until the VMM stops us\n", value);
        cli();
        for (;;)
            __asm__ volatile("" ::: "memory");
    }

    if (boot_test || cmdline_get("exit", value, sizeof value)) {
        int status = selftest_failures ? 1 : cmdline_get("exit", value, sizeof value) ? (int)strtol(value, NULL, 0) : 0;
        printk("pyos: up %lu ticks; powering off with status %d\n", ticks, status);
        poweroff(status);
    }
    start_init();
}

/* init: the first process. Words after "--" on the command line are its arguments. */
static void start_init(void)
{
    static char words[PYOS_CMDLINE_MAX];
    const char *argv[USER_MAX_ARGS + 1] = {"init"};
    int argc = 1;
    char interactive[4];
    if (cmdline_get("interactive", interactive, sizeof interactive) && !strcmp(interactive, "1"))
        argv[argc++] = "-i";   /* the console is a person's terminal: init starts a shell */
    const char *rest = boot_info.cmdline;
    while (*rest && !(rest[0] == '-' && rest[1] == '-' && (rest[2] == ' ' || !rest[2])))
        rest++;
    if (*rest) {
        strncpy_z(words, rest + 2, sizeof words);
        for (char *p = words; *p;) {
            while (*p == ' ')
                *p++ = 0;
            if (!*p)
                break;
            if (argc == USER_MAX_ARGS) {
                printk("command line: more than %d words after '--' for init; powering off with status 2\n",
                       USER_MAX_ARGS - (argv[1] && !strcmp(argv[1], "-i") ? 2 : 1));
                poweroff(2);
            }
            argv[argc++] = p;
            while (*p && *p != ' ')
                p++;
        }
    }
    argv[argc] = NULL;
    cli();  /* this boot context becomes the idle task: no switching until idle_loop */
    tasks_init();
    vdso_init();
    syscall_fast_init();
    int pid = process_spawn("init", argv, NULL);
    if (pid != 1)
        panic("cannot start init: error %d", -pid);
    struct task *k = kthread_create("kmemstat", kmemstat, NULL);
    printk("tasks: kernel thread '%s' is pid %d\n", k ? k->name : "?", k ? k->pid : -1);
    idle_loop();
}

void kernel_start(uint64_t info_phys, uint32_t protocol)
{
    int ok = bootinfo_init(info_phys, protocol);
    uart_init(boot_info.serial_port ? boot_info.serial_port : 0x3f8);
    if (ok)
        vga_init();
    if (!ok)
        panic("boot information at phys %#lx is not valid (protocol %u)", info_phys, protocol);
    kmain();
}
