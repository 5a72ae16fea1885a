/*
 * FAT32/FAT16 filesystem plugin: shared declarations of its three files.
 *
 *   fat_table.c  the FAT: entries, cluster chains, allocation, byte I/O
 *   fat_dir.c    directories: 8.3 and long names, scanning, adding, removing
 *   fat_ops.c    mount (BPB checks) and the struct fs_ops the VFS calls
 *
 * Identity: a file's ino is the disk byte offset of its 8.3 directory entry
 * divided by 32 (unique on the volume; stable while the entry stays put).
 * The root directory has ino 1 (offset 32 is inside the boot sector, never a
 * directory entry). rename() moves an entry, so an open file is re-keyed
 * (vnode_rekey); an unlinked file that is still open gets an "orphan" ino
 * above 2^62 so its old slot can be reused, and its clusters are freed when
 * the last reference goes (release()).
 *
 * Blocks: all I/O goes through the buffer cache at one block size per mount
 * (4096 bytes unless the device size is not a multiple of it), by byte
 * offset, so clusters smaller than a block, clusters not aligned to blocks
 * and FAT entries are handled alike; adjacent clusters of a file move in one
 * transfer, so a full-block overwrite never reads first. Every chain walk is bounded by the cluster count, so a FAT loop or
 * a cluster number out of range is -EIO, never a hang.
 */
#ifndef FS_FAT32_FAT_H
#define FS_FAT32_FAT_H

#include <pyos/fs_env.h>

#define FAT_EOC 0x0FFFFFFFu          /* canonical end of chain (FAT16 values are widened) */
#define FAT_BAD 0x0FFFFFF7u
#define FAT_FREE_UNKNOWN 0xFFFFFFFFu
#define FAT_ROOT_INO 1
#define FAT_ORPHAN_INO (1ULL << 62)
#define FAT_DIR_MAX 65536             /* entries in a directory (2 MiB), as the spec limits */
#define FAT_LFN_MAX 255               /* UTF-16 units in a long name */
#define FAT_FILE_MAX 0xFFFFFFFFull
#define FAT_TAILS_BYTES (FAT_DIR_MAX / 8 + 1)

#define ATTR_RO 0x01
#define ATTR_HIDDEN 0x02
#define ATTR_SYSTEM 0x04
#define ATTR_VOLUME 0x08
#define ATTR_DIR 0x10
#define ATTR_ARCHIVE 0x20
#define ATTR_LFN 0x0F

struct fat_node;
struct fat_found;

/* Where a name's entries go in a directory and its 8.3 name: worked out
 * by the scan of a lookup that found nothing, so the create that usually
 * follows need not scan again (valid while dir_gen has not moved). */
struct fat_plan {
    int valid;
    uint64_t gen;
    uint32_t dir_first;
    int dir_root;
    uint32_t nlen, start, nl;
    uint8_t sfn[11];
    uint16_t name[FAT_LFN_MAX];
};

struct fat_fs {
    struct fs_mount *m;
    struct blkdev *dev;
    uint32_t bsize, bshift;          /* buffer cache block size */
    int bits;                        /* 16 or 32 */
    uint32_t csize, cshift;          /* cluster size in bytes */
    uint32_t nfats, active_fat;
    uint64_t fat_start, fat_bytes;   /* byte offset of FAT 0; bytes per FAT */
    uint64_t root_start;             /* FAT16: the fixed root directory */
    uint32_t root_entries;
    uint32_t root_cluster;           /* FAT32 */
    uint64_t data_start;             /* byte offset of cluster 2 */
    uint32_t nclusters;              /* clusters 2 .. nclusters+1 exist */
    uint64_t fsinfo_off;             /* 0: no usable FSInfo sector */
    uint32_t free_count;             /* exact (counted or kept), FAT_FREE_UNKNOWN never after mount */
    uint32_t next_free;              /* last cluster allocated (the search starts after it) */
    int fsinfo_dirty;
    struct fat_node *nodes;          /* the live vnodes' state */
    struct fat_found *tmp;           /* work space (calls are serialised by the VFS lock) */
    uint8_t *tails;                  /* FAT_TAILS_BYTES: ~N numbers in use, while adding a name */
    struct fat_plan *plan;           /* where a name just looked up in vain would go (fat_dir.c) */
    uint64_t dir_gen;                /* bumped by every change to any directory's entries */
    uint32_t hint_first, hint_idx;   /* the last file readdir or a lookup gave (its first entry) */
    int hint_root;
    uint64_t orphan_seq;
};

struct fat_node {
    struct vnode *v;
    struct fat_node *next, *prev;
    int is_dir, is_root, unlinked;
    uint8_t attr;
    uint32_t first;                  /* first cluster (0: none; FAT16 root: fixed area) */
    uint32_t size;
    uint64_t dirent_off;             /* its 8.3 entry (0: root or unlinked) */
    uint32_t c_idx, c_cl;            /* chain position cache (c_cl 0: empty) */
    uint32_t p_idx, p_cl;            /* the position before its last move (p_cl 0: none): a name whose
                                      * entries straddle two clusters is looked up one cluster back */
    uint32_t n_cl, last_cl;          /* chain length cache (valid if len_known) */
    int len_known;
};

