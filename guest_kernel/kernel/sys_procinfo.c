/*
 * Process information and descriptor plumbing for the user space's tools:
 * getppid (46), dup2 (47) and proclist (48), which `ps` reads.
 *
 * proclist copies one struct pyos_procinfo per live task (kernel threads
 * included, the idle task not) into the caller's array. Everything it reports
 * is read from struct task through the small accessors below, so a field that
 * another part of the kernel owns (the process group, the resident set) is
 * wired in one place.
 */
#include <pyos/file.h>
#include <pyos/kernel.h>
#include <pyos/paging.h>
#include <pyos/string.h>
#include <pyos/syscall_nr.h>
#include <pyos/syscalls.h>
#include <pyos/task.h>
#include <pyos/user.h>

struct file *fd_file(long fd);   /* kernel/syscall.c */

/* The process group: 0 while the kernel has no process groups. */
static int task_pgid(const struct task *t)
{
    (void)t;
    return 0;
}

/* Resident user pages: the present user entries of the task's page tables.
 * The tables are the hardware's 4-level format whichever paging plugin built
 * them, and every table is reachable through the direct map. Only present
 * entries are descended into, so the cost is the tables a process has (a
 * handful), not the size of its address space. */
static unsigned long count_present(uint64_t table_phys, int level)
{
    const uint64_t *e = phys_to_virt(table_phys & PTE_ADDR_MASK);
    int entries = level == 4 ? 256 : 512;   /* the lower half only: the kernel's is shared */
    unsigned long n = 0;
    for (int i = 0; i < entries; i++) {
        if ((e[i] & (PTE_PRESENT | PTE_USER)) != (PTE_PRESENT | PTE_USER))
            continue;
        if (level == 1)
            n++;
        else if (e[i] & PTE_HUGE)
            n += level == 2 ? 512 : 512 * 512;
        else
            n += count_present(e[i], level - 1);
    }
    return n;
}

static unsigned long task_resident_pages(const struct task *t)
{
    return t->space ? count_present(t->space, 4) : 0;
}

static void fill(struct pyos_procinfo *p, const struct task *t)
{
    memset(p, 0, sizeof *p);
    p->pid = t->pid;
    p->ppid = t->parent ? t->parent->pid : 0;
    p->pgid = task_pgid(t);
    p->state = (int)t->state;
    p->priority = t->sched.priority;
    p->cpu_ticks = t->runtime_ticks;
    p->pages = task_resident_pages(t);
    strncpy_z(p->name, t->name, sizeof p->name);
}

long sys_proclist(long buf, long count, long a2, long a3, long a4, long a5)
{
    (void)a2, (void)a3, (void)a4, (void)a5;
    if (count < 0)
        return -EINVAL;
    if (count > TASK_MAX)
        count = TASK_MAX;
    if (count && user_range_ok((uint64_t)buf, (uint64_t)count * sizeof(struct pyos_procinfo)))
        return -EFAULT;
    /* Slots hold tasks in no particular order: list them by pid (creation order). */
    struct task *found[TASK_MAX];
    int n = 0;
    for (int slot = 1; slot < TASK_MAX; slot++) {
        struct task *t = task_at(slot);
        if (!t)
            continue;
        int i = n++;
        for (; i > 0 && found[i - 1]->pid > t->pid; i--)
            found[i] = found[i - 1];
        found[i] = t;
    }
    if (n > count)
        n = (int)count;
    struct pyos_procinfo *out = (struct pyos_procinfo *)buf;
    for (int i = 0; i < n; i++)
        fill(&out[i], found[i]);
    return n;
}

long sys_getppid(long a0, long a1, long a2, long a3, long a4, long a5)
{
    (void)a0, (void)a1, (void)a2, (void)a3, (void)a4, (void)a5;
    return current->parent ? current->parent->pid : 0;
}

/* dup2: newfd becomes another reference to oldfd's open file; whatever newfd
 * held is closed first. dup2(fd, fd) checks fd and changes nothing. */
long sys_dup2(long oldfd, long newfd, long a2, long a3, long a4, long a5)
{
    (void)a2, (void)a3, (void)a4, (void)a5;
    struct file *f = fd_file(oldfd);
    if (!f)
        return -EBADF;
    if (newfd < 0 || newfd >= FD_MAX)
        return -EBADF;
    if (newfd == oldfd)
        return newfd;
    struct file *old = current->files[newfd];
    current->files[newfd] = file_get(f);
    if (old)
        file_put(old);
    return newfd;
}
