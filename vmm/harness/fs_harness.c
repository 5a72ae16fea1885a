/*
 * Host fs harness: a filesystem plugin, the kernel's buffer cache
 * (kernel/block.c) and vnode cache (kernel/vnode.c) compiled natively over
 * an image file, driven by a script of operations. `pyos-vmm harness --fs
 * NAME --image IMG SCRIPT` and the Python tests run it (vmm/harness/fs.py).
 *
 *   fs_harness [--readonly] [--fail-request N] [--fail-alloc N] IMAGE SCRIPT   ("-": stdin)
 *   (--fail-request: the N-th device request fails; --fail-alloc: the N-th kmalloc returns NULL)
 *
 * One operation per line; '#' starts a comment. Paths are absolute.
 *
 *   mount | unmount | sync | statfs | stats | echo TEXT...
 *   failwrites               every later write request fails (EIO)
 *   ls PATH                  NAME TYPE SIZE per entry (d = directory, f = file)
 *   tree PATH                every file below: PATH TYPE SIZE CRC32 (sorted by the caller)
 *   cat PATH                 the contents, as they are
 *   pread PATH OFFSET N      one read call of N bytes (at most 4096) at OFFSET: n=RESULT, then the bytes
 *   stat PATH                ino=.. mode=0o.. nlink=.. size=.. blocks=..
 *   mtime PATH               mtime=.. (seconds; $PYOS_HARNESS_TIME fixes the clock)
 *   statdev PATH             dev=.. blksize=.. (the harness mounts as index 3: st_dev is the mount's index)
 *   readdir PATH             NAME ino=.. type=0o.. per entry, as readdir gives them (no lookups; type 0: unknown)
 *   dirend PATH              end=COOKIE: where readdir's cookie is once it has said "the end" (a directory's offset)
 *   write PATH TEXT...       create or truncate, then write TEXT (\n \t \\ escapes)
 *   append PATH TEXT...      create if missing, write at the end
 *   pwrite PATH OFFSET TEXT  write at OFFSET (may leave a hole); no TEXT: one zero-length write
 *   fill PATH SIZE [SEED]    create or truncate, write SIZE pattern bytes in odd-sized chunks
 *   check PATH SIZE [SEED]   the file is exactly SIZE pattern bytes
 *   put HOSTFILE PATH | get PATH HOSTFILE
 *   mkdir PATH | rmdir PATH | unlink PATH | rename OLD NEW | truncate PATH SIZE
 *   create PATH MODE         the plugin's create with this mode (type and permission bits; 0 prefix: octal)
 *   hold PATH | release      keep a reference to PATH as an open file does (up to 16) | drop them all
 *                            (unmount is EBUSY while any is held); a PATH "@N/NAME" is NAME in the
 *                            N-th held directory (even one removed since)
 *   snapshot HOSTFILE        copy the image file as it is now (what the last sync wrote)
 *   mkfiles DIR N PREFIX     create DIR/PREFIX0 .. PREFIX<N-1>, each holding its own name
 *
 * The pattern: byte i of seed s is ((i ^ i>>8 ^ i>>16) * 131 + s) & 0xff.
 *
 * unmount fails (EBUSY) when the plugin still holds a vnode or a buffer
 * reference (a leak).
 *
 * An operation that fails prints "LINE: error ENAME". A line may start with
 * "!ENAME " when that error is what it should give. Exit status: 0 when
 * every line gave what it should, 1 otherwise, 2 for a bad script or image.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pyos/blk.h>
#include <pyos/counters.h>
#include <pyos/fs.h>
#include <pyos/vfs.h>

/* From <pyos/fs_env.h> (not included: see fs_env_host.c). */
struct vnode *vnode_get(struct fs_mount *m, uint64_t ino, int *err);
void vnode_ref(struct vnode *v);
void vnode_put(struct vnode *v);
struct blkdev *harness_open_image(const char *path, int readonly);
extern long harness_fail_request;
extern long harness_fail_alloc;
extern int harness_fail_writes;

#define MAX_DEPTH 64
#define HARNESS_MOUNT_INDEX 3   /* not 0, so that a stat leaving st_dev unset is seen */

