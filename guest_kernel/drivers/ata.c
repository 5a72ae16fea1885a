/*
 * ATA disks by PIO (ATA/ATAPI-6): interrupt-driven, LBA28 and LBA48.
 *
 * Probe: both drives of the primary channel (0x1F0/0x3F6, IRQ 14) and, when
 * the command line says ata_secondary=1 (pyos-vmm places that channel only
 * with a third or fourth disk; QEMU's PC always has it), the secondary
 * (0x170/0x376, IRQ 15). A drive that reads status 0 or 0xFF after selection
 * is absent; one with the ATAPI signature is skipped. IDENTIFY DEVICE gives
 * the sector counts (words 60-61, or 100-103 when word 83 bit 10 says LBA48),
 * the model (27-46) and the largest READ/WRITE MULTIPLE block (47), which
 * SET MULTIPLE MODE then selects (at most 16 sectors).
 *
 * Requests: READ/WRITE MULTIPLE (or SECTORS) [EXT]; LBA48 only when the
 * request reaches past LBA28 or moves more than 256 sectors. The requesting
 * task sleeps on its channel until IRQ 14/15; the handler reads STATUS
 * (which lowers the line) and wakes it. A data block moves with one
 * `rep insw` (one VM exit) or `rep outsl` (32-bit: half the exits of
 * outsw, which arrive one per element on PVM-style hosts). Before the
 * scheduler runs (mounting root at boot) or with interrupts off (the sync at
 * power-off), the wait is `sti; hlt` until the interrupt instead. ERR or DF
 * in STATUS: the ERROR register is logged and the caller gets -EIO.
 *
 * Simplified: no DMA, no ATAPI, one request per channel at a time (the
 * channel's own sleep lock), and a request the device never answers times
 * out after ATA_TIMEOUT_MS only in the hlt wait.
 */
#include <pyos/blk.h>
#include <pyos/io.h>
#include <pyos/irq.h>
#include <pyos/kernel.h>
#include <pyos/string.h>
#include <pyos/syscall_nr.h>
#include <pyos/task.h>
#include <pyos/timer.h>
#include <pyos/x86.h>

/* Command block registers, as offsets from the channel's base port. */
#define REG_DATA 0
#define REG_ERROR 1        /* read */
#define REG_FEATURES 1     /* write */
#define REG_COUNT 2
#define REG_LBA0 3
#define REG_LBA1 4
#define REG_LBA2 5
#define REG_DEVICE 6
#define REG_STATUS 7       /* read: lowers INTRQ */
#define REG_COMMAND 7      /* write */
/* Control block: ALT STATUS (read, leaves INTRQ alone) / DEVICE CONTROL (write). */
#define CTL_NIEN 0x02
#define CTL_SRST 0x04
#define CTL_HOB 0x80

#define ST_ERR 0x01
#define ST_DRQ 0x08
#define ST_DF 0x20
#define ST_DRDY 0x40
#define ST_BSY 0x80

#define CMD_READ_SECTORS 0x20
#define CMD_READ_SECTORS_EXT 0x24
#define CMD_WRITE_SECTORS 0x30
#define CMD_WRITE_SECTORS_EXT 0x34
#define CMD_READ_MULTIPLE 0xC4
#define CMD_WRITE_MULTIPLE 0xC5
#define CMD_READ_MULTIPLE_EXT 0x29
#define CMD_WRITE_MULTIPLE_EXT 0x39
#define CMD_SET_MULTIPLE 0xC6
#define CMD_FLUSH_CACHE 0xE7
#define CMD_FLUSH_CACHE_EXT 0xEA
#define CMD_IDENTIFY 0xEC

#define ATA_TIMEOUT_MS 5000
#define MAX_MULTIPLE 16
#define LBA28_LIMIT (1ULL << 28)

struct channel {
    uint16_t base, ctl;
    int irq;
    volatile int irq_seen;      /* set by the handler */
    volatile uint8_t irq_status;
    int busy;                   /* the channel's sleep lock */
};

struct drive {
    struct channel *ch;
    int slave;
    int lba48;
    unsigned multiple;          /* sectors per DRQ block (1: READ/WRITE SECTORS) */
    char model[41];
    struct blkdev dev;
};

static struct channel channels[2] = {{0x1F0, 0x3F6, 14, 0, 0, 0}, {0x170, 0x376, 15, 0, 0, 0}};
static struct drive drives[4];
static int ndrives;

static uint8_t alt_status(struct channel *ch) { return inb(ch->ctl); }

