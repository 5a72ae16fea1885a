/*
 * What the harness's one-operation-at-a-time scripts cannot reach: files
 * that stay open (referenced vnodes) while their names change or go away.
 * Built by tests/test_fs_fat32.py with the fat32 plugin, the kernel's buffer
 * and vnode caches and the harness's host environment, over an image file.
 * Prints "FAIL ..." lines and exits 1 on a failed check; "ok" and 0 otherwise.
 */
#include "fs_fat32_direct.h"

static int64_t put_text(struct vnode *v, uint64_t off, const char *text)
{
    return ops->write(v, off, text, strlen(text));
}

static int same_text(struct vnode *v, const char *text)
{
    char buf[256] = {0};
    int64_t n = ops->read(v, 0, buf, sizeof buf - 1);
    return n == (int64_t)strlen(text) && memcmp(buf, text, (size_t)n) == 0;
}

static uint64_t free_clusters(void)
{
    struct fs_statfs s;
    ops->statfs(&mnt, &s);
    return s.blocks_free;
}

int main(int argc, char **argv)
{
    if (mount_argv(argc, argv))
        return 2;
    struct vnode *root = mnt.root;
    uint64_t free0 = free_clusters();

    /* Unlinked while open: still readable and writable; its slot is reused
     * by a new file without the two being confused; freed at the last put. */
    struct vnode *a = make(root, "open_then_unlinked.txt", S_IFREG | 0644);
    CHECK(a && put_text(a, 0, "hello") == 5);
    uint64_t a_ino = a->ino;
    CHECK(ops->unlink(root, "open_then_unlinked.txt", 22) == 0);
    CHECK(look(root, "open_then_unlinked.txt") == NULL);
    CHECK(a->ino != a_ino);
    CHECK(put_text(a, 5, " world") == 6 && same_text(a, "hello world"));
    struct vnode *b = make(root, "open_then_unlinked.txt", S_IFREG | 0644);
    CHECK(b && b != a && b->ino == a_ino);
    CHECK(b && same_text(b, ""));
    struct fs_stat st;
    CHECK(ops->stat(a, &st) == 0 && st.nlink == 0 && st.size == 11);
    /* Truncating it is 0 too (it has no entry left to write its size into). */
    CHECK(ops->truncate(a, 5) == 0 && same_text(a, "hello") && ops->truncate(a, 11) == 0);
    CHECK(free_clusters() == free0 - 1);
    vnode_put(a);
    CHECK(free_clusters() == free0);

    /* Renamed while open, across directories: the same vnode under the new
     * name, re-keyed to the new entry's position; writes land in it. */
    struct vnode *d1 = make(root, "dir_one", S_IFDIR | 0755), *d2 = make(root, "dir_two", S_IFDIR | 0755);
    struct vnode *x = make(d1, "x", S_IFREG | 0644);
    CHECK(d1 && d2 && x && put_text(x, 0, "moved") == 5);
    uint64_t x_ino = x->ino;
    CHECK(ops->rename(d1, "x", 1, d2, "a_longer_name_after_the_move.txt", 32) == 0);
    CHECK(x->ino != x_ino);
    struct vnode *again = look(d2, "a_longer_name_after_the_move.txt");
    CHECK(again == x);
    CHECK(ops->stat(x, &st) == 0 && st.ino == x->ino);
    CHECK(put_text(x, 5, "!") == 1);
    CHECK(again && same_text(again, "moved!"));
    /* A write of nothing is 0 and changes nothing, also past the end (no hole). */
    CHECK(ops->write(x, 6, "", 0) == 0 && ops->write(x, 100000, "", 0) == 0);
    CHECK(ops->stat(x, &st) == 0 && st.size == 6);
    /* A read of nothing is 0, inside the file as at its end; past the end, 0 too. */
    char none = 'n';
    CHECK(ops->read(x, 2, &none, 0) == 0 && ops->read(x, 6, &none, 0) == 0 && ops->read(x, 7, &none, 1) == 0);
    CHECK(none == 'n');
    if (again)
        vnode_put(again);
    CHECK(look(d1, "x") == NULL);

    /* An open file replaced by a rename onto its name: orphaned, freed at put. */
    struct vnode *y = make(d2, "y", S_IFREG | 0644);
    CHECK(y && put_text(y, 0, "old y") == 5);
    uint64_t before = free_clusters();
    CHECK(ops->rename(d2, "a_longer_name_after_the_move.txt", 32, d2, "y", 1) == 0);
    struct vnode *ny = look(d2, "y");
    CHECK(ny == x && y->ino >= (1ULL << 62));
    CHECK(y && same_text(y, "old y"));
    if (ny)
        vnode_put(ny);
    vnode_put(y);
    CHECK(free_clusters() == before + 1);

    /* A directory removed while open (a working directory): nothing can be
     * created in it; its cluster comes back at the last put. */
    struct vnode *gone = make(d1, "gone", S_IFDIR | 0755);
    before = free_clusters();
    CHECK(gone && ops->rmdir(d1, "gone", 4) == 0);
    struct vnode *z = NULL;
    CHECK(gone && ops->create(gone, "z", 1, S_IFREG | 0644, &z) == -ENOENT);
    vnode_put(gone);
    CHECK(free_clusters() == before + 1);

    /* A directory moved under its own child is refused. */
    struct vnode *inner = make(d1, "inner", S_IFDIR | 0755);
    CHECK(inner && ops->rename(root, "dir_one", 7, inner, "loop", 4) == -EINVAL);
    CHECK(inner && ops->rename(root, "dir_one", 7, d1, "self", 4) == -EINVAL);
    if (inner)
        vnode_put(inner);

    /* A file is not a directory: readdir and lookup in it are ENOTDIR (fs.h's
     * directory operations; the file's data is never read as entries). */
    struct vnode *plain = make(root, "plain_file", S_IFREG | 0644);
    CHECK(plain && put_text(plain, 0, "not a directory entry") == 21);
    if (plain) {
        uint64_t c0 = 0;
        struct fs_dirent de;
        struct vnode *none = NULL;
        CHECK(ops->readdir(plain, &c0, &de) == -ENOTDIR && c0 == 0);
        CHECK(ops->lookup(plain, "x", 1, &none) == -ENOTDIR && none == NULL);
        vnode_put(plain);
    }
    CHECK(ops->unlink(root, "plain_file", 10) == 0);

    /* readdir gives every name once, with the inode numbers lookup gives. */
    make_numbered(d2, "Entry number %d with a long name", 40);
    uint64_t cookie = 0;
    struct fs_dirent e;
    int seen = 0, r;
    while ((r = ops->readdir(d2, &cookie, &e)) == 1) {
        struct vnode *v = look(d2, e.name);
        CHECK(v && v->ino == e.ino);
        if (v)
            vnode_put(v);
        seen++;
    }
    CHECK(r == 0 && seen == 41);
    /* Each entry's type is its kind (directories in the root, files). */
    int dirs = 0;
    cookie = 0;
    while ((r = ops->readdir(root, &cookie, &e)) == 1) {
        struct vnode *v = look(root, e.name);
        CHECK(v && e.type == (S_ISDIR(v->mode) ? S_IFDIR : S_IFREG));
        dirs += e.type == S_IFDIR;
        if (v)
            vnode_put(v);
    }
    CHECK(r == 0 && dirs >= 2);

    if (x)
        vnode_put(x);
    vnode_put(d1);
    vnode_put(d2);
    /* A file kept open across a truncate and regrowth: the chain positions it
     * cached (the latest and the one before) go with the clusters they named,
     * so what is written after the truncate lands in the file's new clusters,
     * never in a freed one (read back through a fresh vnode). */
    struct vnode *t = make(root, "regrow", S_IFREG | 0644), *spacer = make(root, "spacer", S_IFREG | 0644);
    CHECK(t && spacer && ops->stat(t, &st) == 0);
    if (t && spacer) {
        uint32_t cs = (uint32_t)st.blksize;
        static char chunk[4096];
        char got = 0;
        for (int i = 0; i < 6; i++) {
            memset(chunk, 'A' + i, cs);
            CHECK(ops->write(t, (uint64_t)i * cs, chunk, cs) == cs);
        }
        CHECK(ops->read(t, 3ull * cs, &got, 1) == 1 && got == 'D');
        CHECK(ops->read(t, 4ull * cs, &got, 1) == 1 && got == 'E');
        CHECK(ops->truncate(t, 3ull * cs) == 0);
        CHECK(ops->write(spacer, 0, chunk, cs) == cs);
        memset(chunk, 'x', cs);
        CHECK(ops->write(t, 3ull * cs, chunk, cs) == cs);
        vnode_put(t);
        t = look(root, "regrow");
        CHECK(t && ops->read(t, 3ull * cs, &got, 1) == 1 && got == 'x');
        CHECK(t && ops->read(t, 2ull * cs, &got, 1) == 1 && got == 'C');
    }
    if (t)
        vnode_put(t);
    if (spacer)
        vnode_put(spacer);
    CHECK(ops->unlink(root, "regrow", 6) == 0 && ops->unlink(root, "spacer", 6) == 0);

    /* sync and unmount: 0 on success (fs.h), also when nothing is left to write */
    CHECK(ops->sync(&mnt) == 0);
    blk_sync(mnt.dev);
    CHECK(ops->sync(&mnt) == 0);
    return finish(root);
}
