/*
 * ext2, revision 1 as today's mke2fs writes it (Card, Ts'o, Tweedie 1994;
 * the on-disk layout is e2fsprogs' lib/ext2fs/ext2_fs.h).
 *
 * Layout: the superblock at byte 1024; block groups of blocks_per_group
 * blocks, each described by a 32-byte group descriptor (the table starts in
 * the block after the superblock) naming its block bitmap, inode bitmap and
 * inode table. An inode maps file blocks through 12 direct pointers and a
 * single, double and triple indirect block. A directory is a file of
 * variable-length entries (inode, rec_len, name_len, file_type, name) that
 * tile each block exactly.
 *
 * What this implementation keeps where:
 *  - the superblock's free counts and the group descriptors live in memory
 *    (computed/read at mount) and reach the buffer cache on sync(), like
 *    Linux's ext2; bitmaps, inodes and directories go through the buffer
 *    cache directly;
 *  - each vnode carries a copy of its 128-byte inode, written through to the
 *    inode table whenever it changes (the VFS guarantees one vnode per inode,
 *    so every change to an inode goes through its vnode).
 * Simplifications: no htree (dir_index directories are read as linear ones
 * and lose their index flag when changed, as the format allows); no block
 * preallocation; new inodes go to the parent's group (directories to the
 * group with the most free blocks); backup superblocks and descriptors are
 * left as mke2fs wrote them (e2fsck only compares the primary); times are
 * whole seconds; ownership is root's.
 *
 * Hostile images: every pointer read from disk is range-checked before use
 * (inode numbers against the inode count, block numbers against the block
 * count, directory records against their block), directory holes and
 * double frees are -EIO, and every loop is bounded by on-disk sizes that
 * were checked, so a corrupted image gives errors, never a crash or a hang.
 */
#include <pyos/fs.h>
#include <pyos/fs_env.h>

#define EXT2_MAGIC 0xEF53
#define EXT2_ROOT_INO 2
#define EXT2_NDIR 12
#define EXT2_GOOD_OLD_INODE_SIZE 128
#define EXT2_VALID_FS 1

/* Features (s_feature_*): what this plugin understands. */
#define COMPAT_ANY_OK 1   /* compat features never stop a mount */
#define INCOMPAT_FILETYPE 0x0002
#define INCOMPAT_FLEX_BG 0x0200             /* only moves metadata: the descriptors say where */
#define INCOMPAT_SUPPORTED (INCOMPAT_FILETYPE | INCOMPAT_FLEX_BG)
#define RO_COMPAT_SPARSE_SUPER 0x0001
#define RO_COMPAT_LARGE_FILE 0x0002
#define RO_COMPAT_DIR_NLINK 0x0020
#define RO_COMPAT_EXTRA_ISIZE 0x0040
#define RO_COMPAT_SUPPORTED (RO_COMPAT_SPARSE_SUPER | RO_COMPAT_LARGE_FILE | RO_COMPAT_DIR_NLINK | \
                             RO_COMPAT_EXTRA_ISIZE)

/* Inode flags that change how i_block is read. */
#define EXT2_INDEX_FL 0x00001000        /* htree directory: readable as linear */
#define EXT4_EXTENTS_FL 0x00080000
#define EXT4_INLINE_DATA_FL 0x10000000

#define EXT2_FT_REG 1
#define EXT2_FT_DIR 2
#define EXT2_FT_CHR 3
#define EXT2_FT_BLK 4
#define EXT2_FT_FIFO 5
#define EXT2_FT_SOCK 6
#define EXT2_FT_SYMLINK 7

#define S_IFLNK_ 0120000
#define S_ISLNK_(m) (((m) & S_IFMT) == S_IFLNK_)

#define EXT2_LINK_MAX 65000
#define EXT_ATTR_MAGIC 0xEA020000u
#define NONE 0xffffffffu

struct ext2_super {
    uint32_t inodes_count, blocks_count, r_blocks_count, free_blocks_count, free_inodes_count;
    uint32_t first_data_block, log_block_size, log_frag_size, blocks_per_group, frags_per_group;
    uint32_t inodes_per_group, mtime, wtime;
    uint16_t mnt_count, max_mnt_count, magic, state, errors, minor_rev_level;
    uint32_t lastcheck, checkinterval, creator_os, rev_level;
    uint16_t def_resuid, def_resgid;
    uint32_t first_ino;                        /* offset 84 */
    uint16_t inode_size, block_group_nr;
    uint32_t feature_compat, feature_incompat, feature_ro_compat;   /* offset 92 */
    uint8_t uuid[16];
    char volume_name[16];
    char last_mounted[64];
    uint32_t algo_bitmap;                      /* offset 200 */
    uint8_t prealloc_blocks, prealloc_dir_blocks;
    uint16_t reserved_gdt_blocks;
    uint8_t journal_uuid[16];                  /* offset 208 */
    uint32_t journal_inum, journal_dev, last_orphan;
    uint32_t hash_seed[4];
    uint8_t def_hash_version, jnl_backup_type;
    uint16_t desc_size;
    uint32_t default_mount_opts, first_meta_bg, mkfs_time;
    uint32_t jnl_blocks[17];
    uint32_t blocks_count_hi, r_blocks_count_hi, free_blocks_hi;   /* offset 336 */
    uint16_t min_extra_isize, want_extra_isize;                    /* offset 348 */
} __attribute__((packed));

struct ext2_gd {
    uint32_t block_bitmap, inode_bitmap, inode_table;
    uint16_t free_blocks_count, free_inodes_count, used_dirs_count, flags;
    uint32_t exclude_bitmap;
    uint16_t block_bitmap_csum, inode_bitmap_csum, itable_unused, checksum;
} __attribute__((packed));

struct ext2_inode {
    uint16_t mode, uid;
    uint32_t size, atime, ctime, mtime, dtime;
    uint16_t gid, links_count;
    uint32_t blocks;            /* 512-byte units, indirect and EA blocks included */
    uint32_t flags, osd1;
    uint32_t block[15];
    uint32_t generation, file_acl, size_high, faddr;
    uint16_t blocks_hi, file_acl_high, uid_high, gid_high, checksum_lo, reserved;
};

struct ext2_dirent {
    uint32_t inode;
    uint16_t rec_len;
    uint8_t name_len, file_type;
    char name[];
} __attribute__((packed));

_Static_assert(sizeof(struct ext2_super) == 352, "superblock layout");
_Static_assert(sizeof(struct ext2_gd) == 32, "group descriptor layout");
_Static_assert(sizeof(struct ext2_inode) == 128, "inode layout");

struct ext2_fs {
    struct fs_mount *m;
    struct blkdev *dev;
    struct ext2_super sb;           /* the first 352 bytes as read at mount */
    uint32_t bsize, apb;            /* block size; block addresses per block */
    uint32_t blocks_count, inodes_count, first_data_block;
    uint32_t bpg, ipg, ngroups, isize, first_ino, itb_per_group;
    uint32_t gd_blocks;
    uint32_t sb_block, sb_offset;   /* where the superblock sits in bsize units */
    struct ext2_gd *gd;             /* all descriptors, kept current */
    uint8_t *gd_dirty;              /* per descriptor block */
    uint32_t free_blocks, free_inodes;
    int sb_dirty;
    int filetype;                   /* dirents carry a file type byte */
    int readonly;
    uint64_t max_bytes;             /* largest file size */
    uint16_t extra_isize;           /* i_extra_isize of new inodes */
};

struct ext2_vn {
    struct ext2_inode in;
    uint32_t ino;
    uint32_t goal;                  /* next block to try when extending */
};

#define FSOF(v) ((struct ext2_fs *)(v)->mount->priv)
#define VN(v) ((struct ext2_vn *)(v)->priv)

static uint32_t align4(uint32_t n) { return (n + 3) & ~3u; }

static uint32_t now32(void)
{
    uint64_t t = fs_time_now();
    return t > 0xffffffffull ? 0xffffffffu : (uint32_t)t;
}

/* ---------- blocks ---------- */

static int block_ok(struct ext2_fs *fs, uint32_t b)
{
    return b > fs->first_data_block && b < fs->blocks_count;
}

static struct buf *fs_bread(struct ext2_fs *fs, uint32_t b)
{
    if (b >= fs->blocks_count)
        return NULL;
    return bread(fs->dev, b, fs->bsize);
}

typedef uint64_t word_alias __attribute__((may_alias));

/* First clear bit in [start, nbits) of a bitmap, or NONE; whole 64-bit words
 * at a time where they are full (bitmaps are block-aligned). */