/* Little-endian fields. */
static inline uint32_t rd16(const uint8_t *p) { return p[0] | (uint32_t)p[1] << 8; }
static inline uint32_t rd32(const uint8_t *p) { return rd16(p) | rd16(p + 2) << 16; }
static inline void wr16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void wr32(uint8_t *p, uint32_t v) { wr16(p, v); wr16(p + 2, v >> 16); }

static inline int fat_valid(const struct fat_fs *fs, uint32_t c) { return c >= 2 && c <= fs->nclusters + 1; }
static inline uint64_t fat_cluster_off(const struct fat_fs *fs, uint32_t c)
{
    return fs->data_start + ((uint64_t)(c - 2) << fs->cshift);
}
static inline uint32_t fat_clusters_for(const struct fat_fs *fs, uint64_t bytes)
{
    return (uint32_t)((bytes + fs->csize - 1) >> fs->cshift);
}

/* A held buffer reused while consecutive accesses stay in its block. */
struct fat_cur {
    struct buf *b;
    /* directory scans: the last entry visited (pos_idx), its disk offset and
     * how many entries follow it in the same cluster, so the next call
     * carries on without a chain lookup */
    uint32_t pos_idx, pos_left;
    uint64_t pos_off;
    int pos_valid;
};
uint8_t *fat_cur_load(struct fat_fs *fs, struct fat_cur *c, uint64_t off);
static inline uint8_t *fat_cur_get(struct fat_fs *fs, struct fat_cur *c, uint64_t off)   /* NULL: -EIO */
{
    if (c->b && c->b->blockno == off >> fs->bshift)
        return c->b->data + (off & (fs->bsize - 1));
    return fat_cur_load(fs, c, off);
}
void fat_cur_done(struct fat_cur *c);

/* fat_table.c */
int fat_get(struct fat_fs *fs, uint32_t c, uint32_t *val);
int fat_set(struct fat_fs *fs, uint32_t c, uint32_t val);
int fat_count_free(struct fat_fs *fs);
int fat_alloc(struct fat_fs *fs, uint32_t prev, uint32_t *out);
int fat_free_chain(struct fat_fs *fs, uint32_t first);
int fat_chain_at(struct fat_fs *fs, struct fat_node *n, uint32_t idx, uint32_t *cl);
int fat_chain_run(struct fat_fs *fs, struct fat_node *n, uint32_t idx, uint32_t max, uint32_t *cl,
                  uint32_t *run);
int fat_chain_len(struct fat_fs *fs, struct fat_node *n, uint32_t *len);
int fat_extend(struct fat_fs *fs, struct fat_node *n, uint32_t want, int zero);
int fat_trim(struct fat_fs *fs, struct fat_node *n, uint32_t keep);
int fat_dev_io(struct fat_fs *fs, uint64_t off, void *rbuf, const void *wbuf, size_t n, int write);
int64_t fat_file_io(struct fat_fs *fs, struct fat_node *n, uint64_t off, void *rbuf, const void *wbuf,
                    size_t len, int write);

/* fat_dir.c */
struct fat_found {
    uint32_t idx, first_idx;         /* the 8.3 entry and its first long-name entry */
    uint64_t off;                    /* disk byte offset of the 8.3 entry */
    uint8_t raw[32];
    uint16_t name[260];              /* long name, or the 8.3 name as displayed */
    uint32_t nlen;
    uint16_t sname[13];
    uint32_t snlen;
};

int fat_name_from_utf8(const char *s, size_t len, uint16_t *out, uint32_t *outlen, int creating);
size_t fat_name_to_utf8(const uint16_t *u, uint32_t n, char *out, size_t cap);
int fat_dir_find(struct fat_fs *fs, struct fat_node *d, const uint16_t *name, uint32_t nlen,
                 struct fat_found *out);
void fat_dir_hint(struct fat_fs *fs, struct fat_node *d, uint32_t idx);
int fat_dir_next(struct fat_fs *fs, struct fat_node *d, uint32_t *idx, struct fat_found *out);
int fat_dir_add(struct fat_fs *fs, struct fat_node *d, const uint16_t *name, uint32_t nlen,
                const uint8_t *tmpl, uint64_t ignore_off, uint64_t *sfn_off);
int fat_dir_remove(struct fat_fs *fs, struct fat_node *d, const struct fat_found *f);
int fat_dir_empty(struct fat_fs *fs, uint32_t first);
void fat_stamp(uint8_t *raw, uint64_t now, int created);
uint64_t fat_entry_mtime(const uint8_t *raw);

#endif