/* The 400 ns a device may take to show a new status: four ALT STATUS reads. */
static void delay400(struct channel *ch)
{
    for (int i = 0; i < 4; i++)
        alt_status(ch);
}

static void ata_irq(int irq, struct trap_frame *frame)
{
    (void)frame;
    struct channel *ch = &channels[irq == 15];
    ch->irq_status = inb(ch->base + REG_STATUS);   /* acknowledges: INTRQ drops */
    ch->irq_seen = 1;
    task_wakeup(ch);
}

/* Poll ALT STATUS until BSY clears (probe, SRST, and the DRQ before a write's first block). */
static int wait_not_busy(struct channel *ch, uint8_t *status)
{
    uint64_t start = ticks, spins = 0;
    uint8_t st;
    while ((st = alt_status(ch)) & ST_BSY) {
        /* ticks advance only with interrupts on; the spin count bounds the rest */
        if (ticks - start > (uint64_t)ATA_TIMEOUT_MS * timer_hz / 1000 + 1 || ++spins > 2000000)
            return -EIO;
    }
    *status = st;
    return 0;
}

/* Sleep until the channel's interrupt; its STATUS value in *status. Call with interrupts off. */
static int wait_irq(struct channel *ch, uint8_t *status)
{
    uint64_t start = ticks;
    while (!ch->irq_seen) {
        if (task_can_block()) {
            task_block(ch);
        } else {
            sti_hlt();   /* the interrupt (or a timer tick) wakes us */
            cli();
            if (ticks - start > (uint64_t)ATA_TIMEOUT_MS * timer_hz / 1000 + 1) {
                printk("ata: no interrupt from the %s channel after %d ms\n", ch->irq == 14 ? "primary" : "secondary",
                       ATA_TIMEOUT_MS);
                return -EIO;
            }
        }
    }
    ch->irq_seen = 0;
    *status = ch->irq_status;
    return 0;
}

static void channel_lock(struct channel *ch)
{
    while (ch->busy)
        task_block(&ch->busy);
    ch->busy = 1;
}

static void channel_unlock(struct channel *ch)
{
    ch->busy = 0;
    task_wakeup(&ch->busy);
}

static int device_error(struct drive *d, const char *what, uint64_t lba, uint8_t status)
{
    uint8_t err = inb(d->ch->base + REG_ERROR);
    printk("ata: %s: %s at LBA %lu failed: status %#x error %#x%s%s%s\n", d->dev.name, what,
           (unsigned long)lba, status, err, err & 0x04 ? " (ABRT)" : "", err & 0x10 ? " (IDNF)" : "",
           err & 0x40 ? " (UNC)" : "");
    return -EIO;
}

/* Select the drive and load the task file for a command on [lba, lba+count). */
static void issue(struct drive *d, uint8_t command, uint64_t lba, uint32_t count, int ext)
{
    uint16_t b = d->ch->base;
    if (ext) {
        outb(b + REG_DEVICE, 0x40 | d->slave << 4);
        outb(b + REG_COUNT, (uint8_t)(count >> 8));        /* the "previous" (HOB) bytes first */
        outb(b + REG_LBA0, (uint8_t)(lba >> 24));
        outb(b + REG_LBA1, (uint8_t)(lba >> 32));
        outb(b + REG_LBA2, (uint8_t)(lba >> 40));
    } else {
        outb(b + REG_DEVICE, 0xE0 | d->slave << 4 | (uint8_t)(lba >> 24 & 0x0F));
    }
    outb(b + REG_COUNT, (uint8_t)count);
    outb(b + REG_LBA0, (uint8_t)lba);
    outb(b + REG_LBA1, (uint8_t)(lba >> 8));
    outb(b + REG_LBA2, (uint8_t)(lba >> 16));
    d->ch->irq_seen = 0;
    outb(b + REG_COMMAND, command);
}

/* Where sector s of a request lives: bufs[s / per] + (s % per) * 512. */
struct sg {
    void *const *bufs;
    uint32_t per;
};

/* Move `n` sectors from sector `s` of the request between the data port and
 * the buffers: one `rep insw` / `rep outsl` per piece within one buffer. */
static void pio_move(struct channel *ch, const struct sg *sg, uint32_t s, uint32_t n, int write)
{
    while (n) {
        uint32_t within = s % sg->per, piece = sg->per - within < n ? sg->per - within : n;
        uint8_t *p = (uint8_t *)sg->bufs[s / sg->per] + (uint64_t)within * SECTOR_SIZE;
        if (write) {
            uint64_t dwords = (uint64_t)piece * SECTOR_SIZE / 4;
            __asm__ volatile("rep outsl" : "+S"(p), "+c"(dwords) : "d"(ch->base) : "memory");
        } else {
            uint64_t words = (uint64_t)piece * SECTOR_SIZE / 2;
            __asm__ volatile("rep insw" : "+D"(p), "+c"(words) : "d"(ch->base) : "memory");
        }
        s += piece;
        n -= piece;
    }
}