static uint32_t find_zero(const uint8_t *map, uint32_t start, uint32_t nbits)
{
    uint32_t i = start;
    while (i < nbits) {
        if ((i & 63) == 0 && i + 64 <= nbits) {
            if (*(const word_alias *)(map + i / 8) == ~0ull) {
                i += 64;
                continue;
            }
        }
        if ((i & 7) == 0 && i + 8 <= nbits && map[i / 8] == 0xff) {
            i += 8;
            continue;
        }
        if (!(map[i / 8] & (1u << (i & 7))))
            return i;
        i++;
    }
    return NONE;
}

static uint32_t group_blocks(struct ext2_fs *fs, uint32_t g)
{
    uint32_t start = fs->first_data_block + g * fs->bpg;
    uint32_t left = fs->blocks_count - start;
    return left < fs->bpg ? left : fs->bpg;
}

static void gd_changed(struct ext2_fs *fs, uint32_t g)
{
    fs->gd_dirty[g * sizeof(struct ext2_gd) / fs->bsize] = 1;
    fs->sb_dirty = 1;
}

/* Allocate one block, near `goal` if that is a valid block. */
static int alloc_block(struct ext2_fs *fs, uint32_t goal, uint32_t *out)
{
    if (fs->free_blocks == 0)
        return -ENOSPC;
    uint32_t g0 = 0, bit0 = 0;
    if (goal >= fs->first_data_block && goal < fs->blocks_count) {
        g0 = (goal - fs->first_data_block) / fs->bpg;
        bit0 = (goal - fs->first_data_block) % fs->bpg;
    }
    for (uint32_t i = 0; i < fs->ngroups; i++) {
        uint32_t g = (g0 + i) % fs->ngroups;
        if (fs->gd[g].free_blocks_count == 0)
            continue;
        struct buf *b = fs_bread(fs, fs->gd[g].block_bitmap);
        if (!b)
            return -EIO;
        uint32_t n = group_blocks(fs, g);
        uint32_t from = g == 0;     /* group 0's bit 0 is the superblock's block: in use, whatever a corrupt bitmap says */
        uint32_t bit = NONE;
        if (i == 0 && bit0 < n)
            bit = find_zero(b->data, bit0 > from ? bit0 : from, n);
        if (bit == NONE)
            bit = find_zero(b->data, from, n);
        if (bit == NONE) {      /* the descriptor's count was wrong */
            brelse(b);
            printk("ext2: group %u: free block count %u but its bitmap is full\n", g,
                   fs->gd[g].free_blocks_count);
            continue;
        }
        b->data[bit / 8] |= 1u << (bit & 7);
        bdirty(b);
        brelse(b);
        fs->gd[g].free_blocks_count--;
        fs->free_blocks--;
        gd_changed(fs, g);
        *out = fs->first_data_block + g * fs->bpg + bit;
        return 0;
    }
    return -ENOSPC;
}

static int free_block(struct ext2_fs *fs, uint32_t blk)
{
    if (!block_ok(fs, blk))
        return -EIO;
    uint32_t g = (blk - fs->first_data_block) / fs->bpg, bit = (blk - fs->first_data_block) % fs->bpg;
    struct buf *b = fs_bread(fs, fs->gd[g].block_bitmap);
    if (!b)
        return -EIO;
    if (!(b->data[bit / 8] & (1u << (bit & 7)))) {
        brelse(b);
        printk("ext2: freeing block %u, which is already free\n", blk);
        return -EIO;
    }
    b->data[bit / 8] &= ~(1u << (bit & 7));
    bdirty(b);
    brelse(b);
    fs->gd[g].free_blocks_count++;
    fs->free_blocks++;
    gd_changed(fs, g);
    return 0;
}

/* ---------- inodes ---------- */

static int alloc_inode(struct ext2_fs *fs, uint32_t parent, int is_dir, uint32_t *out)
{
    if (fs->free_inodes == 0)
        return -ENOSPC;
    uint32_t g0 = parent >= 1 && parent <= fs->inodes_count ? (parent - 1) / fs->ipg : 0;
    if (is_dir) {             /* spread directories: the group with the most free blocks */
        uint32_t best = NONE;
        for (uint32_t g = 0; g < fs->ngroups; g++)
            if (fs->gd[g].free_inodes_count &&
                (best == NONE || fs->gd[g].free_blocks_count > fs->gd[best].free_blocks_count))
                best = g;
        if (best != NONE)
            g0 = best;
    }
    for (uint32_t i = 0; i < fs->ngroups; i++) {
        uint32_t g = (g0 + i) % fs->ngroups;
        if (fs->gd[g].free_inodes_count == 0)
            continue;
        struct buf *b = fs_bread(fs, fs->gd[g].inode_bitmap);
        if (!b)
            return -EIO;
        uint32_t n = fs->ipg;
        if ((uint64_t)g * fs->ipg + n > fs->inodes_count)
            n = fs->inodes_count - g * fs->ipg;
        /* the reserved inodes (below first_ino) may reach past group 0 when groups are small */
        uint64_t first = (uint64_t)g * fs->ipg;
        uint32_t start = fs->first_ino - 1 > first ? (uint32_t)(fs->first_ino - 1 - first) : 0;
        uint32_t bit = start < n ? find_zero(b->data, start, n) : NONE;
        if (bit == NONE) {
            brelse(b);
            printk("ext2: group %u: free inode count %u but its bitmap is full\n", g,
                   fs->gd[g].free_inodes_count);
            continue;
        }
        b->data[bit / 8] |= 1u << (bit & 7);
        bdirty(b);
        brelse(b);
        fs->gd[g].free_inodes_count--;
        if (is_dir)
            fs->gd[g].used_dirs_count++;
        fs->free_inodes--;
        gd_changed(fs, g);
        *out = g * fs->ipg + bit + 1;
        return 0;
    }
    return -ENOSPC;
}

static int free_inode(struct ext2_fs *fs, uint32_t ino, int is_dir)
{
    uint32_t g = (ino - 1) / fs->ipg, bit = (ino - 1) % fs->ipg;
    struct buf *b = fs_bread(fs, fs->gd[g].inode_bitmap);
    if (!b)
        return -EIO;
    if (!(b->data[bit / 8] & (1u << (bit & 7)))) {
        brelse(b);
        printk("ext2: freeing inode %u, which is already free\n", ino);
        return -EIO;
    }
    b->data[bit / 8] &= ~(1u << (bit & 7));
    bdirty(b);
    brelse(b);
    fs->gd[g].free_inodes_count++;
    if (is_dir && fs->gd[g].used_dirs_count)
        fs->gd[g].used_dirs_count--;
    fs->free_inodes++;
    gd_changed(fs, g);
    return 0;
}

static struct buf *inode_buf(struct ext2_fs *fs, uint32_t ino, uint32_t *off)
{
    if (ino < 1 || ino > fs->inodes_count)
        return NULL;
    uint32_t g = (ino - 1) / fs->ipg, idx = (ino - 1) % fs->ipg;
    uint64_t byte = (uint64_t)idx * fs->isize;
    *off = byte % fs->bsize;
    return fs_bread(fs, fs->gd[g].inode_table + (uint32_t)(byte / fs->bsize));
}

static int inode_load(struct ext2_fs *fs, uint32_t ino, struct ext2_inode *out)
{
    uint32_t off;
    struct buf *b = inode_buf(fs, ino, &off);
    if (!b)
        return -EIO;
    memcpy(out, b->data + off, sizeof *out);
    brelse(b);
    return 0;
}

/* Write the 128-byte core; `fresh`: a new inode, whose extra space is reset too. */
static int inode_store(struct ext2_fs *fs, uint32_t ino, const struct ext2_inode *in, int fresh)
{
    uint32_t off;
    struct buf *b = inode_buf(fs, ino, &off);
    if (!b)
        return -EIO;
    if (fresh && fs->isize > EXT2_GOOD_OLD_INODE_SIZE) {
        memset(b->data + off + EXT2_GOOD_OLD_INODE_SIZE, 0, fs->isize - EXT2_GOOD_OLD_INODE_SIZE);
        memcpy(b->data + off + EXT2_GOOD_OLD_INODE_SIZE, &fs->extra_isize, 2);
    }
    memcpy(b->data + off, in, sizeof *in);
    bdirty(b);
    brelse(b);
    return 0;
}

static int vn_store(struct ext2_fs *fs, struct vnode *v)
{
    v->mode = VN(v)->in.mode;
    return inode_store(fs, VN(v)->ino, &VN(v)->in, 0);
}

static uint64_t i_size(const struct ext2_inode *in)
{
    uint64_t s = in->size;
    if (S_ISREG(in->mode))
        s |= (uint64_t)in->size_high << 32;
    return s;
}

static void set_size(struct ext2_inode *in, uint64_t s)
{
    in->size = (uint32_t)s;
    if (S_ISREG(in->mode))
        in->size_high = (uint32_t)(s >> 32);
}

