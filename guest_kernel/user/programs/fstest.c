/*
 * fstest: file operations from user mode, through the system calls.
 *
 *   fstest run SCRIPT     the operations in the file SCRIPT, one a line
 *   fstest OP ARGS...     one operation
 *
 * The operations are those of the host fs harness (vmm/harness/fs_harness.c),
 * so one script runs in both places, plus a few only a guest has:
 *
 *   ls PATH | tree PATH | cat PATH | stat PATH | statfs PATH | sync | echo TEXT
 *   write PATH TEXT | append PATH TEXT | pwrite PATH OFFSET TEXT
 *   fill PATH SIZE [SEED] | check PATH SIZE [SEED]
 *   mkdir PATH | rmdir PATH | unlink PATH | rename OLD NEW | truncate PATH SIZE
 *   mkfiles DIR N PREFIX | rmfiles DIR N PREFIX
 *   cd PATH | pwd | enospc PATH (write until the disk is full) | errors DIR (error cases)
 *   mount DEVICE DIR | cp SRC DST
 *   bench-read PATH | bench-write PATH SIZE   (sequential, timed with the TSC; the write includes sync)
 *
 * `tree` prints "PATH TYPE SIZE CRC32" per entry, as the harness does; a
 * line may start with "!ENAME" when that error is what it should give.
 * Exit status: the number of lines that did not give what they should.
 */
#include <pyos_user.h>

#define BUF 65536

static char buf[BUF + 8192];
static char script[65536];

static const char *const errno_names[] = {
    [1] = "EPERM", [2] = "ENOENT", [5] = "EIO", [9] = "EBADF", [12] = "ENOMEM", [14] = "EFAULT",
    [16] = "EBUSY", [17] = "EEXIST", [18] = "EXDEV", [19] = "ENODEV", [20] = "ENOTDIR", [21] = "EISDIR",
    [22] = "EINVAL", [24] = "EMFILE", [27] = "EFBIG", [28] = "ENOSPC", [29] = "ESPIPE", [30] = "EROFS",
    [34] = "ERANGE", [36] = "ENAMETOOLONG", [38] = "ENOSYS", [39] = "ENOTEMPTY", [40] = "ELOOP",
};

static const char *errname(long e)
{
    static char other[16];
    if (e < 0)
        e = -e;
    if (e < (long)(sizeof errno_names / sizeof *errno_names) && errno_names[e])
        return errno_names[e];
    snprintf(other, sizeof other, "E%ld", e);
    return other;
}

static int errnum(const char *name)
{
    for (int e = 0; e < (int)(sizeof errno_names / sizeof *errno_names); e++)
        if (errno_names[e] && !strcmp(errno_names[e], name))
            return e;
    return -1;
}

static unsigned char pattern_byte(unsigned long i, unsigned seed)
{
    return (unsigned char)(((i ^ (i >> 8) ^ (i >> 16)) * 131 + seed) & 0xff);
}

static unsigned crc_table[256];

static unsigned crc32(unsigned crc, const unsigned char *p, long n)
{
    if (!crc_table[1])
        for (unsigned i = 0; i < 256; i++) {
            unsigned c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            crc_table[i] = c;
        }
    crc = ~crc;
    while (n-- > 0)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

static unsigned long number(const char *s)
{
    return s ? (unsigned long)strtol(s, 0, 0) : 0;
}

static long write_all(int fd, const void *data, long n)
{
    const char *p = data;
    while (n > 0) {
        long w = write(fd, p, (size_t)n);
        if (w < 0)
            return w;
        if (w == 0)
            return -5;
        p += w;
        n -= w;
    }
    return 0;
}

static long unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            *o++ = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
        } else {
            *o++ = *p;
        }
    }
    *o = 0;
    return o - s;
}