/* One command moving `count` sectors (1..256, or 1..65536 with ext), from sector `first` of the request. */
static int transfer(struct drive *d, uint64_t lba, uint32_t count, const struct sg *sg, uint32_t first,
                    int write, int ext)
{
    struct channel *ch = d->ch;
    int multi = d->multiple > 1;
    uint8_t command = write ? (multi ? (ext ? CMD_WRITE_MULTIPLE_EXT : CMD_WRITE_MULTIPLE)
                                     : (ext ? CMD_WRITE_SECTORS_EXT : CMD_WRITE_SECTORS))
                            : (multi ? (ext ? CMD_READ_MULTIPLE_EXT : CMD_READ_MULTIPLE)
                                     : (ext ? CMD_READ_SECTORS_EXT : CMD_READ_SECTORS));
    uint8_t status;
    issue(d, command, lba, count == (ext ? 65536u : 256u) ? 0 : count, ext);
    uint32_t done = 0;
    while (done < count) {
        uint32_t block = count - done < d->multiple ? count - done : d->multiple;
        if (write && done == 0) {
            /* The first block: the device asks with DRQ, no interrupt. Later
             * ones: the interrupt that ends the previous block. */
            delay400(ch);
            if (wait_not_busy(ch, &status) < 0)
                return device_error(d, "write (busy)", lba, alt_status(ch));
        } else if (wait_irq(ch, &status) < 0) {
            return -EIO;
        }
        if ((status & (ST_ERR | ST_DF)) || !(status & ST_DRQ))
            return device_error(d, write ? "write" : "read", lba, status);
        pio_move(ch, sg, first + done, block, write);
        done += block;
    }
    if (write) {   /* the interrupt after the last block carries the final status */
        if (wait_irq(ch, &status) < 0)
            return -EIO;
        if (status & (ST_ERR | ST_DF))
            return device_error(d, "write", lba, status);
    } else if ((status = alt_status(ch)) & (ST_ERR | ST_DF)) {
        return device_error(d, "read", lba, status);
    }
    return 0;
}

static int request(struct blkdev *dev, uint64_t lba, uint32_t count, uint32_t per, void *const *bufs,
                   int write)
{
    struct drive *d = dev->driver;
    if (lba >= dev->sectors || count > dev->sectors - lba || !per)
        return -EIO;
    struct sg sg = {bufs, per};
    uint64_t flags = irq_save();
    channel_lock(d->ch);
    int r = 0;
    uint32_t first = 0;
    while (first < count && r == 0) {
        uint32_t left = count - first;
        int ext = d->lba48 && (lba + left > LBA28_LIMIT || left > 256);
        uint32_t n = left < (ext ? 65536u : 256u) ? left : (ext ? 65536u : 256u);
        r = transfer(d, lba, n, &sg, first, write, ext);
        lba += n;
        first += n;
    }
    channel_unlock(d->ch);
    irq_restore(flags);
    return r;
}

static int ata_read(struct blkdev *dev, uint64_t lba, uint32_t count, uint32_t per, void *const *bufs)
{
    return request(dev, lba, count, per, bufs, 0);
}

static int ata_write(struct blkdev *dev, uint64_t lba, uint32_t count, uint32_t per, void *const *bufs)
{
    return request(dev, lba, count, per, bufs, 1);
}

static int ata_flush(struct blkdev *dev)
{
    struct drive *d = dev->driver;
    uint64_t flags = irq_save();
    channel_lock(d->ch);
    uint8_t status;
    outb(d->ch->base + REG_DEVICE, 0xE0 | d->slave << 4);
    delay400(d->ch);
    d->ch->irq_seen = 0;
    outb(d->ch->base + REG_COMMAND, d->lba48 ? CMD_FLUSH_CACHE_EXT : CMD_FLUSH_CACHE);
    int r = wait_irq(d->ch, &status);
    if (r == 0 && (status & (ST_ERR | ST_DF)))
        r = device_error(d, "flush cache", 0, status);
    channel_unlock(d->ch);
    irq_restore(flags);
    return r;
}

static const struct blk_driver_ops ata_ops = {ata_read, ata_write, ata_flush};