/* Does i_block hold block pointers? (Fast symlinks keep their target there,
 * device files their numbers.) */
static int has_blocks(struct ext2_fs *fs, const struct ext2_inode *in)
{
    if (S_ISREG(in->mode) || S_ISDIR(in->mode))
        return 1;
    if (S_ISLNK_(in->mode)) {
        uint32_t ea = in->file_acl ? fs->bsize / 512 : 0;
        return in->blocks > ea;
    }
    return 0;
}

static uint8_t ftype_of(uint32_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG: return EXT2_FT_REG;
    case S_IFDIR: return EXT2_FT_DIR;
    case S_IFCHR: return EXT2_FT_CHR;
    case 0060000: return EXT2_FT_BLK;
    case S_IFIFO: return EXT2_FT_FIFO;
    case 0140000: return EXT2_FT_SOCK;
    case S_IFLNK_: return EXT2_FT_SYMLINK;
    }
    return 0;
}

static uint32_t mode_of_ftype(uint8_t t)
{
    static const uint32_t modes[8] = {0, S_IFREG, S_IFDIR, S_IFCHR, 0060000, S_IFIFO, 0140000, S_IFLNK_};
    return t < 8 ? modes[t] : 0;
}

/* ---------- block map ---------- */

/* The physical block of file block `lblk` (0: a hole). With `create`, holes on
 * the path are filled (indirect blocks zeroed); *fresh says the data block is
 * new (its contents are not on disk yet). The caller stores the inode. */
/* How many blocks, from idx[l+1..depth], a hole at level l of a path spans. */
static uint64_t hole_span(struct ext2_fs *fs, const uint32_t *idx, int l, int depth)
{
    uint64_t span = 1, pos = 0;
    for (int k = depth; k > l; k--) {
        pos += idx[k] * span;
        span *= fs->apb;
    }
    return span - pos;
}

static int bmap_hole(struct ext2_fs *fs, struct ext2_vn *vn, uint64_t lblk, int create, uint32_t *out, int *fresh,
                     uint64_t *hole);

static int bmap(struct ext2_fs *fs, struct ext2_vn *vn, uint64_t lblk, int create, uint32_t *out, int *fresh)
{
    return bmap_hole(fs, vn, lblk, create, out, fresh, NULL);
}

/* A block just allocated gets a zeroed buffer before anything points at it:
 * an indirect block must read as zeros, and a data block the caller then
 * fails to fill must not join the file with its old contents (a later
 * partial write would read them back). No buffer: the block is given back. */
static int zeroed(struct ext2_fs *fs, uint32_t b)
{
    struct buf *z = bget_zero(fs->dev, b, fs->bsize);
    if (!z) {
        free_block(fs, b);
        return 0;
    }
    brelse(z);
    return 1;
}

/* bmap, and for a hole (*out 0) how many blocks it spans from lblk on.
 * *fresh (if asked): the data block is new, and its buffer is cached and zero. */
static int bmap_hole(struct ext2_fs *fs, struct ext2_vn *vn, uint64_t lblk, int create, uint32_t *out, int *fresh,
                     uint64_t *hole)
{
    uint64_t apb = fs->apb;
    uint32_t idx[4];
    int depth;
    *out = 0;
    if (fresh)
        *fresh = 0;
    if (vn->in.flags & (EXT4_EXTENTS_FL | EXT4_INLINE_DATA_FL))
        return -EIO;
    if (lblk < EXT2_NDIR) {
        depth = 0;
        idx[0] = (uint32_t)lblk;
    } else if ((lblk -= EXT2_NDIR) < apb) {
        depth = 1;
        idx[0] = 12;
        idx[1] = (uint32_t)lblk;
    } else if ((lblk -= apb) < apb * apb) {
        depth = 2;
        idx[0] = 13;
        idx[1] = (uint32_t)(lblk / apb);
        idx[2] = (uint32_t)(lblk % apb);
    } else if ((lblk -= apb * apb) < apb * apb * apb) {
        depth = 3;
        idx[0] = 14;
        idx[1] = (uint32_t)(lblk / (apb * apb));
        idx[2] = (uint32_t)(lblk / apb % apb);
        idx[3] = (uint32_t)(lblk % apb);
    } else {
        return -EFBIG;
    }
    uint32_t per_block = fs->bsize / 512;
    uint32_t b = vn->in.block[idx[0]];
    if (b == 0) {
        if (!create) {
            if (hole)
                *hole = hole_span(fs, idx, 0, depth);
            return 0;
        }
        uint32_t goal = vn->goal;       /* after the last block allocated, or the previous block */
        if (!goal && idx[0] > 0 && idx[0] <= EXT2_NDIR && vn->in.block[idx[0] - 1])
            goal = vn->in.block[idx[0] - 1] + 1;
        if (!goal)
            goal = fs->gd[(vn->ino - 1) / fs->ipg].inode_table + fs->itb_per_group;
        int r = alloc_block(fs, goal, &b);
        if (r)
            return r;
        if (!zeroed(fs, b))
            return -EIO;
        if (depth == 0 && fresh)
            *fresh = 1;
        vn->in.block[idx[0]] = b;
        vn->in.blocks += per_block;
        vn->goal = b + 1;
    } else if (!block_ok(fs, b)) {
        return -EIO;
    }
    for (int l = 1; l <= depth; l++) {
        struct buf *bp = fs_bread(fs, b);
        if (!bp)
            return -EIO;
        uint32_t *slot = (uint32_t *)bp->data + idx[l];
        uint32_t nb = *slot;
        if (nb == 0) {
            if (!create) {
                brelse(bp);
                if (hole)
                    *hole = hole_span(fs, idx, l, depth);
                return 0;
            }
            uint32_t goal = vn->goal ? vn->goal : idx[l] > 0 && slot[-1] ? slot[-1] + 1 : b + 1;
            int r = alloc_block(fs, goal, &nb);
            if (r) {
                brelse(bp);
                return r;
            }
            if (!zeroed(fs, nb)) {
                brelse(bp);
                return -EIO;
            }
            if (l == depth && fresh)
                *fresh = 1;
            *slot = nb;
            bdirty(bp);
            vn->in.blocks += per_block;
            vn->goal = nb + 1;
        } else if (!block_ok(fs, nb)) {
            brelse(bp);
            return -EIO;
        }
        brelse(bp);
        b = nb;
    }
    *out = b;
    return 0;
}

/* Free a whole subtree: `level` 0 is a data block, 1..3 indirect blocks.
 * Indirect blocks stay held while their children are freed (at most three
 * at a time), so no copies. */
static int free_tree(struct ext2_fs *fs, struct ext2_vn *vn, uint32_t b, int level)
{
    if (!block_ok(fs, b))
        return -EIO;
    if (level > 0) {
        struct buf *bp = fs_bread(fs, b);
        if (!bp)
            return -EIO;
        const uint32_t *ptrs = (const uint32_t *)bp->data;
        for (uint32_t i = 0; i < fs->apb; i++) {
            if (!ptrs[i])
                continue;
            int r = free_tree(fs, vn, ptrs[i], level - 1);
            if (r) {
                brelse(bp);
                return r;
            }
        }
        brelse(bp);
    }
    int r = free_block(fs, b);
    if (r)
        return r;
    uint32_t per_block = fs->bsize / 512;
    vn->in.blocks = vn->in.blocks >= per_block ? vn->in.blocks - per_block : 0;
    return 0;
}

/* Free the blocks of the subtree at b (level >= 1) from index `from` on;
 * b itself stays. */
static int free_partial(struct ext2_fs *fs, struct ext2_vn *vn, uint32_t b, int level, uint64_t from)
{
    uint64_t span = 1;
    for (int l = 1; l < level; l++)
        span *= fs->apb;
    uint32_t first = (uint32_t)(from / span);
    uint64_t sub = from % span;
    if (!block_ok(fs, b))
        return -EIO;
    struct buf *bp = fs_bread(fs, b);
    if (!bp)
        return -EIO;
    uint32_t *ptrs = (uint32_t *)bp->data;
    int r = 0;
    for (uint32_t i = first; i < fs->apb && !r; i++) {
        if (!ptrs[i])
            continue;
        if (i == first && sub) {
            r = free_partial(fs, vn, ptrs[i], level - 1, sub);
        } else {
            r = free_tree(fs, vn, ptrs[i], level - 1);
            ptrs[i] = 0;
            bdirty(bp);
        }
    }
    brelse(bp);
    return r;
}