static struct fs_mount mount_point;
static struct fs_mount *mounted;
static struct blkdev *disk;

static const char *errno_names[] = {
    [EPERM] = "EPERM", [ENOENT] = "ENOENT", [EIO] = "EIO", [ENXIO] = "ENXIO", [EBADF] = "EBADF",
    [ENOMEM] = "ENOMEM", [EFAULT] = "EFAULT", [EBUSY] = "EBUSY", [EEXIST] = "EEXIST", [EXDEV] = "EXDEV",
    [ENODEV] = "ENODEV", [ENOTDIR] = "ENOTDIR", [EISDIR] = "EISDIR", [EINVAL] = "EINVAL",
    [ENFILE] = "ENFILE", [EMFILE] = "EMFILE", [EFBIG] = "EFBIG", [ENOSPC] = "ENOSPC", [ESPIPE] = "ESPIPE",
    [EROFS] = "EROFS", [EMLINK] = "EMLINK", [ERANGE] = "ERANGE", [ENAMETOOLONG] = "ENAMETOOLONG",
    [ENOSYS] = "ENOSYS", [ENOTEMPTY] = "ENOTEMPTY", [ELOOP] = "ELOOP",
};

static const char *errname(int e)
{
    static char other[16];
    if (e < 0)
        e = -e;
    if (e < (int)(sizeof errno_names / sizeof *errno_names) && errno_names[e])
        return errno_names[e];
    snprintf(other, sizeof other, "E%d", e);
    return other;
}

static int errnum(const char *name)
{
    for (int e = 0; e < (int)(sizeof errno_names / sizeof *errno_names); e++)
        if (errno_names[e] && strcmp(errno_names[e], name) == 0)
            return e;
    return -1;
}

/* ---- paths ---------------------------------------------------------- */

#define MAX_HELD 16
static struct vnode *held[MAX_HELD];   /* hold's references, dropped by release */
static int nheld;

/* The vnode at `path` (referenced), or -errno. A path "@N/..." starts at the
 * N-th held vnode instead of the root: a directory that may have no name any
 * more (removed while held), as a process's working directory can be. */
static int walk(const char *path, struct vnode **out)
{
    if (!mounted)
        return -ENODEV;
    struct vnode *stack[MAX_DEPTH];
    int depth = 0;
    stack[0] = mounted->root;
    const char *p = path;
    if (*p == '@') {
        char *end;
        long n = strtol(p + 1, &end, 10);
        if (end == p + 1 || n < 0 || n >= nheld)
            return -EBADF;
        stack[0] = held[n];
        p = end;
    }
    vnode_ref(stack[0]);
    while (*p) {
        while (*p == '/')
            p++;
        const char *start = p;
        while (*p && *p != '/')
            p++;
        size_t len = (size_t)(p - start);
        if (len == 0 || (len == 1 && start[0] == '.'))
            continue;
        if (len == 2 && start[0] == '.' && start[1] == '.') {
            if (depth > 0)
                vnode_put(stack[depth--]);
            continue;
        }
        int r;
        struct vnode *next = NULL;
        if (!S_ISDIR(stack[depth]->mode))
            r = -ENOTDIR;
        else if (len > FS_NAME_MAX)
            r = -ENAMETOOLONG;
        else if (depth + 1 == MAX_DEPTH)
            r = -ELOOP;
        else
            r = mounted->ops->lookup(stack[depth], start, len, &next);
        if (r > 0) {        /* fs.h: 0 or -errno (lookup returns no count) */
            printf("lookup of %.*s returned %d, not 0\n", (int)len, start, r);
            vnode_put(next);
            r = -1000;
        }
        if (r < 0) {
            while (depth >= 0)
                vnode_put(stack[depth--]);
            return r;
        }
        stack[++depth] = next;
    }
    *out = stack[depth];
    while (depth > 0)
        vnode_put(stack[--depth]);
    return 0;
}