/* Every entry below path: "PATH TYPE SIZE CRC". */
static long tree(char *path, long len)
{
    int fd = open(len ? path : "/", O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return fd;
    static struct pyos_dirent ents[8];
    long n, r = 0;
    /* Collect the names first: the directory stays open while we recurse. */
    while (r == 0 && (n = getdents(fd, ents, sizeof ents)) > 0) {
        for (long i = 0; r == 0 && i < n / (long)sizeof *ents; i++) {
            struct pyos_dirent *e = &ents[i];
            if (len + 1 + (long)e->name_len >= 1024)
                return -36;
            path[len] = '/';
            memcpy(path + len + 1, e->name, e->name_len + 1);
            long sub = len + 1 + e->name_len;
            struct pyos_stat st;
            if ((r = stat(path, &st)) < 0) {
                printf("tree: stat %s: %s\n", path, errname(r));
            } else if (S_ISDIR(st.mode)) {
                printf("%s d 0 0\n", path);
                struct pyos_dirent saved[8];
                memcpy(saved, ents, sizeof ents);
                r = tree(path, sub);
                memcpy(ents, saved, sizeof ents);
            } else {
                int f = open(path, O_RDONLY);
                unsigned crc = 0;
                long got, total = 0;
                if (f < 0) {
                    r = f;
                } else {
                    while ((got = read(f, buf, BUF)) > 0) {
                        crc = crc32(crc, (unsigned char *)buf, got);
                        total += got;
                    }
                    if (got < 0)
                        r = got;
                    close(f);
                }
                if (r == 0)
                    printf("%s f %lu %08x\n", path, total, crc);
                if (r == 0 && (unsigned long)total != st.size) {
                    printf("tree: %s: read %ld bytes, stat says %lu\n", path, total, st.size);
                    r = -5;
                }
            }
            path[len] = 0;
        }
    }
    close(fd);
    return r < 0 ? r : n < 0 ? n : 0;
}

static long fill(const char *path, unsigned long size, unsigned seed)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC);
    if (fd < 0)
        return fd;
    unsigned long off = 0;
    long r = 0;
    while (off < size && r == 0) {
        long n = size - off < 30011 ? (long)(size - off) : 30011;   /* odd: partial blocks */
        for (long i = 0; i < n; i++)
            buf[i] = (char)pattern_byte(off + i, seed);
        r = write_all(fd, buf, n);
        off += n;
    }
    close(fd);
    return r;
}

static long check(const char *path, unsigned long size, unsigned seed)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return fd;
    unsigned long off = 0;
    long n;
    while ((n = read(fd, buf, BUF + 1237)) > 0) {
        for (long i = 0; i < n; i++)
            if ((unsigned char)buf[i] != pattern_byte(off + i, seed)) {
                printf("check: %s differs at offset %lu\n", path, off + i);
                close(fd);
                return -1000;
            }
        off += n;
    }
    close(fd);
    if (n < 0)
        return n;
    if (off != size) {
        printf("check: %s is %lu bytes, not %lu\n", path, off, size);
        return -1000;
    }
    return 0;
}

/* Write until the disk is full: -ENOSPC is the only acceptable end. */
static long enospc(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC);
    if (fd < 0)
        return fd;
    memset(buf, 'x', BUF);
    unsigned long total = 0;
    long w;
    while ((w = write(fd, buf, BUF)) > 0)
        total += (unsigned long)w;
    close(fd);
    printf("enospc: %s: %lu bytes written, then %s\n", path, total, w < 0 ? errname(w) : "0");
    return w == -28 ? 0 : w < 0 ? w : -1000;
}

#define EXPECT(call, want) do { long got_ = (call); if (got_ != (want)) { \
    printf("errors: %s gave %ld (%s), expected %ld\n", #call, got_, got_ < 0 ? errname(got_) : "ok", \
           (long)(want)); failures++; } } while (0)