/* Free every block of the file from file block `first` on (the caller stores the inode). */
static int free_from(struct ext2_fs *fs, struct ext2_vn *vn, uint64_t first)
{
    int r = 0;
    for (uint64_t i = first; i < EXT2_NDIR && !r; i++) {
        if (vn->in.block[i]) {
            r = free_tree(fs, vn, vn->in.block[i], 0);
            vn->in.block[i] = 0;
        }
    }
    uint64_t base = EXT2_NDIR, span = fs->apb;
    for (int level = 1; level <= 3 && !r; level++, base += span, span *= fs->apb) {
        uint32_t *p = &vn->in.block[EXT2_NDIR + level - 1];
        if (!*p)
            continue;
        if (first <= base) {
            r = free_tree(fs, vn, *p, level);
            *p = 0;
        } else if (first < base + span) {
            r = free_partial(fs, vn, *p, level, first - base);
        }
    }
    vn->goal = 0;
    return r;
}

/* Zero the bytes of the block holding offset `from` that lie at and after it
 * (so that a file grown later reads zeros there). */
static int zero_tail(struct ext2_fs *fs, struct ext2_vn *vn, uint64_t from)
{
    uint32_t boff = from % fs->bsize;
    if (boff == 0)
        return 0;
    uint32_t pb;
    int r = bmap(fs, vn, from / fs->bsize, 0, &pb, NULL);
    if (r || !pb)
        return r;
    struct buf *b = fs_bread(fs, pb);
    if (!b)
        return -EIO;
    memset(b->data + boff, 0, fs->bsize - boff);
    bdirty(b);
    brelse(b);
    return 0;
}

/* The inode is gone from every directory and from memory: free it all. */
static void free_whole_inode(struct ext2_fs *fs, struct ext2_vn *vn)
{
    int is_dir = S_ISDIR(vn->in.mode);
    if (has_blocks(fs, &vn->in))
        free_from(fs, vn, 0);
    if (vn->in.file_acl) {      /* a shared extended-attribute block: drop our reference */
        struct buf *b = block_ok(fs, vn->in.file_acl) ? fs_bread(fs, vn->in.file_acl) : NULL;
        if (b) {
            uint32_t magic, refs;
            memcpy(&magic, b->data, 4);
            memcpy(&refs, b->data + 4, 4);
            if (magic == EXT_ATTR_MAGIC && refs > 1) {
                refs--;
                memcpy(b->data + 4, &refs, 4);
                bdirty(b);
                brelse(b);
            } else {
                brelse(b);
                if (magic == EXT_ATTR_MAGIC)
                    free_block(fs, vn->in.file_acl);
            }
        }
        vn->in.file_acl = 0;
    }
    /* e2fsck: a deleted inode must have a dtime, and one below s_inodes_count
     * is a link of the orphan list (ext3's), not a time: with the clock
     * unknown (0) or that early, the smallest value that is a time. */
    uint32_t t = now32();
    vn->in.dtime = t >= fs->inodes_count ? t : fs->inodes_count;
    vn->in.links_count = 0;
    vn->in.blocks = 0;
    set_size(&vn->in, 0);
    inode_store(fs, vn->ino, &vn->in, 0);
    free_inode(fs, vn->ino, is_dir);
}

/* ---------- directories ---------- */

struct dirslot {
    uint32_t pblk, off, prev;       /* prev: offset of the previous record in the block, or NONE */
};

/* Check the record at `off` of a directory block; NULL if it is nonsense. A
 * record is at least 12 bytes (EXT2_DIR_REC_LEN(1): Linux's ext2_check_page
 * and e2fsck call a shorter one corrupt, even an unused one). */
static struct ext2_dirent *dirent_at(struct ext2_fs *fs, uint8_t *blk, uint32_t off)
{
    if (off + 8 > fs->bsize)
        return NULL;
    struct ext2_dirent *d = (struct ext2_dirent *)(blk + off);
    uint32_t rl = d->rec_len;
    if (rl < 12 || (rl & 3) || off + rl > fs->bsize)
        return NULL;
    if (!fs->filetype && d->file_type)      /* the high byte of a 16-bit name_len */
        return NULL;
    if ((uint32_t)d->name_len + 8 > rl || d->inode > fs->inodes_count)
        return NULL;
    return d;
}

static int dir_nblocks(struct ext2_fs *fs, const struct ext2_inode *in, uint32_t *n)
{
    if (in->size % fs->bsize)
        return -EIO;
    *n = in->size / fs->bsize;
    return 0;
}

static int is_dot(const struct ext2_dirent *d)
{
    return (d->name_len == 1 && d->name[0] == '.') || (d->name_len == 2 && d->name[0] == '.' && d->name[1] == '.');
}

/* Find `name` in a directory: its inode number and file type, and where its record is. */
static int dir_find(struct ext2_fs *fs, struct ext2_vn *dir, const char *name, size_t len,
                    uint32_t *ino, uint8_t *ftype, struct dirslot *slot)
{
    uint32_t n;
    int r = dir_nblocks(fs, &dir->in, &n);
    if (r)
        return r;
    for (uint32_t lb = 0; lb < n; lb++) {
        uint32_t pb;
        r = bmap(fs, dir, lb, 0, &pb, NULL);
        if (r)
            return r;
        if (!pb)
            return -EIO;         /* directories have no holes */
        struct buf *b = fs_bread(fs, pb);
        if (!b)
            return -EIO;
        uint32_t prev = NONE;
        for (uint32_t off = 0; off < fs->bsize;) {
            struct ext2_dirent *d = dirent_at(fs, b->data, off);
            if (!d) {
                brelse(b);
                printk("ext2: directory inode %u block %u: bad entry at %u\n", dir->ino, lb, off);
                return -EIO;
            }
            if (d->inode && d->name_len == len && memcmp(d->name, name, len) == 0) {
                *ino = d->inode;
                if (ftype)
                    *ftype = fs->filetype ? d->file_type : 0;
                if (slot) {
                    slot->pblk = pb;
                    slot->off = off;
                    slot->prev = prev;
                }
                brelse(b);
                return 0;
            }
            prev = off;
            off += d->rec_len;
        }
        brelse(b);
    }
    return -ENOENT;
}

static void dirent_fill(struct ext2_fs *fs, struct ext2_dirent *d, uint32_t ino, const char *name, size_t len,
                        uint8_t ftype)
{
    d->inode = ino;
    d->name_len = (uint8_t)len;
    d->file_type = fs->filetype ? ftype : 0;
    memcpy(d->name, name, len);
}

static void dir_touch(struct ext2_vn *dir)
{
    dir->in.mtime = dir->in.ctime = now32();
    dir->in.flags &= ~EXT2_INDEX_FL;    /* any htree index is stale now: read it as linear */
}

/* Add an entry (the name is known to be absent); the caller stores the directory inode. */
static int dir_add(struct ext2_fs *fs, struct ext2_vn *dir, const char *name, size_t len, uint32_t ino,
                   uint8_t ftype)
{
    uint32_t need = align4(8 + (uint32_t)len), n;
    int r = dir_nblocks(fs, &dir->in, &n);
    if (r)
        return r;
    for (uint32_t lb = 0; lb < n; lb++) {
        uint32_t pb;
        r = bmap(fs, dir, lb, 0, &pb, NULL);
        if (r)
            return r;
        if (!pb)
            return -EIO;
        struct buf *b = fs_bread(fs, pb);
        if (!b)
            return -EIO;
        for (uint32_t off = 0; off < fs->bsize;) {
            struct ext2_dirent *d = dirent_at(fs, b->data, off);
            if (!d) {
                brelse(b);
                return -EIO;
            }
            uint32_t used = d->inode ? align4(8 + d->name_len) : 0;
            if (d->rec_len - used >= need) {
                if (used) {     /* split the slack off the end of this record */
                    struct ext2_dirent *nd = (struct ext2_dirent *)(b->data + off + used);
                    nd->rec_len = (uint16_t)(d->rec_len - used);
                    d->rec_len = (uint16_t)used;
                    d = nd;
                }
                dirent_fill(fs, d, ino, name, len, ftype);
                bdirty(b);
                brelse(b);
                dir_touch(dir);
                return 0;
            }
            off += d->rec_len;
        }
        brelse(b);
    }
    /* No room: a new block at the end. */
    uint32_t pb;
    int fresh;
    r = bmap(fs, dir, n, 1, &pb, &fresh);
    if (r)
        return r;
    struct buf *b = bget_zero(fs->dev, pb, fs->bsize);
    if (!b)
        return -EIO;
    struct ext2_dirent *d = (struct ext2_dirent *)b->data;
    d->rec_len = (uint16_t)fs->bsize;
    dirent_fill(fs, d, ino, name, len, ftype);
    bdirty(b);
    brelse(b);
    dir->in.size += fs->bsize;
    dir_touch(dir);
    return 0;
}

/* Remove the record at `slot`: merged into the previous record, or (first in
 * its block) marked unused. */
