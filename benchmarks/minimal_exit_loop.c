/*
 * The floor for a port-I/O exit on this host: a C VMM that does nothing but
 * KVM_RUN. The guest, in real mode, loops on `out %al, (%dx)`.
 * Usage: minimal_exit_loop N   → prints microseconds per exit.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>

static const unsigned char guest[] = {
    0xba, 0xff, 0x03,   /* mov $0x3ff, %dx */
    0xee,               /* 1: out %al, (%dx) */
    0xeb, 0xfd,         /* jmp 1b */
};

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    int kvm = open("/dev/kvm", O_RDWR);
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    ioctl(vm, KVM_SET_TSS_ADDR, 0xfffbd000);
    unsigned char *mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    memcpy(mem, guest, sizeof guest);
    struct kvm_userspace_memory_region region = {0, 0, 0, 0x1000, (unsigned long)mem};
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) { perror("memory"); return 1; }
    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    struct kvm_run *run = mmap(NULL, ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0), PROT_READ | PROT_WRITE,
                               MAP_SHARED, vcpu, 0);
    struct kvm_sregs sregs;
    ioctl(vcpu, KVM_GET_SREGS, &sregs);
    sregs.cs.base = 0;
    sregs.cs.selector = 0;
    ioctl(vcpu, KVM_SET_SREGS, &sregs);
    struct kvm_regs regs = {.rip = 0, .rflags = 2};
    ioctl(vcpu, KVM_SET_REGS, &regs);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0 || run->exit_reason != KVM_EXIT_IO) {
            fprintf(stderr, "unexpected exit %u\n", run->exit_reason);
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double us = ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / 1e3 / n;
    printf("%.3f\n", us);
    return 0;
}