/* Error cases and the calls around them, in a scratch directory DIR. */
static long errors(const char *dir)
{
    int failures = 0;
    char p[512], q[512], long_name[300];
    struct pyos_stat st;
    EXPECT(mkdir(dir, 0755), 0);
    EXPECT(mkdir(dir, 0755), -17);
    snprintf(p, sizeof p, "%s/f", dir);
    int fd = open(p, O_RDWR | O_CREAT | O_EXCL);
    EXPECT(fd >= 0, 1);
    EXPECT(open(p, O_RDWR | O_CREAT | O_EXCL), -17);
    EXPECT(write(fd, "abcdef", 6), 6);
    EXPECT(lseek(fd, 2, SEEK_SET), 2);
    EXPECT(read(fd, buf, 10), 4);
    EXPECT(memcmp(buf, "cdef", 4), 0);
    EXPECT(lseek(fd, -1, SEEK_END), 5);
    EXPECT(lseek(fd, -10, SEEK_CUR), -22);
    EXPECT(lseek(fd, 0, 7), -22);
    EXPECT(fstat(fd, &st), 0);
    EXPECT(st.size, 6);
    EXPECT(S_ISREG(st.mode), 1);
    EXPECT(ftruncate(fd, 3), 0);
    EXPECT(fstat(fd, &st) == 0 && st.size == 3, 1);
    EXPECT(ftruncate(fd, -1), -22);         /* a negative length: EINVAL; 0 is a length like any other */
    EXPECT(truncate(p, -1), -22);
    snprintf(q, sizeof q, "%s/empty", dir);
    int e = open(q, O_RDWR | O_CREAT | O_EXCL);
    EXPECT(write(e, "xyz", 3), 3);
    EXPECT(ftruncate(e, 0), 0);
    EXPECT(fstat(e, &st) == 0 && st.size == 0, 1);
    EXPECT(write(e, "xyz", 3), 3);
    EXPECT(truncate(q, 0), 0);
    EXPECT(stat(q, &st) == 0 && st.size == 0, 1);
    close(e);
    EXPECT(unlink(q), 0);
    close(fd);
    fd = open(p, O_WRONLY | O_APPEND);
    EXPECT(write(fd, "XY", 2), 2);
    EXPECT(read(fd, buf, 1), -9);           /* write-only: EBADF */
    close(fd);
    fd = open(p, O_RDONLY);
    EXPECT(read(fd, buf, 10), 5);
    EXPECT(memcmp(buf, "abcXY", 5), 0);
    EXPECT(write(fd, "z", 1), -9);          /* read-only: EBADF */
    close(fd);
    EXPECT(open(p, O_RDONLY | O_DIRECTORY), -20);
    EXPECT(open(dir, O_WRONLY), -21);
    EXPECT(open(dir, O_RDONLY | O_TRUNC), -21);
    snprintf(q, sizeof q, "%s/f/x", dir);
    EXPECT(open(q, O_RDONLY), -20);           /* through a file: ENOTDIR */
    EXPECT(mkdir(q, 0755), -20);
    snprintf(q, sizeof q, "%s/missing/x", dir);
    EXPECT(open(q, O_RDWR | O_CREAT), -2);
    EXPECT(unlink(q), -2);
    EXPECT(rmdir(dir), -39);                   /* not empty */
    EXPECT(unlink(dir), -21);
    EXPECT(rmdir(p), -20);
    memset(long_name, 'n', 260);
    long_name[260] = 0;
    snprintf(q, sizeof q, "%s/%s", dir, long_name);
    EXPECT(open(q, O_RDWR | O_CREAT), -36);
    /* cwd and relative paths */
    char cwd[256];
    EXPECT(chdir(dir), 0);
    EXPECT(getcwd(cwd, sizeof cwd) > 0, 1);
    EXPECT(stat("f", &st), 0);
    EXPECT(st.size, 5);
    EXPECT(mkdir("sub", 0755), 0);
    EXPECT(chdir("sub/../sub/./"), 0);
    EXPECT(stat("../f", &st), 0);
    EXPECT(rename("../f", "g"), 0);
    EXPECT(stat("g", &st) == 0 && st.size == 5, 1);
    EXPECT(stat("../f", &st), -2);
    EXPECT(chdir("g"), -20);
    EXPECT(rename("..", "../sub/inside"), -22);   /* a directory into itself */
    EXPECT(getcwd(cwd, 3), -34);
    EXPECT(chdir("/"), 0);
    EXPECT(getcwd(cwd, sizeof cwd), 1);
    EXPECT(strcmp(cwd, "/"), 0);
    /* /dev, served by the VFS */
    EXPECT(stat("/dev/null", &st) == 0 && (st.mode & 0170000) == 0020000, 1);
    fd = open("/dev", O_RDONLY);
    long n = getdents(fd, (struct pyos_dirent *)buf, 4 * sizeof(struct pyos_dirent));
    EXPECT(n, (long)(3 * sizeof(struct pyos_dirent)));  /* console, null, mouse */
    close(fd);
    EXPECT(open("/dev/nothing", O_RDONLY), -2);
    EXPECT(rename("/dev/null", "/x"), -18);
    /* descriptors that are not open, and the calls without a path */
    EXPECT(getdents(99, (struct pyos_dirent *)buf, 64), -9);
    EXPECT(ftruncate(99, 0), -9);
    EXPECT(fstat(99, &st), -9);
    EXPECT(lseek(99, 0, SEEK_SET), -9);
    EXPECT(sync(), 0);
    /* mount's arguments: the device name is checked before the path */
    EXPECT(mount("aaaaaaaaaaaaaaaa", dir), -36);   /* 16 characters: longer than any device name */
    EXPECT(mount("aaaaaaaaaaaaaaa", dir), -19);    /* 15: a name, of no device */
    EXPECT(mount("", dir), -19);
    EXPECT(mount("hda", "/dev"), -16);
    int pipefd[2];
    pipe(pipefd);
    EXPECT(lseek(pipefd[0], 0, SEEK_SET), -29);
    close(pipefd[0]);
    close(pipefd[1]);
    /* clean up */
    snprintf(q, sizeof q, "%s/sub/g", dir);
    EXPECT(unlink(q), 0);
    snprintf(q, sizeof q, "%s/sub", dir);
    EXPECT(rmdir(q), 0);
    EXPECT(rmdir(dir), 0);
    EXPECT(stat(dir, &st), -2);
    printf("errors: %d failures\n", failures);
    return failures ? -1000 : 0;
}