static int dir_remove(struct ext2_fs *fs, struct ext2_vn *dir, const struct dirslot *slot)
{
    struct buf *b = fs_bread(fs, slot->pblk);
    if (!b)
        return -EIO;
    struct ext2_dirent *d = (struct ext2_dirent *)(b->data + slot->off);
    if (slot->prev == NONE) {
        d->inode = 0;
    } else {
        struct ext2_dirent *p = (struct ext2_dirent *)(b->data + slot->prev);
        p->rec_len = (uint16_t)(p->rec_len + d->rec_len);
    }
    bdirty(b);
    brelse(b);
    dir_touch(dir);
    return 0;
}

static int dir_repoint(struct ext2_fs *fs, const struct dirslot *slot, uint32_t ino, uint8_t ftype)
{
    struct buf *b = fs_bread(fs, slot->pblk);
    if (!b)
        return -EIO;
    struct ext2_dirent *d = (struct ext2_dirent *)(b->data + slot->off);
    d->inode = ino;
    if (fs->filetype)
        d->file_type = ftype;
    bdirty(b);
    brelse(b);
    return 0;
}

/* 1 if only ".", ".." and unused records, 0 if not, or -errno. */
static int dir_empty(struct ext2_fs *fs, struct ext2_vn *dir)
{
    uint32_t n;
    int r = dir_nblocks(fs, &dir->in, &n);
    if (r)
        return r;
    for (uint32_t lb = 0; lb < n; lb++) {
        uint32_t pb;
        r = bmap(fs, dir, lb, 0, &pb, NULL);
        if (r)
            return r;
        if (!pb)
            return -EIO;
        struct buf *b = fs_bread(fs, pb);
        if (!b)
            return -EIO;
        for (uint32_t off = 0; off < fs->bsize;) {
            struct ext2_dirent *d = dirent_at(fs, b->data, off);
            if (!d) {
                brelse(b);
                return -EIO;
            }
            if (d->inode && !is_dot(d)) {
                brelse(b);
                return 0;
            }
            off += d->rec_len;
        }
        brelse(b);
    }
    return 1;
}

static int name_ok(size_t len)
{
    if (len == 0)
        return -ENOENT;
    if (len > FS_NAME_MAX)
        return -ENAMETOOLONG;
    return 0;
}

static int writable(struct ext2_fs *fs)
{
    return fs->readonly ? -EROFS : 0;
}

/* ---------- fs_ops ---------- */

static const struct {
    uint32_t bit;
    const char *name;
} incompat_names[] = {
    {0x0001, "compression"}, {0x0004, "needs_recovery"}, {0x0008, "journal_dev"},
    {0x0010, "meta_bg"}, {0x0040, "extent"}, {0x0080, "64bit"}, {0x0100, "mmp"},
    {0x0400, "ea_inode"}, {0x1000, "dirdata"}, {0x2000, "metadata_csum_seed"},
    {0x4000, "large_dir"}, {0x8000, "inline_data"}, {0x10000, "encrypt"}, {0x20000, "casefold"},
}, ro_compat_names[] = {
    {0x0004, "btree_dir"}, {0x0008, "huge_file"}, {0x0010, "uninit_bg"}, {0x0080, "snapshot"},
    {0x0100, "quota"}, {0x0200, "bigalloc"}, {0x0400, "metadata_csum"}, {0x0800, "replica"},
    {0x1000, "read-only"}, {0x2000, "project"}, {0x4000, "shared_blocks"}, {0x8000, "verity"},
    {0x10000, "orphan_present"},
};

static void name_features(const char *kind, uint32_t bits, int incompat)
{
    size_t count = incompat ? sizeof incompat_names / sizeof incompat_names[0]
                            : sizeof ro_compat_names / sizeof ro_compat_names[0];
    for (size_t i = 0; i < count; i++) {
        uint32_t bit = incompat ? incompat_names[i].bit : ro_compat_names[i].bit;
        if (bits & bit) {
            printk("ext2: unsupported %s feature '%s'\n", kind,
                   incompat ? incompat_names[i].name : ro_compat_names[i].name);
            bits &= ~bit;
        }
    }
    if (bits)
        printk("ext2: unknown %s feature bits 0x%x\n", kind, bits);
}

static int bad_super(const char *why)
{
    printk("ext2: bad superblock: %s\n", why);
    return -EINVAL;
}

static void fs_free(struct ext2_fs *fs)
{
    if (!fs)
        return;
    kfree(fs->gd);
    kfree(fs->gd_dirty);
    kfree(fs);
}

static int ext2_mount(struct fs_mount *m)
{
    struct buf *b = bread(m->dev, 1, 1024);
    if (!b)
        return -EINVAL;
    struct ext2_super sb;
    memcpy(&sb, b->data, sizeof sb);
    brelse(b);
    if (sb.magic != EXT2_MAGIC)
        return -EINVAL;
    if (sb.log_block_size > 2 || (1024u << sb.log_block_size) > BLK_MAX_BLOCK_SIZE)
        return bad_super("block size");
    uint32_t bsize = 1024u << sb.log_block_size;
    if (sb.rev_level > 1)
        return bad_super("revision level above 1");
    uint32_t isize = sb.rev_level ? sb.inode_size : EXT2_GOOD_OLD_INODE_SIZE;
    uint32_t first_ino = sb.rev_level ? sb.first_ino : 11;
    if (isize < EXT2_GOOD_OLD_INODE_SIZE || isize > bsize || (isize & (isize - 1)))
        return bad_super("inode size");
    if (sb.first_data_block != (bsize == 1024 ? 1u : 0u))
        return bad_super("first data block");
    if (sb.blocks_per_group < 8 || sb.blocks_per_group > 8 * bsize || (sb.blocks_per_group & 7))
        return bad_super("blocks per group");
    if (sb.inodes_per_group < 8 || sb.inodes_per_group > 8 * bsize)
        return bad_super("inodes per group");
    if (sb.blocks_count <= sb.first_data_block + 2)
        return bad_super("block count");
    uint32_t ngroups = (sb.blocks_count - sb.first_data_block + sb.blocks_per_group - 1) / sb.blocks_per_group;
    if (sb.inodes_count == 0 || sb.inodes_count > (uint64_t)ngroups * sb.inodes_per_group ||
        sb.inodes_count <= (uint64_t)(ngroups - 1) * sb.inodes_per_group)
        return bad_super("inode count");
    if (first_ino <= EXT2_ROOT_INO || first_ino > sb.inodes_count)
        return bad_super("first inode");
    if ((uint64_t)sb.blocks_count * (bsize / 512) > m->dev->sectors) {
        printk("ext2: the filesystem has %u blocks of %u bytes but %s holds only %llu sectors\n",
               sb.blocks_count, bsize, m->dev->name, (unsigned long long)m->dev->sectors);
        return -EINVAL;
    }
    uint32_t incompat = sb.feature_incompat & ~INCOMPAT_SUPPORTED;
    if (incompat) {
        name_features("incompatible", incompat, 1);
        printk("ext2: refusing to mount %s\n", m->dev->name);
        return -ENOSYS;
    }
    int readonly = m->readonly || m->dev->readonly;
    uint32_t ro = sb.feature_ro_compat & ~RO_COMPAT_SUPPORTED;
    if (ro && !readonly) {
        name_features("read-only compatible", ro, 0);
        printk("ext2: refusing to mount %s for writing (mount it read-only)\n", m->dev->name);
        return -EROFS;
    }

    struct ext2_fs *fs = kmalloc(sizeof *fs);
    if (!fs)
        return -ENOMEM;
    memset(fs, 0, sizeof *fs);
    fs->m = m;
    fs->dev = m->dev;
    fs->sb = sb;
    fs->bsize = bsize;
    fs->apb = bsize / 4;
    fs->blocks_count = sb.blocks_count;
    fs->inodes_count = sb.inodes_count;
    fs->first_data_block = sb.first_data_block;
    fs->bpg = sb.blocks_per_group;
    fs->ipg = sb.inodes_per_group;
    fs->ngroups = ngroups;
    fs->isize = isize;
    fs->first_ino = first_ino;
    fs->itb_per_group = (uint32_t)(((uint64_t)sb.inodes_per_group * isize + bsize - 1) / bsize);
    fs->gd_blocks = (uint32_t)(((uint64_t)ngroups * sizeof(struct ext2_gd) + bsize - 1) / bsize);
    fs->sb_block = 1024 / bsize;
    fs->sb_offset = 1024 % bsize;
    fs->filetype = !!(sb.feature_incompat & INCOMPAT_FILETYPE);
    fs->readonly = readonly;
    fs->extra_isize = 0;
    if (isize > EXT2_GOOD_OLD_INODE_SIZE) {
        uint32_t want = sb.want_extra_isize > sb.min_extra_isize ? sb.want_extra_isize : sb.min_extra_isize;
        if (want == 0 || want > isize - EXT2_GOOD_OLD_INODE_SIZE || (want & 3))
            want = isize - EXT2_GOOD_OLD_INODE_SIZE >= 32 ? 32 : 4;
        fs->extra_isize = (uint16_t)want;
    }
    /* Largest file: what the block map addresses, what i_blocks (512-byte
     * units, 32 bits) can count with the indirect blocks, and 2 GiB without large_file. */
    uint64_t apb = fs->apb;
    uint64_t addressable = EXT2_NDIR + apb + apb * apb + apb * apb * apb;
    uint64_t countable = (0xffffffffull / (bsize / 512)) - (1 + 1 + apb + 1 + apb + apb * apb);
    fs->max_bytes = (addressable < countable ? addressable : countable) * bsize;
    if (!(sb.feature_ro_compat & RO_COMPAT_LARGE_FILE) && fs->max_bytes > 0x7fffffffull)
        fs->max_bytes = 0x7fffffffull;
    if (fs->sb_block + 1 + fs->gd_blocks > fs->blocks_count || fs->first_data_block + 1 != fs->sb_block + 1) {
        fs_free(fs);
        return bad_super("group descriptor table");
    }

    fs->gd = kmalloc((size_t)fs->gd_blocks * bsize);
    fs->gd_dirty = kmalloc(fs->gd_blocks);
    if (!fs->gd || !fs->gd_dirty) {
        fs_free(fs);
        return -ENOMEM;
    }
    memset(fs->gd_dirty, 0, fs->gd_blocks);
    for (uint32_t i = 0; i < fs->gd_blocks; i++) {
        struct buf *gb = bread(m->dev, fs->first_data_block + 1 + i, bsize);
        if (!gb) {
            fs_free(fs);
            return -EIO;
        }
        memcpy((uint8_t *)fs->gd + (size_t)i * bsize, gb->data, bsize);
        brelse(gb);
    }
    uint64_t free_blocks = 0, free_inodes = 0;
    for (uint32_t g = 0; g < ngroups; g++) {
        struct ext2_gd *d = &fs->gd[g];
        if (d->block_bitmap <= fs->first_data_block || d->block_bitmap >= fs->blocks_count ||
            d->inode_bitmap <= fs->first_data_block || d->inode_bitmap >= fs->blocks_count ||
            d->inode_table <= fs->first_data_block ||
            (uint64_t)d->inode_table + fs->itb_per_group > fs->blocks_count ||
            d->free_blocks_count > group_blocks(fs, g) || d->free_inodes_count > fs->ipg) {
            printk("ext2: group descriptor %u is corrupt\n", g);
            fs_free(fs);
            return -EIO;
        }
        free_blocks += d->free_blocks_count;
        free_inodes += d->free_inodes_count;
    }
    if (free_blocks > fs->blocks_count || free_inodes > fs->inodes_count) {
        printk("ext2: group descriptors count more free blocks or inodes than exist\n");
        fs_free(fs);
        return -EIO;
    }
    fs->free_blocks = (uint32_t)free_blocks;
    fs->free_inodes = (uint32_t)free_inodes;
    fs->sb_dirty = free_blocks != sb.free_blocks_count || free_inodes != sb.free_inodes_count;
    if (!(sb.state & EXT2_VALID_FS))
        printk("ext2: %s was not cleanly unmounted; run e2fsck on it\n", m->dev->name);

    m->priv = fs;
    int err = 0;
    struct vnode *root = vnode_get(m, EXT2_ROOT_INO, &err);
    if (!root) {
        m->priv = NULL;
        fs_free(fs);
        return err ? err : -EIO;
    }
    if (!S_ISDIR(root->mode)) {
        printk("ext2: the root inode is not a directory\n");
        vnode_put(root);
        m->priv = NULL;
        fs_free(fs);
        return -EIO;
    }
    m->root = root;
    return 0;
}

