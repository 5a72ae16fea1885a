/* panic and power-off: the two ways the kernel stops. */
#include <pyos/bootinfo.h>
#include <pyos/io.h>
#include <pyos/kernel.h>
#include <pyos/vfs.h>

/* Guest exit status for a kernel panic. */
#define PANIC_STATUS 1
#define ACPI_PM1A_CNT 0x604
#define ACPI_SLP_EN (1 << 13)
#define ACPI_SLP_TYP_S5 5

/* Off without syncing: a panic or a kernel exception (the state may be bad). */
void halt_machine(int status)
{
    /*
     * The exit port: pyos-vmm's exit device, or QEMU's isa-debug-exit at the
     * same port (which exits with (status << 1) | 1).
     */
    if (boot_info.exit_port)
        outl(boot_info.exit_port, (uint32_t)status);
    /* No exit device (or one that did not stop us): ACPI soft-off (S5) at the
     * PM1a control port QEMU's PC machines, Bochs and pyos-vmm have at 0x604. */
    outw(ACPI_PM1A_CNT, ACPI_SLP_EN | ACPI_SLP_TYP_S5 << 10);
    for (;;)
        __asm__ volatile("cli; hlt");
}

void panic(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    printk("\nKERNEL PANIC: %s\n", buf);
    /* Where panic was called from: the caller's RIP and frame. */
    crash_report_panic((uint64_t)__builtin_return_address(0), *(uint64_t *)__builtin_frame_address(0));
    halt_machine(PANIC_STATUS);
}

/* The orderly way off: filesystems synced first (their data on the disks). */
void poweroff(int status)
{
    vfs_shutdown();
    halt_machine(status);
}