/* The parent directory of `path` (referenced) and the last name in it. */
static int walk_parent(const char *path, struct vnode **dir, const char **name, size_t *len)
{
    char parent[4096];
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t slash = n;
    while (slash > 0 && path[slash - 1] != '/')
        slash--;
    *name = path + slash;
    *len = n - slash;
    if (*len == 0 || (*len == 1 && **name == '.') || (*len == 2 && !strncmp(*name, "..", 2)))
        return -EINVAL;
    if (*len > FS_NAME_MAX)
        return -ENAMETOOLONG;
    if (slash >= sizeof parent)
        return -ENAMETOOLONG;
    memcpy(parent, path, slash);
    parent[slash] = 0;
    int r = walk(parent, dir);
    if (r == 0 && !S_ISDIR((*dir)->mode)) {
        vnode_put(*dir);
        return -ENOTDIR;
    }
    return r;
}

/* Open (optionally create, optionally truncate) a regular file. */
static int open_file(const char *path, int create, int trunc, struct vnode **out)
{
    int r = walk(path, out);
    if (r == -ENOENT && create) {
        struct vnode *dir;
        const char *name;
        size_t len;
        if ((r = walk_parent(path, &dir, &name, &len)) < 0)
            return r;
        r = mounted->ops->create(dir, name, len, S_IFREG | 0644, out);
        vnode_put(dir);
        return r;
    }
    if (r < 0)
        return r;
    if (S_ISDIR((*out)->mode)) {
        vnode_put(*out);
        return -EISDIR;
    }
    if (trunc && (r = mounted->ops->truncate(*out, 0)) < 0) {
        vnode_put(*out);
        return r;
    }
    return 0;
}

/* ---- data ----------------------------------------------------------- */

static uint8_t pattern_byte(uint64_t i, unsigned seed)
{
    return (uint8_t)(((i ^ (i >> 8) ^ (i >> 16)) * 131 + seed) & 0xff);
}

static uint32_t crc_table[256];

static uint32_t crc32_update(uint32_t crc, const uint8_t *p, size_t n)
{
    if (!crc_table[1])
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            crc_table[i] = c;
        }
    crc = ~crc;
    while (n--)
        crc = crc_table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

/* All n bytes, in as many write calls as the plugin needs; n = 0 is one
 * zero-length write (as write(fd, buf, 0) is), which must give 0. A result
 * past what was asked for, or 0 for a write of some bytes (the VFS hands it
 * to the user, whose write loop would never end), breaks fs.h's contract
 * and fails the line. */
static int write_all(struct vnode *v, uint64_t off, const void *data, size_t n)
{
    const uint8_t *p = data;
    do {
        int64_t w = mounted->ops->write(v, off, p, n);
        if (w < 0)
            return (int)w;
        if ((uint64_t)w > n) {
            printf("a write of %zu bytes returned %lld\n", n, (long long)w);
            return -1000;
        }
        if (w == 0 && n) {
            printf("a write of %zu bytes returned 0, neither bytes written nor an error\n", n);
            return -1000;
        }
        off += (uint64_t)w;
        p += w;
        n -= (size_t)w;
    } while (n);
    return 0;
}

/* A name field whose bytes after the name are all NUL (and which has one). */
static int nul_padded(const char *field, size_t size)
{
    size_t len = strnlen(field, size);
    for (size_t i = len; i < size; i++)
        if (field[i])
            return 0;
    return len < size;
}

static size_t unescape(char *s)
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
    return (size_t)(o - s);
}

static uint64_t file_size(struct vnode *v)
{
    struct fs_stat st;
    return mounted->ops->stat(v, &st) < 0 ? 0 : st.size;
}