static int ext2_sync(struct fs_mount *m)
{
    struct ext2_fs *fs = m->priv;
    if (fs->readonly)
        return 0;
    int err = 0;
    for (uint32_t i = 0; i < fs->gd_blocks; i++) {
        if (!fs->gd_dirty[i])
            continue;
        struct buf *b = fs_bread(fs, fs->first_data_block + 1 + i);
        if (!b) {
            err = -EIO;
            continue;
        }
        memcpy(b->data, (uint8_t *)fs->gd + (size_t)i * fs->bsize, fs->bsize);
        bdirty(b);
        brelse(b);
        fs->gd_dirty[i] = 0;
    }
    if (fs->sb_dirty) {
        struct buf *b = fs_bread(fs, fs->sb_block);
        if (!b)
            return -EIO;
        struct ext2_super *sb = (struct ext2_super *)(b->data + fs->sb_offset);
        sb->free_blocks_count = fs->free_blocks;
        sb->free_inodes_count = fs->free_inodes;
        uint32_t t = now32();
        if (t)
            sb->wtime = t;
        bdirty(b);
        brelse(b);
        fs->sb_dirty = 0;
    }
    return err;
}

static int ext2_unmount(struct fs_mount *m)
{
    struct ext2_fs *fs = m->priv;
    int r = ext2_sync(m);
    fs_free(fs);
    m->priv = NULL;
    return r;
}

static int ext2_statfs(struct fs_mount *m, struct fs_statfs *out)
{
    struct ext2_fs *fs = m->priv;
    memset(out, 0, sizeof *out);
    out->block_size = fs->bsize;
    out->blocks = fs->blocks_count;
    out->blocks_free = fs->free_blocks;
    out->files = fs->inodes_count;
    out->files_free = fs->free_inodes;
    strncpy_z(out->type, "ext2", sizeof out->type);
    return 0;
}

static int ext2_read_vnode(struct vnode *v)
{
    struct ext2_fs *fs = FSOF(v);
    if (v->ino < 1 || v->ino > fs->inodes_count || (v->ino < fs->first_ino && v->ino != EXT2_ROOT_INO)) {
        printk("ext2: inode number %llu is out of range\n", (unsigned long long)v->ino);
        return -EIO;
    }
    struct ext2_vn *vn = kmalloc(sizeof *vn);
    if (!vn)
        return -ENOMEM;
    memset(vn, 0, sizeof *vn);
    vn->ino = (uint32_t)v->ino;
    int r = inode_load(fs, vn->ino, &vn->in);
    if (!r && (vn->in.links_count == 0 || vn->in.mode == 0)) {
        printk("ext2: inode %u is not in use\n", vn->ino);
        r = -EIO;
    }
    if (!r && S_ISREG(vn->in.mode) && i_size(&vn->in) > fs->max_bytes) {
        printk("ext2: inode %u has size %llu, more than ext2 can address\n", vn->ino,
               (unsigned long long)i_size(&vn->in));
        r = -EIO;
    }
    /* Directories have no holes: their size is a whole number of blocks,
     * all allocated (which also bounds every walk over one). */
    if (!r && S_ISDIR(vn->in.mode) &&
        (vn->in.size % fs->bsize || vn->in.size / fs->bsize > vn->in.blocks / (fs->bsize / 512))) {
        printk("ext2: directory inode %u has size %u with %u sectors allocated\n", vn->ino, vn->in.size,
               vn->in.blocks);
        r = -EIO;
    }
    if (r) {
        kfree(vn);
        return r;
    }
    v->priv = vn;
    v->mode = vn->in.mode;
    return 0;
}

static void ext2_release(struct vnode *v)
{
    struct ext2_fs *fs = FSOF(v);
    struct ext2_vn *vn = VN(v);
    if (!vn)
        return;
    if (vn->in.links_count == 0 && !fs->readonly)
        free_whole_inode(fs, vn);
    kfree(vn);
    v->priv = NULL;
}

static int ext2_lookup(struct vnode *dir, const char *name, size_t len, struct vnode **out)
{
    struct ext2_fs *fs = FSOF(dir);
    if (!S_ISDIR(dir->mode))
        return -ENOTDIR;
    int r = name_ok(len);
    if (r)
        return r;
    uint32_t ino;
    r = dir_find(fs, VN(dir), name, len, &ino, NULL, NULL);
    if (r)
        return r;
    int err = 0;
    *out = vnode_get(dir->mount, ino, &err);
    return *out ? 0 : (err ? err : -EIO);
}

static int ext2_stat(struct vnode *v, struct fs_stat *out)
{
    struct ext2_fs *fs = FSOF(v);
    struct ext2_vn *vn = VN(v);
    memset(out, 0, sizeof *out);
    out->ino = vn->ino;
    out->mode = vn->in.mode;
    out->nlink = vn->in.links_count;
    out->size = i_size(&vn->in);
    out->blocks = vn->in.blocks;
    out->mtime = vn->in.mtime;
    out->dev = v->mount->index;
    out->blksize = fs->bsize;
    return 0;
}