static long many(const char *dir, long n, const char *prefix, int remove)
{
    char path[512], content[300];
    for (long i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s%ld", dir, prefix, i);
        if (remove) {
            long r = unlink(path);
            if (r < 0)
                return r;
            continue;
        }
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC);
        if (fd < 0)
            return fd;
        int len = snprintf(content, sizeof content, "%s%ld\n", prefix, i);
        long r = write_all(fd, content, len);
        close(fd);
        if (r < 0)
            return r;
    }
    return 0;
}

static long run_op(int argc, char **argv, char *rest);

static unsigned long rdtsc(void)
{
    unsigned lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (unsigned long)hi << 32 | lo;
}

/* bench-read PATH / bench-write PATH SIZE: sequential, 64 KiB calls, timed with the TSC. */
static long bench(const char *path, long size, int writing)
{
    struct pyos_sysinfo info;
    sysinfo(&info);
    int fd = writing ? open(path, O_WRONLY | O_CREAT | O_TRUNC) : open(path, O_RDONLY);
    if (fd < 0)
        return fd;
    memset(buf, 'b', BUF);
    unsigned long t0 = rdtsc(), total = 0;
    long n = 0;
    if (writing) {
        while ((long)total < size && (n = write(fd, buf, BUF)) > 0)
            total += (unsigned long)n;
        if (n >= 0)
            n = sync();
    } else {
        while ((n = read(fd, buf, BUF)) > 0)
            total += (unsigned long)n;
    }
    unsigned long us = (rdtsc() - t0) * 1000 / (info.tsc_khz ? info.tsc_khz : 1);
    close(fd);
    if (n < 0)
        return n;
    printf("bench: %s %lu bytes in %lu us: %lu KB/s\n", writing ? "wrote" : "read", total, us,
           us ? total * 1000 / us : 0);
    return 0;
}