/* Every file below dir: "path type size crc". */
static int tree(struct vnode *dir, char *path, size_t plen)
{
    uint64_t cookie = 0;
    struct fs_dirent *e = malloc(sizeof *e);
    uint8_t *buf = malloc(65536);
    int r;
    while ((r = mounted->ops->readdir(dir, &cookie, e)) > 0) {
        struct vnode *v;
        if (plen + 1 + e->name_len >= 4096) {
            r = -ENAMETOOLONG;
            break;
        }
        if ((r = mounted->ops->lookup(dir, e->name, e->name_len, &v)) < 0) {
            printf("%.*s/%s: lookup failed: %s\n", (int)plen, path, e->name, errname(r));
            break;
        }
        path[plen] = '/';
        memcpy(path + plen + 1, e->name, e->name_len + 1);
        size_t sub = plen + 1 + e->name_len;
        if (S_ISDIR(v->mode)) {
            printf("%s d 0 0\n", path);
            r = tree(v, path, sub);
        } else {
            uint64_t size = file_size(v), off = 0;
            uint32_t crc = 0;
            while (off < size) {
                int64_t n = mounted->ops->read(v, off, buf, 65536);
                if (n <= 0) {
                    r = n < 0 ? (int)n : -EIO;
                    break;
                }
                crc = crc32_update(crc, buf, (size_t)n);
                off += (uint64_t)n;
            }
            if (r >= 0)
                printf("%s f %llu %08x\n", path, (unsigned long long)size, crc);
        }
        path[plen] = 0;
        vnode_put(v);
        if (r < 0)
            break;
    }
    free(e);
    free(buf);
    return r;
}

/* ---- operations ----------------------------------------------------- */

#define MAX_ARGS 8

static int op_mount(void)
{
    if (mounted)
        return -EBUSY;
    int r = -EINVAL;
    for (const struct fs_ops *const *p = fs_plugins; *p; p++) {
        memset(&mount_point, 0, sizeof mount_point);
        mount_point.ops = *p;
        mount_point.dev = disk;
        mount_point.readonly = disk->readonly;
        mount_point.index = HARNESS_MOUNT_INDEX;
        r = (*p)->mount(&mount_point);
        if (r == 0) {
            if (!mount_point.root) {
                printf("mount: %s did not set the root vnode\n", (*p)->name);
                return -EIO;
            }
            mounted = &mount_point;
            printf("mounted %s\n", (*p)->name);
            return 0;
        }
        if (r != -EINVAL)
            break;
    }
    return r;
}

static int op_sync(void)
{
    int r = mounted->ops->sync ? mounted->ops->sync(mounted) : 0;
    int s = blk_sync(disk);
    return r < 0 ? r : s;
}

/* The plugin's buffer references: bread/bget_zero and brelse are linked
 * through these (ld --wrap, vmm/harness/fs.py), so a reference the plugin
 * takes and never drops is reported at unmount, like a leaked vnode. */
static long buffers_held;
struct buf *__real_bread(struct blkdev *dev, uint64_t blockno, uint32_t size);
struct buf *__real_bget_zero(struct blkdev *dev, uint64_t blockno, uint32_t size);
void __real_brelse(struct buf *b);

struct buf *__wrap_bread(struct blkdev *dev, uint64_t blockno, uint32_t size)
{
    struct buf *b = __real_bread(dev, blockno, size);
    buffers_held += b != NULL;
    return b;
}

struct buf *__wrap_bget_zero(struct blkdev *dev, uint64_t blockno, uint32_t size)
{
    struct buf *b = __real_bget_zero(dev, blockno, size);
    buffers_held += b != NULL;
    return b;
}

void __wrap_brelse(struct buf *b)
{
    buffers_held -= b != NULL;
    __real_brelse(b);
}

static int op_unmount(void)
{
    int r = op_sync();
    vnode_put(mounted->root);
    uint64_t leaked = vnodes_in_use(mounted);
    if (mounted->ops->unmount) {
        int u = mounted->ops->unmount(mounted);
        r = r < 0 ? r : u;
    }
    int s = blk_sync(disk);
    mounted = NULL;
    long held = buffers_held;
    blk_invalidate(disk);
    if (leaked) {
        printf("unmount: %llu vnodes still referenced (a leak in the plugin)\n", (unsigned long long)leaked);
        return -EBUSY;
    }
    if (held) {
        printf("unmount: %ld buffer references still held (a bread without brelse in the plugin)\n", held);
        return -EBUSY;
    }
    return r < 0 ? r : s;
}

