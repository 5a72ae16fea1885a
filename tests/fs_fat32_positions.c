/*
 * The chain positions a fat32 node keeps (fat_table.c, fat_chain_at): what
 * they cost and that they never outlive the clusters they name. Only files
 * and directories kept open across calls reach them (the harness's scripts
 * hold a file for one operation), so this drives the plugin's fs_ops
 * directly, like tests/fs_fat32_open.c, and counts buffer-cache lookups
 * (the device's hits + misses: each FAT entry a chain walk reads is one).
 *
 * Prints "NAME=VALUE" lines for tests/test_fs_fat32_mutants.py to judge,
 * "FAIL ..." lines for broken checks, and exits 1 when a check failed.
 */
#include <stdlib.h>

#include "fs_fat32_direct.h"

static uint32_t cs;                    /* cluster size */

static uint64_t lookups(void)
{
    return mnt.dev->stats->hits + mnt.dev->stats->misses;
}

/* Buffer-cache lookups of reading one byte of cluster `idx` (checking it is `want`). */
static uint64_t read_cost(struct vnode *v, uint32_t idx, char want)
{
    char got = 0;
    uint64_t before = lookups();
    CHECK(ops->read(v, (uint64_t)idx * cs, &got, 1) == 1 && got == want);
    return lookups() - before;
}

static uint64_t truncate_cost(struct vnode *v, uint32_t clusters)
{
    uint64_t before = lookups();
    CHECK(ops->truncate(v, (uint64_t)clusters * cs) == 0);
    return lookups() - before;
}

/* A file of `n` clusters, cluster i filled with 'A' + i % 26 (not held). */
static void make_file(struct vnode *root, const char *name, uint32_t n)
{
    char *data = malloc((size_t)n * cs);
    for (uint32_t i = 0; i < n; i++)
        memset(data + (size_t)i * cs, 'A' + i % 26, cs);
    struct vnode *v = make(root, name, S_IFREG | 0644);
    CHECK(v && ops->write(v, 0, data, (size_t)n * cs) == (int64_t)n * cs);
    if (v)
        vnode_put(v);
    free(data);
}

#define C(i) ((char)('A' + (i) % 26))

/* Opens `name` afresh and prints "NAME=XY": its first and last byte of the
 * first cluster ('?' for a byte not read). Returns the vnode, held, or NULL. */
static struct vnode *print_ends(struct vnode *root, const char *name)
{
    struct vnode *g = look(root, name);
    char got[2] = {0, 0};
    CHECK(g && ops->read(g, 0, &got[0], 1) == 1 && ops->read(g, cs - 1, &got[1], 1) == 1);
    printf("%s=%c%c\n", name, got[0] ? got[0] : '?', got[1] ? got[1] : '?');
    return g;
}