static int64_t ext2_read(struct vnode *v, uint64_t off, void *buf, size_t n)
{
    struct ext2_fs *fs = FSOF(v);
    struct ext2_vn *vn = VN(v);
    if (S_ISDIR(vn->in.mode))
        return -EISDIR;
    uint64_t size = i_size(&vn->in);
    if (off >= size)
        return 0;
    if (n > size - off)
        n = (size_t)(size - off);
    if (!has_blocks(fs, &vn->in)) {
        if (!S_ISLNK_(vn->in.mode) || size > sizeof vn->in.block)
            return -EINVAL;
        memcpy(buf, (uint8_t *)vn->in.block + off, n);
        return (int64_t)n;
    }
    size_t done = 0;
    while (done < n) {
        uint32_t boff = (uint32_t)(off % fs->bsize);
        size_t chunk = fs->bsize - boff;
        if (chunk > n - done)
            chunk = n - done;
        uint32_t pb;
        uint64_t hole = 1;
        int r = bmap_hole(fs, vn, off / fs->bsize, 0, &pb, NULL, &hole);
        if (r)
            return done ? (int64_t)done : r;
        if (!pb) {      /* the whole hole at once: sparse files read fast */
            uint64_t span = hole * fs->bsize - boff;
            if (span > n - done)
                span = n - done;
            chunk = (size_t)span;
            memset((uint8_t *)buf + done, 0, chunk);
        } else {
            struct buf *b = fs_bread(fs, pb);
            if (!b)
                return done ? (int64_t)done : -EIO;
            memcpy((uint8_t *)buf + done, b->data + boff, chunk);
            brelse(b);
        }
        done += chunk;
        off += chunk;
    }
    return (int64_t)done;
}

static int64_t ext2_write(struct vnode *v, uint64_t off, const void *buf, size_t n)
{
    struct ext2_fs *fs = FSOF(v);
    struct ext2_vn *vn = VN(v);
    int r = writable(fs);
    if (r)
        return r;
    if (S_ISDIR(vn->in.mode))
        return -EISDIR;
    if (!S_ISREG(vn->in.mode))
        return -EINVAL;
    if (n == 0)
        return 0;
    if (off >= fs->max_bytes)
        return -EFBIG;
    if (n > fs->max_bytes - off)
        n = (size_t)(fs->max_bytes - off);
    uint64_t size = i_size(&vn->in);
    if (off > size) {
        r = zero_tail(fs, vn, size);
        if (r)
            return r;
    }
    size_t done = 0;
    while (done < n) {
        uint32_t boff = (uint32_t)(off % fs->bsize);
        size_t chunk = fs->bsize - boff;
        if (chunk > n - done)
            chunk = n - done;
        uint32_t pb;
        int fresh;
        r = bmap(fs, vn, off / fs->bsize, 1, &pb, &fresh);
        if (r)
            break;
        struct buf *b = (fresh || chunk == fs->bsize) ? bget_zero(fs->dev, pb, fs->bsize) : fs_bread(fs, pb);
        if (!b) {
            r = -EIO;
            break;
        }
        memcpy(b->data + boff, (const uint8_t *)buf + done, chunk);
        bdirty(b);
        brelse(b);
        done += chunk;
        off += chunk;
        if (off > size)
            size = off;
    }
    set_size(&vn->in, size);
    if (done)
        vn->in.mtime = vn->in.ctime = now32();
    int s = vn_store(fs, v);
    if (done)
        return (int64_t)done;
    return r ? r : s;
}

static int ext2_truncate(struct vnode *v, uint64_t size)
{
    struct ext2_fs *fs = FSOF(v);
    struct ext2_vn *vn = VN(v);
    int r = writable(fs);
    if (r)
        return r;
    if (S_ISDIR(vn->in.mode))
        return -EISDIR;
    if (!S_ISREG(vn->in.mode))
        return -EINVAL;
    if (size > fs->max_bytes)
        return -EFBIG;
    uint64_t old = i_size(&vn->in);
    if (size > old) {
        r = zero_tail(fs, vn, old);
    } else if (size < old) {
        r = zero_tail(fs, vn, size);
        if (!r)
            r = free_from(fs, vn, (size + fs->bsize - 1) / fs->bsize);
    }
    set_size(&vn->in, size);
    vn->in.mtime = vn->in.ctime = now32();
    int s = vn_store(fs, v);
    return r ? r : s;
}

static int ext2_create(struct vnode *dir, const char *name, size_t len, uint32_t mode, struct vnode **out)
{
    struct ext2_fs *fs = FSOF(dir);
    struct ext2_vn *dvn = VN(dir);
    int r = writable(fs);
    if (r)
        return r;
    if (!S_ISDIR(dir->mode))
        return -ENOTDIR;
    if ((r = name_ok(len)))
        return r;
    if (dvn->in.links_count == 0)
        return -ENOENT;     /* a removed directory */
    int is_dir = S_ISDIR(mode);
    if (!is_dir && !S_ISREG(mode))
        return -EINVAL;
    uint32_t ino;
    r = dir_find(fs, dvn, name, len, &ino, NULL, NULL);
    if (r == 0)
        return -EEXIST;
    if (r != -ENOENT)
        return r;
    if (is_dir && dvn->in.links_count >= EXT2_LINK_MAX)
        return -EMLINK;
    r = alloc_inode(fs, dvn->ino, is_dir, &ino);
    if (r)
        return r;
    uint32_t perm = mode & 07777;
    if ((perm & 0777) == 0)
        perm |= is_dir ? 0755 : 0644;
    struct ext2_vn nv;
    memset(&nv, 0, sizeof nv);
    nv.ino = ino;
    nv.in.mode = (uint16_t)((is_dir ? S_IFDIR : S_IFREG) | perm);
    nv.in.atime = nv.in.ctime = nv.in.mtime = now32();
    nv.in.links_count = is_dir ? 2 : 1;
    if (is_dir) {
        uint32_t pb;
        int fresh;
        r = bmap(fs, &nv, 0, 1, &pb, &fresh);
        struct buf *b = r ? NULL : bget_zero(fs->dev, pb, fs->bsize);
        if (!b) {
            if (!r) {
                free_block(fs, pb);
                r = -EIO;
            }
            free_inode(fs, ino, 1);
            return r;
        }
        struct ext2_dirent *d = (struct ext2_dirent *)b->data;
        d->rec_len = 12;
        dirent_fill(fs, d, ino, ".", 1, EXT2_FT_DIR);
        d = (struct ext2_dirent *)(b->data + 12);
        d->rec_len = (uint16_t)(fs->bsize - 12);
        dirent_fill(fs, d, dvn->ino, "..", 2, EXT2_FT_DIR);
        bdirty(b);
        brelse(b);
        nv.in.size = fs->bsize;
    }
    r = inode_store(fs, ino, &nv.in, 1);
    if (!r)
        r = dir_add(fs, dvn, name, len, ino, is_dir ? EXT2_FT_DIR : EXT2_FT_REG);
    if (r) {        /* undo: the new inode was never linked */
        free_whole_inode(fs, &nv);
        vn_store(fs, dir);
        return r;
    }
    if (is_dir)
        dvn->in.links_count++;
    r = vn_store(fs, dir);
    if (r)
        return r;
    int err = 0;
    *out = vnode_get(dir->mount, ino, &err);
    return *out ? 0 : (err ? err : -EIO);
}

static int ext2_unlink(struct vnode *dir, const char *name, size_t len)
{
    struct ext2_fs *fs = FSOF(dir);
    int r = writable(fs);
    if (r)
        return r;
    if (!S_ISDIR(dir->mode))
        return -ENOTDIR;
    if ((r = name_ok(len)))
        return r;
    uint32_t ino;
    struct dirslot slot;
    r = dir_find(fs, VN(dir), name, len, &ino, NULL, &slot);
    if (r)
        return r;
    int err = 0;
    struct vnode *v = vnode_get(dir->mount, ino, &err);
    if (!v)
        return err ? err : -EIO;
    if (S_ISDIR(v->mode)) {
        vnode_put(v);
        return -EISDIR;
    }
    r = dir_remove(fs, VN(dir), &slot);
    if (!r)
        r = vn_store(fs, dir);
    if (!r) {
        if (VN(v)->in.links_count)
            VN(v)->in.links_count--;
        VN(v)->in.ctime = now32();
        r = vn_store(fs, v);
    }
    vnode_put(v);      /* the last reference frees an unlinked file */
    return r;
}