/* IDENTIFY DEVICE by polling (probe time, nIEN set): 0 and the 256 words, or -1. */
static int identify(struct channel *ch, int slave, uint16_t *id)
{
    uint8_t st;
    outb(ch->base + REG_DEVICE, 0xA0 | slave << 4);
    delay400(ch);
    st = inb(ch->base + REG_STATUS);
    if (st == 0 || st == 0xFF)
        return -1;                             /* nothing there (or a floating bus) */
    outb(ch->base + REG_COUNT, 0);
    outb(ch->base + REG_LBA0, 0);
    outb(ch->base + REG_LBA1, 0);
    outb(ch->base + REG_LBA2, 0);
    outb(ch->base + REG_COMMAND, CMD_IDENTIFY);
    delay400(ch);
    if (inb(ch->ctl) == 0 || wait_not_busy(ch, &st) < 0)
        return -1;
    if (inb(ch->base + REG_LBA1) == 0x14 && inb(ch->base + REG_LBA2) == 0xEB)
        return -1;                             /* ATAPI (a CD-ROM): not ours */
    if ((st & ST_ERR) || !(st & ST_DRQ))
        return -1;
    uint64_t words = 256;
    __asm__ volatile("rep insw" : "+D"(id), "+c"(words) : "d"(ch->base) : "memory");
    inb(ch->base + REG_STATUS);
    return 0;
}

static void set_multiple(struct drive *d, unsigned sectors)
{
    struct channel *ch = d->ch;
    uint8_t st;
    outb(ch->base + REG_DEVICE, 0xE0 | d->slave << 4);
    outb(ch->base + REG_COUNT, (uint8_t)sectors);
    outb(ch->base + REG_COMMAND, CMD_SET_MULTIPLE);
    delay400(ch);
    if (wait_not_busy(ch, &st) == 0 && !(st & ST_ERR))
        d->multiple = sectors;
    inb(ch->base + REG_STATUS);
}

static void probe_channel(int index)
{
    struct channel *ch = &channels[index];
    outb(ch->ctl, CTL_NIEN);                   /* no interrupts while probing */
    for (int slave = 0; slave < 2; slave++) {
        static uint16_t id[256];
        if (identify(ch, slave, id) < 0)
            continue;
        struct drive *d = &drives[ndrives];
        memset(d, 0, sizeof *d);
        d->ch = ch;
        d->slave = slave;
        d->multiple = 1;
        uint64_t sectors = id[60] | (uint64_t)id[61] << 16;
        if (id[83] & (1 << 10)) {
            d->lba48 = 1;
            uint64_t s48 = id[100] | (uint64_t)id[101] << 16 | (uint64_t)id[102] << 32 | (uint64_t)id[103] << 48;
            if (s48)
                sectors = s48;
        }
        if (!sectors)
            continue;
        for (int i = 0; i < 20; i++) {         /* ATA strings: two characters per word, high byte first */
            d->model[2 * i] = (char)(id[27 + i] >> 8);
            d->model[2 * i + 1] = (char)id[27 + i];
        }
        for (int i = 39; i >= 0 && (d->model[i] == ' ' || !d->model[i]); i--)
            d->model[i] = 0;
        unsigned max_multiple = id[47] & 0xFF;
        if (max_multiple > 1)
            set_multiple(d, max_multiple < MAX_MULTIPLE ? max_multiple : MAX_MULTIPLE);
        d->dev.name[0] = 'h';
        d->dev.name[1] = 'd';
        d->dev.name[2] = (char)('a' + ndrives);
        d->dev.sectors = sectors;
        d->dev.ops = &ata_ops;
        d->dev.driver = d;
        if (blk_register(&d->dev) < 0)
            continue;
        ndrives++;
        printk("ata: %s: %s %s, %lu sectors (%lu MiB), LBA%s, %u sectors per interrupt, '%s'\n", d->dev.name,
               index ? "secondary" : "primary", slave ? "slave" : "master", (unsigned long)sectors,
               (unsigned long)(sectors >> 11), d->lba48 ? "48" : "28", d->multiple, d->model);
    }
    inb(ch->base + REG_STATUS);
    outb(ch->ctl, 0);                          /* interrupts on */
    irq_register(ch->irq, ata_irq);
}

void ata_init(void)
{
    char value[8];
    probe_channel(0);  /* blk_register sets the buffer cache up with the first disk */
    if (cmdline_get("ata_secondary", value, sizeof value) && value[0] == '1')
        probe_channel(1);
    if (!ndrives)
        printk("ata: no disks\n");
}
