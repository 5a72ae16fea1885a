/*
 * The kernel environment a filesystem plugin sees (pyos/fs_env.h), on the
 * host: printk to stdout, kmalloc over malloc, the clock, and a block device
 * backed by an image file (pread/pwrite, fsync for the cache flush). The
 * buffer cache and vnode cache are the kernel's own files (kernel/block.c,
 * kernel/vnode.c), compiled in beside this one.
 *
 * This file does not include <pyos/fs_env.h>: its <pyos/string.h> spells
 * strtol the kernel's way, which clashes with <stdlib.h>.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <pyos/blk.h>
#include <pyos/counters.h>

struct pyos_counters pyos_counters;

/* Fail the n-th device request (read, write or flush; 1-based; 0 = never): tests of -EIO paths. */
long harness_fail_request;
/* Fail every write request from now on (the script's "failwrites"): a disk
 * whose writes fail fills the buffer cache with buffers it cannot evict. */
int harness_fail_writes;
static long requests;
/* Fail the n-th kmalloc (1-based; 0 = never): tests of -ENOMEM paths. */
long harness_fail_alloc;
static long allocations;

int printk(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("[kernel] ", stdout);
    int n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}

void *kmalloc(size_t size)
{
    if (harness_fail_alloc && ++allocations == harness_fail_alloc)
        return NULL;
    /* Not zeroed, like the kernel's; fill with junk so a plugin relying on
     * zeroed memory fails here too. */
    void *p = malloc(size ? size : 1);
    if (p)
        memset(p, 0xA5, size);
    return p;
}

void kfree(void *p) { free(p); }

uint64_t fs_time_now(void)
{
    const char *fixed = getenv("PYOS_HARNESS_TIME");
    return fixed ? strtoull(fixed, NULL, 0) : (uint64_t)time(NULL);
}

char *strncpy_z(char *dst, const char *src, size_t size)
{
    if (size) {
        size_t n = strnlen(src, size - 1);
        memcpy(dst, src, n);
        dst[n] = 0;
    }
    return dst;
}

static int fail_now(void)
{
    return harness_fail_request && ++requests == harness_fail_request;
}

/* One request: `count` sectors scattered over buffers of `per` sectors (pyos/blk.h). */
static int file_io(struct blkdev *dev, uint64_t lba, uint32_t count, uint32_t per, void *const *bufs, int write)
{
    int fd = (int)(intptr_t)dev->driver;
    if (fail_now() || (write && harness_fail_writes) || !per || lba + count > dev->sectors)
        return -EIO;
    for (uint32_t s = 0; s < count; s += per) {
        size_t n = (size_t)(count - s < per ? count - s : per) * SECTOR_SIZE;
        off_t at = (off_t)((lba + s) * SECTOR_SIZE);
        ssize_t done = write ? pwrite(fd, bufs[s / per], n, at) : pread(fd, bufs[s / per], n, at);
        if (done != (ssize_t)n)
            return -EIO;
    }
    return 0;
}

static int file_read(struct blkdev *dev, uint64_t lba, uint32_t count, uint32_t per, void *const *bufs)
{
    return file_io(dev, lba, count, per, bufs, 0);
}

static int file_write(struct blkdev *dev, uint64_t lba, uint32_t count, uint32_t per, void *const *bufs)
{
    return file_io(dev, lba, count, per, bufs, 1);
}

static int file_flush(struct blkdev *dev)
{
    if (fail_now())   /* a flush is a request too (the stats count it) */
        return -EIO;
    return fsync((int)(intptr_t)dev->driver) ? -EIO : 0;
}

static const struct blk_driver_ops file_ops = {file_read, file_write, file_flush};
static struct blkdev image_dev;

/* The image as block device "hda"; NULL with a message on failure. */
struct blkdev *harness_open_image(const char *path, int readonly)
{
    int fd = open(path, readonly ? O_RDONLY : O_RDWR);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        fprintf(stderr, "fs harness: cannot open image %s: %s\n", path, strerror(errno));
        return NULL;
    }
    if (st.st_size < SECTOR_SIZE) {
        fprintf(stderr, "fs harness: image %s is smaller than one sector\n", path);
        return NULL;
    }
    strcpy(image_dev.name, "hda");
    image_dev.sectors = (uint64_t)st.st_size / SECTOR_SIZE;
    image_dev.readonly = readonly;
    image_dev.ops = &file_ops;
    image_dev.driver = (void *)(intptr_t)fd;
    blk_init();
    if (blk_register(&image_dev) < 0)
        return NULL;
    return &image_dev;
}