static const char *image_path;         /* for snapshot */
static int run(int argc, char **argv, char *rest)
{
    const char *op = argv[0];
    struct vnode *v = NULL, *dir = NULL;
    const char *name;
    size_t len;
    int r = 0;
#define NEED(n) do { if (argc < (n)) { printf("%s: needs %d arguments\n", op, (n) - 1); return -1000; } } while (0)
#define MOUNTED() do { if (!mounted) return -ENODEV; } while (0)

    if (!strcmp(op, "failwrites")) {
        harness_fail_writes = 1;
    } else if (!strcmp(op, "echo")) {
        printf("%s\n", rest ? rest : "");
    } else if (!strcmp(op, "mount")) {
        r = op_mount();
    } else if (!strcmp(op, "unmount")) {
        MOUNTED();
        r = op_unmount();
    } else if (!strcmp(op, "sync")) {
        MOUNTED();
        r = op_sync();
    } else if (!strcmp(op, "statfs")) {
        MOUNTED();
        struct fs_statfs s;
        memset(&s, 0xA5, sizeof s);       /* fs.h: the plugin fills every byte; one it leaves shows */
        if ((r = mounted->ops->statfs(mounted, &s)) == 0 && !nul_padded(s.type, sizeof s.type)) {
            printf("statfs left type's bytes after its name unset (not NUL)\n");
            r = -1000;
        } else if (r == 0)
            printf("type=%s block_size=%llu blocks=%llu free=%llu files=%llu files_free=%llu\n", s.type,
                   (unsigned long long)s.block_size, (unsigned long long)s.blocks,
                   (unsigned long long)s.blocks_free, (unsigned long long)s.files,
                   (unsigned long long)s.files_free);
    } else if (!strcmp(op, "stats")) {
        struct blk_stats *s = disk->stats;
        printf("reads=%llu writes=%llu sectors_read=%llu sectors_written=%llu hits=%llu misses=%llu "
               "flushes=%llu errors=%llu evictions=%llu writebacks=%llu vnodes=%llu\n",
               (unsigned long long)s->reads, (unsigned long long)s->writes,
               (unsigned long long)s->sectors_read, (unsigned long long)s->sectors_written,
               (unsigned long long)s->hits, (unsigned long long)s->misses, (unsigned long long)s->flushes,
               (unsigned long long)s->errors, (unsigned long long)pyos_counters.buf_evictions,
               (unsigned long long)pyos_counters.buf_writebacks, (unsigned long long)vnodes_in_use(NULL));
    } else if (!strcmp(op, "ls") || !strcmp(op, "tree")) {
        NEED(2);
        MOUNTED();
        if ((r = walk(argv[1], &v)) < 0)
            return r;
        if (!S_ISDIR(v->mode)) {
            vnode_put(v);
            return -ENOTDIR;
        }
        if (!strcmp(op, "tree")) {
            char path[4096] = "";
            size_t n = strlen(argv[1]);
            while (n && argv[1][n - 1] == '/')
                n--;
            memcpy(path, argv[1], n < 4000 ? n : 4000);
            path[n < 4000 ? n : 4000] = 0;
            r = tree(v, path, strlen(path));
        } else {
            uint64_t cookie = 0;
            struct fs_dirent e;
            while ((r = mounted->ops->readdir(v, &cookie, &e)) > 0) {
                struct vnode *c;
                int l = mounted->ops->lookup(v, e.name, e.name_len, &c);
                if (l < 0) {
                    printf("%s ? lookup:%s\n", e.name, errname(l));
                    continue;
                }
                printf("%s %c %llu\n", e.name, S_ISDIR(c->mode) ? 'd' : 'f',
                       (unsigned long long)(S_ISDIR(c->mode) ? 0 : file_size(c)));
                vnode_put(c);
            }
        }
        vnode_put(v);
    } else if (!strcmp(op, "cat") || !strcmp(op, "get") || !strcmp(op, "check")) {
        NEED(!strcmp(op, "cat") ? 2 : 3);
        MOUNTED();
        if ((r = walk(argv[1], &v)) < 0)
            return r;
        if (S_ISDIR(v->mode)) {
            vnode_put(v);
            return -EISDIR;
        }
        FILE *out = NULL;
        if (!strcmp(op, "get") && !(out = fopen(argv[2], "wb"))) {
            printf("get: cannot create %s: %s\n", argv[2], strerror(errno));
            vnode_put(v);
            return -1000;
        }
        uint64_t want = !strcmp(op, "check") ? strtoull(argv[2], NULL, 0) : 0;
        unsigned seed = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 0) : 0;
        uint64_t size = file_size(v), off = 0;
        static uint8_t buf[70000];
        size_t chunk = 65536 + 1237;   /* not a block multiple: partial blocks on both ends */
        while (off < size) {
            int64_t n = mounted->ops->read(v, off, buf, chunk);
            if (n < 0) { r = (int)n; break; }
            if (n == 0) { printf("%s: read returned 0 at %llu of %llu\n", op, (unsigned long long)off,
                                 (unsigned long long)size); r = -EIO; break; }
            if (!strcmp(op, "cat"))
                fwrite(buf, 1, (size_t)n, stdout);
            else if (out)
                fwrite(buf, 1, (size_t)n, out);
            else
                for (int64_t i = 0; i < n; i++)
                    if (buf[i] != pattern_byte(off + (uint64_t)i, seed)) {
                        printf("check: %s differs at offset %llu\n", argv[1], (unsigned long long)(off + i));
                        r = -1000;
                        break;
                    }
            if (r < 0)
                break;
            off += (uint64_t)n;
        }
        if (r == 0 && !strcmp(op, "check") && size != want) {
            printf("check: %s is %llu bytes, not %llu\n", argv[1], (unsigned long long)size,
                   (unsigned long long)want);
            r = -1000;
        }
        if (out)
            fclose(out);
        vnode_put(v);
    } else if (!strcmp(op, "pread")) {
        NEED(4);
        MOUNTED();
        if ((r = walk(argv[1], &v)) < 0)
            return r;
        static uint8_t one[4096];
        size_t n = (size_t)strtoull(argv[3], NULL, 0);
        if (n > sizeof one)
            n = sizeof one;
        memset(one, 0xA5, sizeof one);      /* bytes the plugin did not fill show */
        int64_t got = mounted->ops->read(v, strtoull(argv[2], NULL, 0), one, n);
        printf("n=%lld\n", (long long)got);
        if (got > 0) {
            fwrite(one, 1, (size_t)got, stdout);
            printf("\n");
        }
        r = got < 0 ? (int)got : 0;
        vnode_put(v);
    } else if (!strcmp(op, "stat") || !strcmp(op, "mtime") || !strcmp(op, "statdev")) {
        NEED(2);
        MOUNTED();
        if ((r = walk(argv[1], &v)) < 0)
            return r;
        struct fs_stat st;
        memset(&st, 0xA5, sizeof st);       /* a field the plugin leaves unset shows */
        if ((r = mounted->ops->stat(v, &st)) == 0 && !strcmp(op, "stat"))
            printf("ino=%llu mode=0o%o nlink=%u size=%llu blocks=%llu\n", (unsigned long long)st.ino,
                   st.mode, st.nlink, (unsigned long long)st.size, (unsigned long long)st.blocks);
        else if (r == 0 && !strcmp(op, "mtime"))
            printf("mtime=%llu\n", (unsigned long long)st.mtime);
        else if (r == 0)
            printf("dev=%u blksize=%u\n", st.dev, st.blksize);
        vnode_put(v);
    } else if (!strcmp(op, "readdir") || !strcmp(op, "dirend")) {
        NEED(2);
        MOUNTED();
        if ((r = walk(argv[1], &v)) < 0)
            return r;
        uint64_t cookie = 0;
        struct fs_dirent e;
        while ((r = mounted->ops->readdir(v, &cookie, &e)) > 0)
            if (!strcmp(op, "readdir"))
                printf("%s ino=%llu type=0o%o\n", e.name, (unsigned long long)e.ino, e.type);
        if (r == 0 && !strcmp(op, "dirend"))
            printf("end=%llu\n", (unsigned long long)cookie);
        vnode_put(v);
    } else if (!strcmp(op, "write") || !strcmp(op, "append")) {
        NEED(2);
        MOUNTED();
        int append = !strcmp(op, "append");
        if ((r = open_file(argv[1], 1, !append, &v)) < 0)
            return r;
        size_t n = rest ? unescape(rest) : 0;
        r = write_all(v, append ? file_size(v) : 0, rest ? rest : "", n);
        vnode_put(v);
    } else if (!strcmp(op, "pwrite")) {
        NEED(3);
        MOUNTED();
        if ((r = open_file(argv[1], 1, 0, &v)) < 0)
            return r;
        size_t n = rest ? unescape(rest) : 0;
        r = write_all(v, strtoull(argv[2], NULL, 0), rest ? rest : "", n);
        vnode_put(v);
    } else if (!strcmp(op, "fill")) {
        NEED(3);
        MOUNTED();
        if ((r = open_file(argv[1], 1, 1, &v)) < 0)
            return r;
        uint64_t size = strtoull(argv[2], NULL, 0), off = 0;
        unsigned seed = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 0) : 0;
        static uint8_t buf[40000];
        while (off < size && r == 0) {
            size_t n = size - off < 30011 ? (size_t)(size - off) : 30011;
            for (size_t i = 0; i < n; i++)
                buf[i] = pattern_byte(off + i, seed);
            r = write_all(v, off, buf, n);
            off += n;
        }
        vnode_put(v);
    } else if (!strcmp(op, "put")) {
        NEED(3);
        MOUNTED();
        FILE *in = fopen(argv[1], "rb");
        if (!in) {
            printf("put: cannot open %s: %s\n", argv[1], strerror(errno));
            return -1000;
        }
        if ((r = open_file(argv[2], 1, 1, &v)) == 0) {
            static uint8_t buf[65536];
            uint64_t off = 0;
            size_t n;
            while (r == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0) {
                r = write_all(v, off, buf, n);
                off += n;
            }
            vnode_put(v);
        }
        fclose(in);
    } else if (!strcmp(op, "truncate")) {
        NEED(3);
        MOUNTED();
        if ((r = open_file(argv[1], 0, 0, &v)) < 0)
            return r;
        r = mounted->ops->truncate(v, strtoull(argv[2], NULL, 0));
        vnode_put(v);
    } else if (!strcmp(op, "hold")) {      /* keep a reference to PATH, as an open file would */
        NEED(2);
        MOUNTED();
        if (nheld == MAX_HELD)
            return -EMFILE;
        if ((r = walk(argv[1], &v)) == 0)
            held[nheld++] = v;
    } else if (!strcmp(op, "snapshot")) {  /* the image file as it is now (what a sync wrote) to HOSTFILE */
        NEED(2);
        FILE *in = fopen(image_path, "rb"), *out = in ? fopen(argv[1], "wb") : NULL;
        char chunk[65536];
        size_t n;
        int short_write = 0;
        while (out && (n = fread(chunk, 1, sizeof chunk, in)) > 0)
            short_write |= fwrite(chunk, 1, n, out) != n;
        r = in && out && !ferror(in) && !short_write ? 0 : -EIO;
        if (out && fclose(out) != 0)
            r = -EIO;
        if (in)
            fclose(in);
    } else if (!strcmp(op, "release")) {   /* drop every reference hold took */
        while (nheld > 0)
            vnode_put(held[--nheld]);
    } else if (!strcmp(op, "create")) {   /* create PATH MODE: the mode as the plugin gets it (type and permissions) */
        NEED(3);
        MOUNTED();
        if ((r = walk_parent(argv[1], &dir, &name, &len)) < 0)
            return r;
        if ((r = mounted->ops->create(dir, name, len, (uint32_t)strtoul(argv[2], NULL, 0), &v)) == 0)
            vnode_put(v);
        vnode_put(dir);
    } else if (!strcmp(op, "mkdir") || !strcmp(op, "rmdir") || !strcmp(op, "unlink")) {
        NEED(2);
        MOUNTED();
        if ((r = walk_parent(argv[1], &dir, &name, &len)) < 0)
            return r;
        if (!strcmp(op, "mkdir")) {
            if ((r = mounted->ops->create(dir, name, len, S_IFDIR | 0755, &v)) == 0)
                vnode_put(v);
        } else if (!strcmp(op, "rmdir")) {
            r = mounted->ops->rmdir(dir, name, len);
        } else {
            r = mounted->ops->unlink(dir, name, len);
        }
        vnode_put(dir);
    } else if (!strcmp(op, "rename")) {
        NEED(3);
        MOUNTED();
        struct vnode *newdir;
        const char *newname;
        size_t newlen;
        if ((r = walk_parent(argv[1], &dir, &name, &len)) < 0)
            return r;
        if ((r = walk_parent(argv[2], &newdir, &newname, &newlen)) < 0) {
            vnode_put(dir);
            return r;
        }
        r = mounted->ops->rename(dir, name, len, newdir, newname, newlen);
        vnode_put(newdir);
        vnode_put(dir);
    } else if (!strcmp(op, "mkfiles")) {
        NEED(4);
        MOUNTED();
        long n = strtol(argv[2], NULL, 0);
        for (long i = 0; i < n && r == 0; i++) {
            char path[4096], content[300];
            snprintf(path, sizeof path, "%s/%s%ld", argv[1], argv[3], i);
            int clen = snprintf(content, sizeof content, "%s%ld\n", argv[3], i);
            if ((r = open_file(path, 1, 1, &v)) == 0) {
                r = write_all(v, 0, content, (size_t)clen);
                vnode_put(v);
            }
        }
    } else {
        printf("unknown operation '%s'\n", op);
        return -1000;
    }
    static const char *const status_ops[] = {"create", "mkdir", "rmdir", "unlink", "rename", "truncate", NULL};
    for (int i = 0; r > 0 && status_ops[i]; i++)
        if (!strcmp(op, status_ops[i])) {  /* fs.h: these give 0 or -errno, which the kernel hands to the user */
            printf("%s returned %d, not 0\n", op, r);
            return -1000;
        }
    return r;
}

