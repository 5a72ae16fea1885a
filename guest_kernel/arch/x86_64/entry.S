/*
 * Kernel entry points.
 *
 * _start64     direct boot by pyos-vmm: 64-bit mode, paging on (the VMM's page
 *              tables map RAM at 0, at the direct map and at the kernel's
 *              higher-half address), %rdi = physical address of struct
 *              pyos_boot_info.
 * pvh_start32  PVH boot (QEMU -kernel, other VMMs): 32-bit protected mode,
 *              paging off, %ebx = physical address of struct hvm_start_info.
 *              It builds nothing at run time: the page tables below are
 *              static, it only switches to long mode and joins the 64-bit path.
 *
 * Both end in kernel_start(info_phys, protocol) in kernel/main.c.
 */
#define KERNEL_VMA 0xFFFFFFFF80000000
#define BOOT_DIRECT 1
#define BOOT_PVH 2
#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* The PVH entry note, in its own section so it gets a PT_NOTE header. */
    .section .note.Xen, "a"
    .balign 4
    .long 4                     /* name size: "Xen\0" */
    .long 8                     /* descriptor size */
    .long XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .balign 4
    .quad pvh_start32
    .balign 4

    .section .boot32, "awx"
    .code32
    .globl pvh_start32
pvh_start32:
    cli
    cld
    mov %ebx, %esi              /* keep hvm_start_info */
    lgdt boot_gdt_desc
    mov $0x18, %eax
    mov %eax, %ds
    mov %eax, %es
    mov %eax, %ss

    mov %cr4, %eax
    or $0x20, %eax              /* CR4.PAE */
    mov %eax, %cr4
    mov $boot_pml4, %eax
    mov %eax, %cr3
    mov $0xC0000080, %ecx       /* EFER */
    rdmsr
    or $0x100, %eax             /* EFER.LME */
    wrmsr
    mov %cr0, %eax
    or $0x80000001, %eax        /* CR0.PG | CR0.PE */
    mov %eax, %cr0
    ljmp $0x10, $pvh_long_mode

    .code64
pvh_long_mode:
    mov %esi, %edi              /* info_phys (zero-extended) */
    mov $BOOT_PVH, %esi
    movabs $kernel_entry64, %rax
    jmp *%rax

/* Boot GDT: same selectors as the Linux layout the kernel keeps later. */
    .balign 8
boot_gdt:
    .quad 0
    .quad 0x00cf9a000000ffff    /* 0x08: 32-bit kernel code */
    .quad 0x00af9a000000ffff    /* 0x10: 64-bit kernel code */
    .quad 0x00cf92000000ffff    /* 0x18: kernel data */
boot_gdt_desc:
    .word boot_gdt_desc - boot_gdt - 1
    .long boot_gdt

/*
 * One PD of 2 MiB pages covers physical 0..1 GiB; one PDPT points at it from
 * slot 0 (identity, direct map) and slot 510 (kernel at -2 GiB); the PML4
 * points at that PDPT from slots 0, 256 (direct map) and 511 (kernel).
 * A second PD maps 3..4 GiB uncached (slot 3), where the local APIC and
 * other MMIO live.
 */
    .balign 4096
boot_pml4:
    .quad boot_pdpt + 3
    .fill 255, 8, 0
    .quad boot_pdpt + 3
    .fill 254, 8, 0
    .quad boot_pdpt + 3
boot_pdpt:
    .quad boot_pd + 3
    .quad 0, 0
    .quad boot_pd_mmio + 3
    .fill 506, 8, 0
    .quad boot_pd + 3
    .quad 0
boot_pd:
    .set page, 0
    .rept 512
    .quad page + 0x83           /* present, writable, 2 MiB */
    .set page, page + 0x200000
    .endr
boot_pd_mmio:
    .set page, 0xc0000000
    .rept 512
    .quad page + 0x9b           /* present, writable, uncached (PCD|PWT), 2 MiB */
    .set page, page + 0x200000
    .endr

    .text
    .code64
    .globl _start64
    /* Call-frame information for this one function, in .debug_frame (not
     * loaded): it is the outermost frame, so debuggers stop unwinding here. */
    .cfi_sections .debug_frame
_start64:
    .cfi_startproc
    .cfi_undefined rip
    cli
    mov $BOOT_DIRECT, %esi
kernel_entry64:
    /* Take the boot stack. .bss is not zeroed here: it is the tail of the last
     * PT_LOAD segment (p_memsz > p_filesz), which every ELF loader fills with
     * zeros (pyos-vmm's vmm/boot/elf.py, QEMU's PVH loader, and RAM cleared on
     * reboot). Zeroing it again cost 26,000 emulated stores (one per word of
     * its 210 KiB) on hosts that emulate kernel mode: about a tenth of a boot. */
    movabs $boot_stack_top, %rsp
    xor %ebp, %ebp
    call kernel_start
1:  cli
    hlt
    jmp 1b
    .cfi_endproc

    .section .bss
    .balign 16
boot_stack:
    .skip 16384
    .globl boot_stack_top
boot_stack_top:

    .section .note.GNU-stack, "", @progbits