static int ext2_rmdir(struct vnode *dir, const char *name, size_t len)
{
    struct ext2_fs *fs = FSOF(dir);
    struct ext2_vn *dvn = VN(dir);
    int r = writable(fs);
    if (r)
        return r;
    if (!S_ISDIR(dir->mode))
        return -ENOTDIR;
    if ((r = name_ok(len)))
        return r;
    uint32_t ino;
    struct dirslot slot;
    r = dir_find(fs, dvn, name, len, &ino, NULL, &slot);
    if (r)
        return r;
    int err = 0;
    struct vnode *v = vnode_get(dir->mount, ino, &err);
    if (!v)
        return err ? err : -EIO;
    if (!S_ISDIR(v->mode)) {
        vnode_put(v);
        return -ENOTDIR;
    }
    r = dir_empty(fs, VN(v));
    if (r <= 0) {
        vnode_put(v);
        return r < 0 ? r : -ENOTEMPTY;
    }
    r = dir_remove(fs, dvn, &slot);
    if (!r) {
        if (dvn->in.links_count > 1 && dvn->in.links_count < EXT2_LINK_MAX)
            dvn->in.links_count--;      /* the child's ".." */
        r = vn_store(fs, dir);
    }
    if (!r) {
        VN(v)->in.links_count = 0;
        VN(v)->in.ctime = now32();
        r = vn_store(fs, v);
    }
    vnode_put(v);
    return r;
}

/* Is `anc` an ancestor of (or equal to) directory `ino`? Walks "..". */
static int is_ancestor(struct ext2_fs *fs, uint32_t anc, uint32_t ino)
{
    for (uint32_t steps = 0; steps < fs->inodes_count && steps < 65536; steps++) {
        if (ino == anc)
            return 1;
        if (ino == EXT2_ROOT_INO)
            return 0;
        if (ino < fs->first_ino)
            return -EIO;    /* a reserved inode is no directory of the tree (read_vnode refuses it too) */
        struct ext2_vn tmp;
        memset(&tmp, 0, sizeof tmp);
        tmp.ino = ino;
        int r = inode_load(fs, ino, &tmp.in);
        if (r)
            return r;
        if (!S_ISDIR(tmp.in.mode))
            return -EIO;
        r = dir_find(fs, &tmp, "..", 2, &ino, NULL, NULL);
        if (r)
            return r == -ENOENT ? -EIO : r;
    }
    return -EIO;    /* a ".." cycle */
}

static int ext2_rename(struct vnode *olddir, const char *oldname, size_t oldlen,
                       struct vnode *newdir, const char *newname, size_t newlen)
{
    struct ext2_fs *fs = FSOF(olddir);
    struct ext2_vn *odv = VN(olddir), *ndv = VN(newdir);
    int r = writable(fs);
    if (r)
        return r;
    if (!S_ISDIR(olddir->mode) || !S_ISDIR(newdir->mode))
        return -ENOTDIR;
    if ((r = name_ok(oldlen)) || (r = name_ok(newlen)))
        return r;
    if (ndv->in.links_count == 0)
        return -ENOENT;
    uint32_t src_ino;
    r = dir_find(fs, odv, oldname, oldlen, &src_ino, NULL, NULL);
    if (r)
        return r;
    int err = 0;
    struct vnode *src = vnode_get(olddir->mount, src_ino, &err), *tgt = NULL;
    if (!src)
        return err ? err : -EIO;
    int src_dir = S_ISDIR(src->mode);
    uint8_t ftype = ftype_of(src->mode);
    struct dirslot dotdot, slot;
    uint32_t x;
    if (src_dir) {
        r = dir_find(fs, VN(src), "..", 2, &x, NULL, &dotdot);
        if (r == -ENOENT)
            r = -EIO;
        if (!r && olddir != newdir) {
            r = is_ancestor(fs, src_ino, ndv->ino);
            if (r == 1)
                r = -EINVAL;    /* into itself */
        }
        if (r)
            goto out;
    }
    uint32_t tgt_ino;
    r = dir_find(fs, ndv, newname, newlen, &tgt_ino, NULL, &slot);
    if (r == 0) {
        if (tgt_ino == src_ino) {       /* two links to one file: nothing to do */
            r = 0;
            goto out;
        }
        tgt = vnode_get(newdir->mount, tgt_ino, &err);
        if (!tgt) {
            r = err ? err : -EIO;
            goto out;
        }
        if (src_dir && !S_ISDIR(tgt->mode)) {
            r = -ENOTDIR;
            goto out;
        }
        if (!src_dir && S_ISDIR(tgt->mode)) {
            r = -EISDIR;
            goto out;
        }
        if (src_dir) {
            r = dir_empty(fs, VN(tgt));
            if (r <= 0) {
                r = r < 0 ? r : -ENOTEMPTY;
                goto out;
            }
        }
        if (src_dir && newdir == src) {
            r = -EINVAL;
            goto out;
        }
        r = dir_repoint(fs, &slot, src_ino, ftype);
        if (r)
            goto out;
        dir_touch(ndv);
        if (S_ISDIR(tgt->mode)) {
            VN(tgt)->in.links_count = 0;
            if (ndv->in.links_count > 1 && ndv->in.links_count < EXT2_LINK_MAX)
                ndv->in.links_count--;  /* the target's ".." */
        } else if (VN(tgt)->in.links_count) {
            VN(tgt)->in.links_count--;
        }
        VN(tgt)->in.ctime = now32();
        vn_store(fs, tgt);
    } else if (r == -ENOENT) {
        if (src_dir && olddir != newdir && ndv->in.links_count >= EXT2_LINK_MAX) {
            r = -EMLINK;
            goto out;
        }
        r = dir_add(fs, ndv, newname, newlen, src_ino, ftype);
        if (r)
            goto out;
    } else {
        goto out;
    }
    /* The old name: found again, since adding may have reshaped its block. */
    r = dir_find(fs, odv, oldname, oldlen, &x, NULL, &slot);
    if (!r && x != src_ino)
        r = -EIO;
    if (!r)
        r = dir_remove(fs, odv, &slot);
    if (!r && src_dir && olddir != newdir) {
        r = dir_repoint(fs, &dotdot, ndv->ino, EXT2_FT_DIR);
        if (odv->in.links_count > 1 && odv->in.links_count < EXT2_LINK_MAX)
            odv->in.links_count--;
        if (ndv->in.links_count < EXT2_LINK_MAX)
            ndv->in.links_count++;
    }
    VN(src)->in.ctime = now32();
    vn_store(fs, src);
    vn_store(fs, olddir);
    if (newdir != olddir)
        vn_store(fs, newdir);
out:
    if (tgt)
        vnode_put(tgt);
    vnode_put(src);
    return r;
}

static int ext2_readdir(struct vnode *dir, uint64_t *cookie, struct fs_dirent *out)
{
    struct ext2_fs *fs = FSOF(dir);
    struct ext2_vn *dvn = VN(dir);
    if (!S_ISDIR(dir->mode))
        return -ENOTDIR;
    uint32_t n;
    int r = dir_nblocks(fs, &dvn->in, &n);
    if (r)
        return r;
    for (uint64_t lb = *cookie / fs->bsize; lb < n; lb++) {
        uint32_t pb;
        r = bmap(fs, dvn, lb, 0, &pb, NULL);
        if (r)
            return r;
        if (!pb)
            return -EIO;
        struct buf *b = fs_bread(fs, pb);
        if (!b)
            return -EIO;
        uint32_t start = lb == *cookie / fs->bsize ? (uint32_t)(*cookie % fs->bsize) : 0;
        for (uint32_t off = 0; off < fs->bsize;) {
            struct ext2_dirent *d = dirent_at(fs, b->data, off);
            if (!d) {
                brelse(b);
                return -EIO;
            }
            if (off >= start && d->inode && !is_dot(d)) {
                out->ino = d->inode;
                out->type = fs->filetype ? mode_of_ftype(d->file_type) : 0;
                out->name_len = d->name_len;
                memcpy(out->name, d->name, d->name_len);
                out->name[d->name_len] = 0;
                *cookie = lb * fs->bsize + off + d->rec_len;
                brelse(b);
                return 1;
            }
            off += d->rec_len;
        }
        brelse(b);
    }
    *cookie = (uint64_t)n * fs->bsize;
    return 0;
}

const struct fs_ops fs_plugin_ext2 = {
    .interface_version = FS_INTERFACE,
    .name = "ext2",
    .mount = ext2_mount,
    .unmount = ext2_unmount,
    .sync = ext2_sync,
    .statfs = ext2_statfs,
    .read_vnode = ext2_read_vnode,
    .release = ext2_release,
    .lookup = ext2_lookup,
    .stat = ext2_stat,
    .read = ext2_read,
    .write = ext2_write,
    .truncate = ext2_truncate,
    .create = ext2_create,
    .unlink = ext2_unlink,
    .rmdir = ext2_rmdir,
    .rename = ext2_rename,
    .readdir = ext2_readdir,
};
