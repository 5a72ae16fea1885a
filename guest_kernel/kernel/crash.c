/*
 * crash=<how> on the command line: deliberately break the machine, so that
 * the VMM's failure reports can be seen (and tested).
 *   triple-fault  load an empty IDT and execute ud2: #UD cannot be delivered,
 *                 nor the #GP and #DF that follow → triple fault
 *   bad-port      read an I/O port no device claims
 *   bad-mmio      write to a physical address with no RAM or device behind it
 *   page-fault    read an unmapped address (0x00007000deadb000): #PF report
 *   ud            execute ud2: #UD report
 *   divide        divide by zero: #DE report
 *   stack-overflow  run a fresh kernel stack into its guard page: the #PF
 *                 cannot be pushed there either, so the CPU raises #DF,
 *                 which runs on its own IST stack and reports
 *   sse           execute an SSE instruction in kernel mode: stops the VM on
 *                 PVM-style hosts, whose kernel-mode emulator lacks SSE
 */
#include <pyos/io.h>
#include <pyos/kernel.h>
#include <pyos/mm.h>
#include <pyos/string.h>

#define UNCLAIMED_PORT 0x0bad
#define UNCLAIMED_PHYS 0xfeb00000UL  /* in the PCI hole below 4 GiB */
#define UNMAPPED_ADDRESS 0x00007000deadb000UL  /* lower half, nothing mapped there */

void crash_if_asked(void)
{
    char how[32];
    if (!cmdline_get("crash", how, sizeof how))
        return;
    printk("crash=%s: crashing on purpose\n", how);
    if (!strcmp(how, "triple-fault")) {
        struct __attribute__((packed)) { uint16_t limit; uint64_t base; } empty = {0, 0};
        __asm__ volatile("lidt %0; ud2" : : "m"(empty));
    } else if (!strcmp(how, "bad-port")) {
        (void)inb(UNCLAIMED_PORT);
    } else if (!strcmp(how, "page-fault")) {
        (void)*(volatile uint64_t *)UNMAPPED_ADDRESS;
    } else if (!strcmp(how, "ud")) {
        __asm__ volatile("ud2");
    } else if (!strcmp(how, "divide")) {
        /* In asm: C's 1/0 is undefined, and gcc folds it away. */
        __asm__ volatile("xor %%edx, %%edx; mov $1, %%eax; xor %%ecx, %%ecx; div %%ecx"
                         : : : "rax", "rcx", "rdx");
    } else if (!strcmp(how, "stack-overflow")) {
        void *top = kstack_alloc();
        __asm__ volatile("mov %0, %%rsp\n1: push %%rax\n jmp 1b" : : "r"(top));
    } else if (!strcmp(how, "sse")) {
        __asm__ volatile("pxor %xmm0, %xmm0");  /* no clobber: the kernel never uses xmm0 */
    } else if (!strcmp(how, "bad-mmio")) {
        *(volatile uint32_t *)phys_to_virt(UNCLAIMED_PHYS) = 0x1234;
    }
    panic("crash=%s: unknown way to crash (or the crash did not stop the machine)", how);
}