static long run_script(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return fd;
    long n = read(fd, script, sizeof script - 1), total = 0;
    while (n > 0) {
        total += n;
        n = read(fd, script + total, sizeof script - 1 - (size_t)total);
    }
    close(fd);
    if (n < 0)
        return n;
    script[total] = 0;
    int failures = 0;
    char *line = script;
    while (*line) {
        char *end = line;
        while (*end && *end != '\n')
            end++;
        char saved = *end;
        *end = 0;
        char original[256];
        strncpy_z(original, line, sizeof original);
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        int expect = 0;
        if (*p && *p != '#') {
            if (*p == '!') {
                char *w = p + 1;
                while (*p && *p != ' ')
                    p++;
                if (*p)
                    *p++ = 0;
                expect = errnum(w);
                while (*p == ' ')
                    p++;
            }
            char *args[8];
            int argc = 0;
            char *rest = 0;
            int text_at = !strncmp(p, "echo", 4) ? 1 : !strncmp(p, "pwrite", 6) ? 3
                        : (!strncmp(p, "write", 5) || !strncmp(p, "append", 6)) ? 2 : 8;
            while (*p && argc < 8) {
                if (argc == text_at) {
                    rest = p;
                    break;
                }
                args[argc++] = p;
                while (*p && *p != ' ' && *p != '\t')
                    p++;
                if (*p) {
                    *p++ = 0;
                    while (*p == ' ' || *p == '\t')
                        p++;
                }
            }
            long r = run_op(argc, args, rest);
            if (r == -1000) {
                printf("%s: failed\n", original);
                failures++;
            } else if (r < 0 && -r != expect) {
                printf("%s: error %s\n", original, errname(r));
                failures++;
            } else if (r < 0) {
                printf("%s: error %s (expected)\n", original, errname(r));
            } else if (expect) {
                printf("%s: succeeded, expected error %s\n", original, errname(expect));
                failures++;
            }
        }
        line = saved ? end + 1 : end;
    }
    return failures ? -1000 - failures : 0;
}

