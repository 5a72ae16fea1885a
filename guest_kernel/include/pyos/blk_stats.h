/*
 * Block-device counters and the filesystem interface version, shared with
 * the VMM (read through cffi, like mm_stats.h): structs of fixed-width
 * integers, plain #defines and comments only.
 */
#ifndef PYOS_BLK_STATS_H
#define PYOS_BLK_STATS_H

#include <stdint.h>

#define FS_INTERFACE 1           /* what a filesystem plugin declares (pyos/fs.h) */
#define BLK_MAX_DEVICES 4        /* hda..hdd: two ATA channels, master and slave */
#define BLK_NAME_MAX 8

/* Per-device counters, kept in struct pyos_counters so the VMM reads them. */
struct blk_stats {
    uint64_t reads;          /* requests sent to the driver */
    uint64_t writes;
    uint64_t sectors_read;
    uint64_t sectors_written;
    uint64_t hits;           /* bread() found the block cached */
    uint64_t misses;
    uint64_t flushes;
    uint64_t errors;         /* driver requests that failed */
};

#endif
