/*
 * wl_fs: the filesystem workload, aimed at the filesystem plugins and the
 * buffer cache. In a fresh directory on the root filesystem: FILES files of
 * SIZE bytes created and written, synced, read back and checked byte for
 * byte, then deleted, with the directory. Each phase timed with the TSC.
 *     wl_fs [FILES] [SIZE]
 */
#include <workload.h>

#define DIR "/wl_fs"
#define CHUNK 512

static void fill(char *buf, int file, long offset, long n)
{
    for (long i = 0; i < n; i++)
        buf[i] = (char)((file * 131 + offset + i) & 0xff);
}

int main(int argc, char **argv)
{
    wl_init();
    int files = (int)wl_arg(argc, argv, 1, 20);
    long size = wl_arg(argc, argv, 2, 4096);
    if (files < 1 || files > 1000)
        files = 20;
    if (size < 1 || size > (1L << 20))
        size = 4096;
    char path[64], buf[CHUNK], want[CHUNK];
    int ok = mkdir(DIR, 0755) == 0;
    unsigned long long t0 = wl_tsc();
    for (int f = 0; ok && f < files; f++) {
        snprintf(path, sizeof path, DIR "/f%d", f);
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC);
        ok = fd >= 0;
        for (long off = 0; ok && off < size; off += CHUNK) {
            long n = size - off < CHUNK ? size - off : CHUNK;
            fill(buf, f, off, n);
            ok = write(fd, buf, (size_t)n) == n;
        }
        if (fd >= 0)
            close(fd);
    }
    unsigned long long t1 = wl_tsc();
    ok = ok && sync() == 0;
    unsigned long long t2 = wl_tsc();
    for (int f = 0; ok && f < files; f++) {
        snprintf(path, sizeof path, DIR "/f%d", f);
        int fd = open(path, O_RDONLY);
        ok = fd >= 0;
        for (long off = 0; ok && off < size; off += CHUNK) {
            long n = size - off < CHUNK ? size - off : CHUNK;
            fill(want, f, off, n);
            ok = read(fd, buf, (size_t)n) == n && !memcmp(buf, want, (size_t)n);
        }
        if (fd >= 0)
            close(fd);
    }
    unsigned long long t3 = wl_tsc();
    for (int f = 0; f < files; f++) {
        snprintf(path, sizeof path, DIR "/f%d", f);
        if (unlink(path) < 0)
            ok = 0;
    }
    if (rmdir(DIR) < 0)
        ok = 0;
    unsigned long long t4 = wl_tsc();
    unsigned long long bytes = (unsigned long long)files * (unsigned long long)size;
    printf("result workload=fs ok=%d files=%d file_bytes=%ld create_write_us=%lu sync_us=%lu read_us=%lu "
           "unlink_us=%lu read_kib_per_s=%lu\n", ok, files, size, wl_us(t1 - t0), wl_us(t2 - t1),
           wl_us(t3 - t2), wl_us(t4 - t3),
           (unsigned long)(wl_us(t3 - t2) ? bytes * 1000000ULL / 1024 / wl_us(t3 - t2) : 0));
    return ok ? 0 : 1;
}