static long run_op(int argc, char **argv, char *rest)
{
    const char *op = argv[0], *a1 = argc > 1 ? argv[1] : 0, *a2 = argc > 2 ? argv[2] : 0;
    struct pyos_stat st;
    long r = 0;
    if (argc < 1)
        return 0;
    if (!strcmp(op, "echo")) {
        printf("%s\n", rest ? rest : "");
    } else if (!strcmp(op, "run") && a1) {
        r = run_script(a1);
        if (r <= -1000) {
            printf("fstest: %s: %ld lines failed\n", a1, -r - 1000);
            r = -1000;
        }
    } else if (!strcmp(op, "sync")) {
        r = sync();
    } else if (!strcmp(op, "ls") && a1) {
        int fd = open(a1, O_RDONLY | O_DIRECTORY);
        if (fd < 0)
            return fd;
        static struct pyos_dirent ents[4];
        long n;
        char path[600];
        while ((n = getdents(fd, ents, sizeof ents)) > 0)
            for (long i = 0; i < n / (long)sizeof *ents; i++) {
                snprintf(path, sizeof path, "%s/%s", a1, ents[i].name);
                long s = stat(path, &st);
                printf("%s %c %lu\n", ents[i].name, s < 0 ? '?' : S_ISDIR(st.mode) ? 'd' : 'f',
                       s < 0 || S_ISDIR(st.mode) ? 0 : st.size);
            }
        close(fd);
        r = n;
    } else if (!strcmp(op, "tree") && a1) {
        static char path[1024];
        long n = (long)strlen(a1);
        while (n > 0 && a1[n - 1] == '/')
            n--;
        memcpy(path, a1, (size_t)n);
        path[n] = 0;
        r = tree(path, n);
    } else if (!strcmp(op, "cat") && a1) {
        int fd = open(a1, O_RDONLY);
        if (fd < 0)
            return fd;
        long n;
        while ((n = read(fd, buf, BUF)) > 0)
            write(1, buf, (size_t)n);
        close(fd);
        r = n;
    } else if (!strcmp(op, "stat") && a1) {
        if ((r = stat(a1, &st)) == 0)
            printf("ino=%lu mode=0o%o nlink=%u size=%lu blocks=%lu\n", st.ino, st.mode, st.nlink, st.size,
                   st.blocks);
    } else if (!strcmp(op, "statfs")) {
        struct pyos_statfs s;
        if ((r = statfs(a1 ? a1 : "/", &s)) == 0)
            printf("type=%s block_size=%lu blocks=%lu free=%lu files=%lu files_free=%lu\n", s.type, s.block_size,
                   s.blocks, s.blocks_free, s.files, s.files_free);
    } else if ((!strcmp(op, "write") || !strcmp(op, "append")) && a1) {
        int fd = open(a1, O_WRONLY | O_CREAT | (op[0] == 'w' ? O_TRUNC : O_APPEND));
        if (fd < 0)
            return fd;
        long n = rest ? unescape(rest) : 0;
        r = write_all(fd, rest ? rest : "", n);
        close(fd);
    } else if (!strcmp(op, "pwrite") && a2) {
        int fd = open(a1, O_WRONLY | O_CREAT);
        if (fd < 0)
            return fd;
        long n = rest ? unescape(rest) : 0;
        r = lseek(fd, (long)number(a2), SEEK_SET);
        if (r >= 0)
            r = write_all(fd, rest ? rest : "", n);
        close(fd);
    } else if (!strcmp(op, "fill") && a2) {
        r = fill(a1, number(a2), (unsigned)number(argc > 3 ? argv[3] : 0));
    } else if (!strcmp(op, "check") && a2) {
        r = check(a1, number(a2), (unsigned)number(argc > 3 ? argv[3] : 0));
    } else if (!strcmp(op, "mkdir") && a1) {
        r = mkdir(a1, 0755);
    } else if (!strcmp(op, "rmdir") && a1) {
        r = rmdir(a1);
    } else if (!strcmp(op, "unlink") && a1) {
        r = unlink(a1);
    } else if (!strcmp(op, "rename") && a2) {
        r = rename(a1, a2);
    } else if (!strcmp(op, "truncate") && a2) {
        r = truncate(a1, (long)number(a2));
    } else if ((!strcmp(op, "mkfiles") || !strcmp(op, "rmfiles")) && argc > 3) {
        r = many(a1, (long)number(a2), argv[3], op[0] == 'r');
    } else if (!strcmp(op, "cd") && a1) {
        r = chdir(a1);
    } else if (!strcmp(op, "pwd")) {
        char cwd[256];
        if ((r = getcwd(cwd, sizeof cwd)) >= 0)
            printf("%s\n", cwd);
    } else if (!strcmp(op, "enospc") && a1) {
        r = enospc(a1);
    } else if (!strcmp(op, "bench-read") && a1) {
        r = bench(a1, 0, 0);
    } else if (!strcmp(op, "bench-write") && a2) {
        r = bench(a1, (long)number(a2), 1);
    } else if (!strcmp(op, "errors") && a1) {
        r = errors(a1);
    } else if (!strcmp(op, "cp") && a2) {
        int in = open(a1, O_RDONLY), out = in < 0 ? in : open(a2, O_WRONLY | O_CREAT | O_TRUNC);
        long n = 0;
        if (in < 0 || out < 0)
            r = in < 0 ? in : out;
        while (r == 0 && (n = read(in, buf, BUF)) > 0)
            r = write_all(out, buf, n);
        if (r == 0 && n < 0)
            r = n;
        if (in >= 0)
            close(in);
        if (out >= 0)
            close(out);
    } else if (!strcmp(op, "mount") && a2) {
        r = mount(a1, a2);
    } else {
        printf("fstest: unknown operation or missing arguments: %s\n", op);
        return -1000;
    }
    return r < 0 ? r : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        printf("usage: fstest run SCRIPT | fstest OP ARGS...\n");
        return 2;
    }
    /* One operation from the command line; the text of write/append is the rest of the words. */
    static char text[512];
    char *rest = 0;
    int text_at = !strcmp(argv[1], "echo") ? 1 : !strcmp(argv[1], "pwrite") ? 3
                : (!strcmp(argv[1], "write") || !strcmp(argv[1], "append")) ? 2 : 99;
    if (argc - 1 > text_at) {
        text[0] = 0;
        for (int i = 1 + text_at; i < argc; i++)
            snprintf(text + strlen(text), sizeof text - strlen(text), "%s%s", i > 1 + text_at ? " " : "", argv[i]);
        rest = text;
        argc = 1 + text_at;
    }
    long r = run_op(argc - 1, argv + 1, rest);
    if (r < 0 && r != -1000)
        printf("fstest: %s: error %s\n", argv[1], errname(r));
    printf("fstest: %s\n", r < 0 ? "FAILED" : "ok");
    return r < 0 ? 1 : 0;
}