int main(int argc, char **argv)
{
    if (mount_argv(argc, argv))
        return 2;
    struct vnode *root = mnt.root;
    struct fs_stat st;
    CHECK(ops->stat(root, &st) == 0);
    cs = (uint32_t)st.blksize;

    /* Reading a file kept open: a walk goes on from the latest position, or
     * from the one before its last move when the latest lies past the
     * cluster wanted; a read at the latest position itself is no move and
     * keeps the one before. */
    make_file(root, "walk", 200);
    struct vnode *f = look(root, "walk");
    CHECK(f != NULL);
    if (f) {
        printf("read_100_fresh=%llu\n", (unsigned long long)read_cost(f, 100, C(100)));
        printf("read_150_after_100=%llu\n", (unsigned long long)read_cost(f, 150, C(150)));
        printf("read_150_again=%llu\n", (unsigned long long)read_cost(f, 150, C(150)));
        printf("read_120_back=%llu\n", (unsigned long long)read_cost(f, 120, C(120)));
        vnode_put(f);
    }

    /* Truncating a file kept open: the cut's chain lookup starts at the
     * latest position when it lies before the cut ... */
    f = look(root, "walk");
    if (f) {
        read_cost(f, 150, C(150));
        printf("truncate_152_after_150=%llu\n", (unsigned long long)truncate_cost(f, 152));
        vnode_put(f);
    }
    /* ... or at the one before it, when only that one lies before the cut. */
    f = look(root, "walk");
    if (f) {
        read_cost(f, 140, C(140));
        read_cost(f, 150, C(150));
        printf("truncate_145_after_140_150=%llu\n", (unsigned long long)truncate_cost(f, 145));
        printf("read_144_after_truncate=%llu\n", (unsigned long long)read_cost(f, 144, C(144)));
        vnode_put(f);
    }
    CHECK(ops->unlink(root, "walk", 4) == 0);

    /* A file kept open, truncated to nothing and written again: neither
     * position it kept names a cluster any more, so the new data goes to the
     * new first cluster (read back through a fresh vnode), never into the
     * freed old one. */
    struct vnode *g = make(root, "regrow0", S_IFREG | 0644);
    if (g) {
        char *buf = malloc(cs);
        memset(buf, 'a', cs);
        CHECK(ops->write(g, 0, buf, cs) == cs);
        memset(buf, 'b', cs);
        CHECK(ops->write(g, cs, buf, cs) == cs);
        CHECK(ops->truncate(g, 0) == 0);
        memset(buf, 'N', cs);
        CHECK(ops->write(g, 0, buf, cs) == cs);
        vnode_put(g);
        g = print_ends(root, "regrow0");
        CHECK(g && ops->stat(g, &st) == 0 && st.size == cs);
        if (g)
            vnode_put(g);
        free(buf);
    }

    /* The same with a file of one cluster: its latest position is at the
     * first cluster, the one the next write asks for. */
    g = make(root, "regrow1", S_IFREG | 0644);
    if (g) {
        char *buf = malloc(cs);
        memset(buf, 'a', cs);
        CHECK(ops->write(g, 0, buf, cs) == cs);
        CHECK(ops->truncate(g, 0) == 0);
        memset(buf, 'M', cs);
        CHECK(ops->write(g, 0, buf, cs) == cs);
        vnode_put(g);
        g = print_ends(root, "regrow1");
        if (g)
            vnode_put(g);
        free(buf);
    }

    /* A file created empty and kept open: its (empty) chain's length is
     * known from the start, and the first write's new cluster is added to
     * it, so later writes inside that cluster need no FAT lookup to know
     * there is room: the second and third 1-byte writes cost the same. */
    g = make(root, "grown", S_IFREG | 0644);
    if (g) {
        CHECK(ops->write(g, 0, "a", 1) == 1);
        uint64_t before = lookups();
        CHECK(ops->write(g, 1, "b", 1) == 1);
        printf("write_2_in_first_cluster=%llu\n", (unsigned long long)(lookups() - before));
        before = lookups();
        CHECK(ops->write(g, 2, "c", 1) == 1);
        printf("write_3_in_first_cluster=%llu\n", (unsigned long long)(lookups() - before));
        vnode_put(g);
    }

    /* The same after a truncate: cutting a file kept open to two clusters
     * leaves its chain's length known, so a write inside the new last
     * cluster costs what a second such write does. */
    make_file(root, "cut", 3);
    g = look(root, "cut");
    if (g) {
        CHECK(ops->truncate(g, 2 * (uint64_t)cs) == 0);
        uint64_t before = lookups();
        CHECK(ops->write(g, cs + 1, "b", 1) == 1);
        printf("write_after_cut=%llu\n", (unsigned long long)(lookups() - before));
        before = lookups();
        CHECK(ops->write(g, cs + 2, "c", 1) == 1);
        printf("write_again_after_cut=%llu\n", (unsigned long long)(lookups() - before));
        /* and it grows again from its new end: two more clusters */
        CHECK(ops->write(g, 3 * (uint64_t)cs + 5, "d", 1) == 1);
        vnode_put(g);
        g = look(root, "cut");
        char got[4] = {0, 0, 0, 0};
        CHECK(g && ops->read(g, 0, &got[0], 1) == 1 && ops->read(g, cs + 1, &got[1], 1) == 1 &&
              ops->read(g, 2 * (uint64_t)cs, &got[2], 1) == 1 && ops->read(g, 3 * (uint64_t)cs + 5, &got[3], 1) == 1);
        CHECK(got[0] == C(0) && got[1] == 'b' && got[2] == 0 && got[3] == 'd');
        CHECK(g && ops->stat(g, &st) == 0 && st.size == 3 * (uint64_t)cs + 6);
        if (g)
            vnode_put(g);
    }

    /* A transfer's run of adjacent clusters is the clusters the transfer
     * needs, no more (fat_file_io): the position it leaves is the last
     * cluster moved. Reading cluster 10 whole, then a byte of cluster 11,
     * costs one FAT step and the data block (2); reading 4097 clusters in
     * one call (runs of at most 4096), then a byte of cluster 4095, costs the
     * data block alone: the previous position is there. */
    make_file(root, "runs", 4100);
    f = look(root, "runs");
    if (f) {
        char *big = malloc((size_t)4097 * cs);
        CHECK(ops->read(f, 10 * (uint64_t)cs, big, cs) == cs && big[0] == C(10) && big[cs - 1] == C(10));
        printf("read_11_after_whole_10=%llu\n", (unsigned long long)read_cost(f, 11, C(11)));
        vnode_put(f);
        f = look(root, "runs");
        CHECK(f && ops->read(f, 0, big, (size_t)4097 * cs) == (int64_t)4097 * cs && big[(size_t)4096 * cs] == C(4096));
        if (f) {
            printf("read_4095_after_4097=%llu\n", (unsigned long long)read_cost(f, 4095, C(4095)));
            vnode_put(f);
        }
        free(big);
    }
    CHECK(ops->unlink(root, "runs", 4) == 0);

    /* A file in two runs (clusters 0-4 and 5-9, another file's cluster
     * between them): reading clusters 0-7 in one call moves through the
     * second run only as far as cluster 7, so a byte of cluster 8 then costs
     * one FAT step and the data block (2). */
    make_file(root, "frag", 5);
    make_file(root, "frag_b", 1);
    f = look(root, "frag");
    if (f) {
        char *buf = malloc((size_t)10 * cs);
        for (uint32_t i = 0; i < 5; i++)
            memset(buf + (size_t)i * cs, C(i + 5), cs);
        CHECK(ops->write(f, 5 * (uint64_t)cs, buf, (size_t)5 * cs) == (int64_t)5 * cs);
        vnode_put(f);
        f = look(root, "frag");
        CHECK(f && ops->read(f, 0, buf, (size_t)8 * cs) == (int64_t)8 * cs && buf[(size_t)7 * cs] == C(7));
        if (f) {
            printf("read_8_after_0_to_7=%llu\n", (unsigned long long)read_cost(f, 8, C(8)));
            vnode_put(f);
        }
        free(buf);
    }

    /* A walk that finds the chain's end leaves the position at its last
     * cluster: a write inside the last cluster of a 100-cluster file, on a
     * fresh vnode, walks the chain once (to learn its length) and then
     * writes there without a second walk -- it costs about what reading a
     * byte of that cluster on a fresh vnode does (one walk). */
    make_file(root, "tail", 100);
    f = look(root, "tail");
    if (f) {
        printf("read_99_fresh=%llu\n", (unsigned long long)read_cost(f, 99, C(99)));
        vnode_put(f);
    }
    f = look(root, "tail");
    if (f) {
        uint64_t before = lookups();
        CHECK(ops->write(f, 100 * (uint64_t)cs - 1, "z", 1) == 1);
        printf("write_in_99_fresh=%llu\n", (unsigned long long)(lookups() - before));
        vnode_put(f);
    }
    CHECK(ops->unlink(root, "tail", 4) == 0);

    /* A directory kept open whose entries fill its one cluster exactly (no
     * end marker): a lookup that finds nothing reads to the chain's end; once
     * that end is known, the next such lookup reads the directory's block
     * and not the FAT. */
    struct vnode *d = make(root, "full", S_IFDIR | 0755);
    if (d) {
        make_numbered(d, "F%d", (int)(cs / 32 - 2));   /* '.' and '..' take two entries */
        uint64_t before = lookups();
        CHECK(look(d, "NOPE") == NULL);
        printf("failed_lookup_1=%llu\n", (unsigned long long)(lookups() - before));
        before = lookups();
        CHECK(look(d, "NOPE") == NULL);
        printf("failed_lookup_2=%llu\n", (unsigned long long)(lookups() - before));
        CHECK(ops->stat(d, &st) == 0 && st.size == cs);
        vnode_put(d);
    }

    /* A subdirectory kept open: the lookup of a name that is not there
     * says where it would go (fat_plan), and the create that follows uses
     * that place without scanning the directory again, so it costs the
     * same in a directory of 40 files (3 clusters) as in one of 156 (10
     * clusters); neither needs to grow. */
    d = make(root, "plan", S_IFDIR | 0755);
    if (d) {
        const int counts[2] = {40, 156};
        for (int k = 0, made = 0; k < 2; k++) {
            char fmt[16], name[16];
            snprintf(fmt, sizeof fmt, "P%d_%%d", k);
            make_numbered(d, fmt, counts[k] - made);
            made = counts[k];
            snprintf(name, sizeof name, "NEW%d", counts[k]);
            CHECK(look(d, name) == NULL);
            uint64_t before = lookups();
            struct vnode *v = make(d, name, S_IFREG | 0644);
            printf("create_after_lookup_%d=%llu\n", counts[k], (unsigned long long)(lookups() - before));
            CHECK(v != NULL);
            if (v)
                vnode_put(v);
        }
        /* A removal changes where a name would go: after a failed lookup
         * of NEWX, an unlink of the directory's first file (its one entry,
         * the first free slot now), a create of NEWX takes that slot. */
        struct vnode *p0 = look(d, "P0_0");
        uint64_t freed = p0 ? p0->ino : 0;
        vnode_put(p0);
        CHECK(look(d, "NEWX") == NULL);
        CHECK(ops->unlink(d, "P0_0", 4) == 0);
        struct vnode *x = make(d, "NEWX", S_IFREG | 0644);
        printf("create_after_unlink_in_the_freed_slot=%d\n", x && freed && x->ino == freed);
        if (x)
            vnode_put(x);
        vnode_put(d);
    }

    return finish(root);
}