int main(int argc, char **argv)
{
    int readonly = 0, i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (!strcmp(argv[i], "--readonly"))
            readonly = 1;
        else if (!strcmp(argv[i], "--fail-request") && i + 1 < argc)
            harness_fail_request = strtol(argv[++i], NULL, 0);
        else if (!strcmp(argv[i], "--fail-alloc") && i + 1 < argc)
            harness_fail_alloc = strtol(argv[++i], NULL, 0);
        else
            break;
    }
    if (argc - i != 2) {
        fprintf(stderr, "usage: fs_harness [--readonly] [--fail-request N] [--fail-alloc N] IMAGE SCRIPT\n");
        return 2;
    }
    FILE *script = strcmp(argv[i + 1], "-") ? fopen(argv[i + 1], "r") : stdin;
    if (!script) {
        fprintf(stderr, "fs harness: cannot open script %s: %s\n", argv[i + 1], strerror(errno));
        return 2;
    }
    image_path = argv[i];
    if (!(disk = harness_open_image(argv[i], readonly)))
        return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    char line[8192];
    int lineno = 0, failures = 0;
    while (fgets(line, sizeof line, script)) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '#')
            continue;
        char original[8192];
        snprintf(original, sizeof original, "%s", p);
        int expect = 0;
        if (*p == '!') {
            char *end = p + strcspn(p, " \t");
            char saved = *end;
            *end = 0;
            expect = errnum(p + 1);
            if (expect < 0) {
                printf("line %d: unknown error name '%s'\n", lineno, p + 1);
                return 2;
            }
            *end = saved;
            p = end;
            while (*p == ' ' || *p == '\t')
                p++;
        }
        /* Split into at most MAX_ARGS words; `rest` is the text after the
         * words an operation takes as arguments (for write/append/pwrite/echo). */
        char *argv2[MAX_ARGS];
        int n = 0;
        char *rest = NULL;
        int words_before_text = !strncmp(p, "echo", 4) ? 1 : !strncmp(p, "pwrite", 6) ? 3
                              : (!strncmp(p, "write", 5) || !strncmp(p, "append", 6)) ? 2 : MAX_ARGS;
        while (*p && n < MAX_ARGS) {
            if (n == words_before_text) {
                rest = p;
                break;
            }
            argv2[n++] = p;
            p += strcspn(p, " \t");
            if (*p) {
                *p++ = 0;
                while (*p == ' ' || *p == '\t')
                    p++;
            }
        }
        int r = run(n, argv2, rest);
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
    if (mounted) {
        printf("(end of script: unmounting)\n");
        if (op_unmount() < 0)
            failures++;
    }
    return failures ? 1 : 0;
}
