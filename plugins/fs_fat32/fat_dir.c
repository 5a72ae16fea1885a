/*
 * Directories: 32-byte entries in the FAT16 fixed root area or in a
 * directory's cluster chain. A file is one 8.3 ("short") entry, preceded by
 * up to 20 long-name (LFN) entries holding its name in UTF-16, 13 units
 * each, last part first, each carrying the checksum of the 8.3 name so a
 * stale long name is recognised and ignored.
 *
 * Names: the VFS gives UTF-8; names are compared case-insensitively for
 * ASCII letters (other letters compare exactly: no Unicode case tables in a
 * kernel plugin). 8.3 bytes above 0x7F are shown as Latin-1 (no OEM code
 * page tables); new 8.3 names only ever use ASCII, so every name this plugin
 * creates that is not already an upper-case 8.3 name gets a long name, and
 * its 8.3 name is the Microsoft "basis name" with a ~N tail, N the smallest
 * unused in the directory.
 */
#include "fat.h"

/* ---------------------------------------------------------------- names */

static uint16_t fold(uint16_t c) { return c >= 'a' && c <= 'z' ? c - 32 : c; }

static int name_eq(const uint16_t *a, uint32_t an, const uint16_t *b, uint32_t bn)
{
    if (an != bn)
        return 0;
    for (uint32_t i = 0; i < an; i++)
        if (a[i] != b[i] && fold(a[i]) != fold(b[i]))
            return 0;
    return 1;
}

/* UTF-8 → UTF-16. creating: also refuse what FAT cannot store. */
int fat_name_from_utf8(const char *s, size_t len, uint16_t *out, uint32_t *outlen, int creating)
{
    const uint8_t *p = (const uint8_t *)s, *e = p + len;
    uint32_t n = 0;
    if (len == 0)
        return -EINVAL;
    while (p < e) {
        uint32_t c = *p++, need = 0, min = 0;
        if (c >= 0xF0 && c < 0xF5) { c &= 0x07; need = 3; min = 0x10000; }
        else if (c >= 0xE0 && c < 0xF0) { c &= 0x0F; need = 2; min = 0x800; }
        else if (c >= 0xC2 && c < 0xE0) { c &= 0x1F; need = 1; min = 0x80; }
        else if (c >= 0x80) return -EINVAL;
        if ((size_t)(e - p) < need)
            return -EINVAL;
        for (; need; need--) {
            if ((*p & 0xC0) != 0x80)
                return -EINVAL;
            c = c << 6 | (*p++ & 0x3F);
        }
        if (c < min || (c >= 0xD800 && c < 0xE000) || c > 0x10FFFF)
            return -EINVAL;
        if (c < 0x20 || c == '"' || c == '*' || c == '/' || c == ':' || c == '<' || c == '>' ||
            c == '?' || c == '\\' || c == '|' || c == 0x7F)
            return -EINVAL;
        if (c >= 0x10000) {
            if (n + 2 > FAT_LFN_MAX)
                return -ENAMETOOLONG;
            c -= 0x10000;
            out[n++] = (uint16_t)(0xD800 | c >> 10);
            out[n++] = (uint16_t)(0xDC00 | (c & 0x3FF));
        } else {
            if (n + 1 > FAT_LFN_MAX)
                return -ENAMETOOLONG;
            out[n++] = (uint16_t)c;
        }
    }
    /* Windows drops trailing dots and spaces: refuse them rather than store
     * a name other systems would see differently. */
    if (creating && (out[n - 1] == '.' || out[n - 1] == ' '))
        return -EINVAL;
    *outlen = n;
    return 0;
}

/* UTF-16 → UTF-8 (NUL-terminated); returns the length, or 0 if it does not fit. */
size_t fat_name_to_utf8(const uint16_t *u, uint32_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t c = u[i];
        if (c >= 0xD800 && c < 0xDC00 && i + 1 < n && u[i + 1] >= 0xDC00 && u[i + 1] < 0xE000) {
            c = 0x10000 + ((c - 0xD800) << 10) + (u[i + 1] - 0xDC00);
            i++;
        } else if (c >= 0xD800 && c < 0xE000) {
            c = 0xFFFD;
        }
        uint8_t tmp[4];
        size_t k;
        if (c < 0x80) { tmp[0] = (uint8_t)c; k = 1; }
        else if (c < 0x800) { tmp[0] = 0xC0 | c >> 6; tmp[1] = 0x80 | (c & 0x3F); k = 2; }
        else if (c < 0x10000) { tmp[0] = 0xE0 | c >> 12; tmp[1] = 0x80 | (c >> 6 & 0x3F); tmp[2] = 0x80 | (c & 0x3F); k = 3; }
        else { tmp[0] = 0xF0 | c >> 18; tmp[1] = 0x80 | (c >> 12 & 0x3F); tmp[2] = 0x80 | (c >> 6 & 0x3F); tmp[3] = 0x80 | (c & 0x3F); k = 4; }
        if (o + k + 1 > cap)
            return 0;
        for (size_t j = 0; j < k; j++)
            out[o++] = (char)tmp[j];
    }
    out[o] = 0;
    return o;
}

/* The 8.3 name as displayed ("README.TXT", lower-cased per the NT flags). */
static uint32_t short_display(const uint8_t *raw, uint16_t *out)
{
    uint32_t n = 0;
    int lbase = raw[12] & 0x08, lext = raw[12] & 0x10;
    int bl = 8, el = 3;
    while (bl > 0 && raw[bl - 1] == ' ')
        bl--;
    while (el > 0 && raw[8 + el - 1] == ' ')
        el--;
    for (int i = 0; i < bl; i++) {
        uint16_t c = raw[i];
        if (i == 0 && c == 0x05)
            c = 0xE5;
        out[n++] = lbase && c >= 'A' && c <= 'Z' ? c + 32 : c;
    }
    if (el) {
        out[n++] = '.';
        for (int i = 0; i < el; i++) {
            uint16_t c = raw[8 + i];
            out[n++] = lext && c >= 'A' && c <= 'Z' ? c + 32 : c;
        }
    }
    return n;
}

/* The 11 bytes an 8.3 entry holds for a name shown as `u` (any case), so
 * names compare with one memcmp instead of building each entry's display
 * form; 0 if no 8.3 entry is shown as that name. */
static int short_form(const uint16_t *u, uint32_t n, uint8_t *raw)
{
    uint32_t bl = 0, el = 0;
    int ext = 0;
    memset(raw, ' ', 11);
    if (n == 0 || u[0] == '.')
        return 0;
    for (uint32_t i = 0; i < n; i++) {
        uint16_t c = u[i];
        if (c == '.') {
            if (ext)
                return 0;
            ext = 1;
            continue;
        }
        if (c > 0xFF)
            return 0;
        uint8_t b = (uint8_t)(c >= 'a' && c <= 'z' ? c - 32 : c);
        if (!ext && bl < 8)
            raw[bl++] = b;
        else if (ext && el < 3)
            raw[8 + el++] = b;
        else
            return 0;
    }
    if ((ext && el == 0) || raw[bl ? bl - 1 : 0] == ' ')
        return 0;
    if (raw[0] == 0xE5)
        raw[0] = 0x05;
    return 1;
}

static uint8_t lfn_checksum(const uint8_t *sfn)
{
    uint8_t sum = 0;
    for (int i = 0; i < 11; i++)
        sum = (uint8_t)(((sum & 1) << 7) + (sum >> 1) + sfn[i]);
    return sum;
}

/* One UTF-16 unit → an 8.3 byte; *lossy set if it had to change (not for case). */
static uint8_t short_char(uint16_t c, int *lossy)
{
    if (c >= 'a' && c <= 'z')
        return (uint8_t)(c - 32);
    if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return (uint8_t)c;
    if (c < 0x80 && c > 0x20 && !(c == '"' || c == '*' || c == '+' || c == ',' || c == '.' || c == '/' ||
                                  c == ':' || c == ';' || c == '<' || c == '=' || c == '>' || c == '?' ||
                                  c == '[' || c == '\\' || c == ']' || c == '|'))
        return (uint8_t)c;
    *lossy = 1;
    return '_';
}

/*
 * The Microsoft basis name of a long name. *base_len: characters in the
 * base part; *exact: the 8.3 name alone reproduces the name (upper case,
 * nothing dropped), so no long-name entries are needed; *tail: a ~N tail is
 * required (something was dropped, changed or truncated).
 */
static void make_basis(const uint16_t *u, uint32_t n, uint8_t *basis, int *base_len, int *tail, int *exact)
{
    int lossy = 0, truncated = 0, lower = 0;
    uint32_t start = 0, dot = n, bl = 0, el = 0;
    memset(basis, ' ', 11);
    while (start < n && u[start] == '.')
        start++, lossy = 1;
    for (uint32_t i = n; i > start; i--)
        if (u[i - 1] == '.') {
            dot = i - 1;
            break;
        }
    for (uint32_t i = start; i < dot; i++) {
        if (u[i] == ' ' || u[i] == '.') {
            lossy = 1;
            continue;
        }
        if (bl == 8) {
            truncated = 1;
            break;
        }
        lower |= u[i] >= 'a' && u[i] <= 'z';
        basis[bl++] = short_char(u[i], &lossy);
    }
    for (uint32_t i = dot + 1; i < n; i++) {
        if (u[i] == ' ') {
            lossy = 1;
            continue;
        }
        if (el == 3) {
            truncated = 1;
            break;
        }
        lower |= u[i] >= 'a' && u[i] <= 'z';
        basis[8 + el++] = short_char(u[i], &lossy);
    }
    if (bl == 0) {
        basis[0] = '_';
        bl = 1;
        lossy = 1;
    }
    if (dot != n && el == 0)
        lossy = 1;                     /* "name." style: not reproducible */
    *base_len = (int)bl;
    *tail = lossy || truncated;
    *exact = !*tail && !lower;
}

/* basis with the tail ~num: the base cut so the whole fits in 8 bytes. */
static void apply_tail(uint8_t *sfn, const uint8_t *basis, int base_len, uint32_t num)
{
    char digits[8];
    int nd = 0;
    for (uint32_t v = num; v; v /= 10)
        digits[nd++] = (char)('0' + v % 10);
    int keep = base_len < 7 - nd ? base_len : 7 - nd;
    memcpy(sfn, basis, 11);
    memset(sfn + keep, ' ', 8 - keep);
    sfn[keep] = '~';
    for (int i = 0; i < nd; i++)
        sfn[keep + 1 + i] = (uint8_t)digits[nd - 1 - i];
}

/* If raw is basis~N (as apply_tail would make it), N; else 0. */
static uint32_t tail_number(const uint8_t *raw, const uint8_t *basis, int base_len)
{
    if (memcmp(raw + 8, basis + 8, 3) != 0)
        return 0;
    int t = 0;
    while (t < 8 && raw[t] != '~')
        t++;
    if (t == 8 || t == 7)
        return 0;
    uint32_t num = 0;
    int nd = 0, i = t + 1;
    for (; i < 8 && raw[i] >= '0' && raw[i] <= '9'; i++, nd++)
        num = num * 10 + (raw[i] - '0');
    if (nd == 0 || raw[t + 1] == '0')
        return 0;
    for (; i < 8; i++)
        if (raw[i] != ' ')
            return 0;
    int keep = base_len < 7 - nd ? base_len : 7 - nd;
    if (t != keep || memcmp(raw, basis, (size_t)t) != 0)
        return 0;
    return num;
}

/* --------------------------------------------------------- time stamps */

static void civil(uint64_t days, uint32_t *y, uint32_t *m, uint32_t *d)
{
    uint64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
    uint64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    uint64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    *d = (uint32_t)(doy - (153 * mp + 2) / 5 + 1);
    *m = (uint32_t)(mp < 10 ? mp + 3 : mp - 9);
    *y = (uint32_t)(yoe + era * 400 + (*m <= 2));
}

static uint64_t days_from_civil(uint32_t y, uint32_t m, uint32_t d)
{
    y -= m <= 2;
    uint64_t era = y / 400, yoe = y - era * 400;
    uint64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    uint64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void fat_stamp(uint8_t *raw, uint64_t now, int created)
{
    uint32_t y, mo, d, date, time;
    civil(now / 86400, &y, &mo, &d);
    uint32_t s = (uint32_t)(now % 86400);
    if (y < 1980) {
        date = (1 << 5) | 1;
        time = 0;
    } else if (y > 2107) {
        date = (127 << 9) | (12 << 5) | 31;
        time = (23 << 11) | (59 << 5) | 29;
    } else {
        date = (y - 1980) << 9 | mo << 5 | d;
        time = (s / 3600) << 11 | (s / 60 % 60) << 5 | (s % 60) / 2;
    }
    wr16(raw + 22, time);
    wr16(raw + 24, date);
    wr16(raw + 18, date);
    if (created) {
        raw[13] = (uint8_t)((s % 2) * 100);
        wr16(raw + 14, time);
        wr16(raw + 16, date);
    }
}

uint64_t fat_entry_mtime(const uint8_t *raw)
{
    uint32_t date = rd16(raw + 24), time = rd16(raw + 22);
    uint32_t m = date >> 5 & 15, d = date & 31;
    if (!date || m < 1 || m > 12 || d < 1)
        return 0;
    return days_from_civil(1980 + (date >> 9), m, d) * 86400 + (time >> 11) * 3600 +
           (time >> 5 & 63) * 60 + (time & 31) * 2;
}

/* ------------------------------------------------------------ scanning */

/* Disk offset of entry idx of directory d: 0, 1 past its end, or -EIO. */
static int dir_off(struct fat_fs *fs, struct fat_node *d, uint32_t idx, uint64_t *off)
{
    if (d->is_root && fs->bits == 16) {
        if (idx >= fs->root_entries)
            return 1;
        *off = fs->root_start + (uint64_t)idx * 32;
        return 0;
    }
    if (idx >= FAT_DIR_MAX)
        return 1;
    uint32_t cl;
    int r = fat_chain_at(fs, d, idx >> (fs->cshift - 5), &cl);
    if (r != 0)
        return r;
    *off = fat_cluster_off(fs, cl) + ((uint64_t)(idx & ((fs->csize >> 5) - 1)) << 5);
    return 0;
}

struct freerun {
    uint32_t need, start, len;
    int found;
};

static const uint8_t lfn_pos[13] = {1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30};

/*
 * The next file at or after *idx ('.', '..' and volume labels skipped),
 * with its long name if a valid one precedes it: 1 (*idx moves past it),
 * 0 at the end of the directory (*idx = the end index), or -errno.
 * fr, if given, tracks the first run of fr->need free entries. match_len
 * (non-zero): the caller only compares names of that length, so long names
 * of other lengths are not decoded (out->name is then not filled in).
 */
static int scan_next(struct fat_fs *fs, struct fat_node *d, uint32_t *idx, struct fat_cur *cur,
                     struct fat_found *out, struct freerun *fr, uint32_t match_len)
{
    uint32_t expect = 0, lfn_len = 0, first = 0, left = 0;
    uint64_t off = 0;
    uint8_t chk = 0;
    if (cur->pos_valid && cur->pos_idx + 1 == *idx) {
        left = cur->pos_left;          /* carry on from the previous call */
        off = cur->pos_off;
    }
    cur->pos_valid = 0;
    for (;; (*idx)++) {
        int r = 0;
        if (left) {                    /* the next entry of the same cluster (or fixed root) */
            off += 32;
            left--;
        } else if ((r = dir_off(fs, d, *idx, &off)) < 0) {
            return r;
        } else if (r == 0) {
            left = (d->is_root && fs->bits == 16 ? fs->root_entries - *idx
                                                 : (fs->csize >> 5) - (*idx & ((fs->csize >> 5) - 1))) - 1;
        }
        const uint8_t *e = r ? NULL : fat_cur_get(fs, cur, off);
        if (!r && !e)
            return -EIO;
        if (r || e[0] == 0) {
            if (fr && !fr->found && !(fr->len && fr->start + fr->len == *idx))
                fr->start = *idx;
            return 0;
        }
        if (e[0] == 0xE5) {
            if (fr && !fr->found) {
                if (fr->len == 0 || fr->start + fr->len != *idx) {
                    fr->start = *idx;
                    fr->len = 0;
                }
                if (++fr->len >= fr->need)
                    fr->found = 1;
            }
            expect = 0;
            continue;
        }
        if (fr && !fr->found)
            fr->len = 0;
        uint8_t attr = e[11];
        if ((attr & 0x3F) == ATTR_LFN) {
            uint32_t ord = e[0] & 0x1F;
            if (e[0] & 0x40) {
                expect = 0;
                if (ord == 0 || ord > 20)
                    continue;
                uint32_t k = 0;
                while (k < 13 && rd16(e + lfn_pos[k]) != 0)
                    k++;
                lfn_len = (ord - 1) * 13 + k;
                if (lfn_len == 0 || lfn_len > FAT_LFN_MAX)
                    continue;
                chk = e[13];
                first = *idx;
            } else if (!expect || ord != expect - 1 || e[13] != chk) {
                expect = 0;
                continue;
            }
            if (!match_len || match_len == lfn_len)
                for (uint32_t k = 0; k < 13; k++) {
                    uint32_t p = (ord - 1) * 13 + k;
                    if (p < lfn_len)
                        out->name[p] = (uint16_t)rd16(e + lfn_pos[k]);
                }
            expect = ord;
            continue;
        }
        if (attr & ATTR_VOLUME || (e[0] == '.' && (memcmp(e, ".          ", 11) == 0 ||
                                                  memcmp(e, "..         ", 11) == 0))) {
            expect = 0;
            continue;
        }
        memcpy(out->raw, e, 32);
        out->idx = *idx;
        out->off = off;
        /* When only names of match_len count (the caller compares 8.3 names
         * raw, see short_form), skip the 8.3 display form and the checksum
         * of a long name of another length: valid or not, it is not it. */
        out->snlen = match_len ? 0xFFFF : short_display(e, out->sname);
        if (expect == 1 && match_len && lfn_len != match_len) {
            out->nlen = lfn_len;
            out->first_idx = first;
        } else if (expect == 1 && chk == lfn_checksum(e)) {
            out->nlen = lfn_len;
            out->first_idx = first;
        } else {
            if (out->snlen != 0xFFFF)
                memcpy(out->name, out->sname, out->snlen * 2);
            out->nlen = out->snlen;
            out->first_idx = *idx;
        }
        cur->pos_idx = *idx;
        cur->pos_off = off;
        cur->pos_left = left;
        cur->pos_valid = 1;
        (*idx)++;
        return 1;
    }
}

int fat_dir_next(struct fat_fs *fs, struct fat_node *d, uint32_t *idx, struct fat_found *out)
{
    struct fat_cur cur = {0};
    int r = scan_next(fs, d, idx, &cur, out, NULL, 0);
    fat_cur_done(&cur);
    return r;
}

/*
 * One pass over d for `name`: 0 with *f the entry it names (compared as a
 * long name and as an 8.3 name), or -ENOENT with *p where its entries would
 * go (the first run of free slots, or the end) and its 8.3 name (the basis,
 * with the smallest ~N tail not in use when one is needed). The entry at
 * ignore_off (rename: the one about to go) is not counted.
 */
static int scan_for(struct fat_fs *fs, struct fat_node *d, const uint16_t *name, uint32_t nlen,
                    uint64_t ignore_off, struct fat_found *f, struct fat_plan *p)
{
    uint8_t basis[11], sf[11];
    int base_len, tail, exact;
    make_basis(name, nlen, basis, &base_len, &tail, &exact);
    p->nl = exact ? 0 : (nlen + 12) / 13;
    struct freerun fr = {p->nl + 1, 0, 0, 0};
    int has_sf = short_form(name, nlen, sf);
    if (tail)
        memset(fs->tails, 0, FAT_TAILS_BYTES);
    struct fat_cur cur = {0};
    uint32_t idx = 0;
    int r;
    while ((r = scan_next(fs, d, &idx, &cur, f, &fr, nlen)) == 1) {
        if (f->off == ignore_off)
            continue;
        if ((f->nlen == nlen && name_eq(f->name, f->nlen, name, nlen)) ||
            (has_sf && memcmp(f->raw, sf, 11) == 0))
            break;
        /* Without a tail the 8.3 name is the name's own short form: an
         * entry using it would have matched above. */
        if (tail) {
            uint32_t num = tail_number(f->raw, basis, base_len);
            if (num && num <= FAT_DIR_MAX)
                fs->tails[num >> 3] |= (uint8_t)(1 << (num & 7));
        }
    }
    fat_cur_done(&cur);
    if (r == 1) {
        if (f->snlen == 0xFFFF) {      /* the caller may show or compare it */
            f->snlen = short_display(f->raw, f->sname);
            if (f->nlen == 0xFFFF) {
                memcpy(f->name, f->sname, f->snlen * 2);
                f->nlen = f->snlen;
            }
        }
        return 0;
    }
    if (r < 0)
        return r;
    p->start = fr.start;
    if (!tail) {
        memcpy(p->sfn, basis, 11);
    } else {
        uint32_t num = 1;
        while (num <= FAT_DIR_MAX && (fs->tails[num >> 3] >> (num & 7) & 1))
            num++;
        if (num > FAT_DIR_MAX)         /* cannot happen: fewer entries than numbers */
            return -ENOSPC;
        apply_tail(p->sfn, basis, base_len, num);
    }
    return -ENOENT;
}

void fat_dir_hint(struct fat_fs *fs, struct fat_node *d, uint32_t idx)
{
    fs->hint_first = d->first;
    fs->hint_root = d->is_root;
    fs->hint_idx = idx;
}

/* Looking from the last file readdir or a lookup gave to the end first:
 * a walk over a directory (readdir, then each name) costs one step per
 * file, not a scan from the start. Any match is a real entry. */
static int find_from_hint(struct fat_fs *fs, struct fat_node *d, const uint16_t *name, uint32_t nlen,
                          struct fat_found *out)
{
    if (!fs->hint_idx || fs->hint_first != d->first || fs->hint_root != d->is_root)
        return -ENOENT;
    struct fat_cur cur = {0};
    uint32_t idx = fs->hint_idx;
    uint8_t sf[11];
    int r, has_sf = short_form(name, nlen, sf);
    while ((r = scan_next(fs, d, &idx, &cur, out, NULL, nlen)) == 1)
        if ((out->nlen == nlen && name_eq(out->name, out->nlen, name, nlen)) ||
            (has_sf && memcmp(out->raw, sf, 11) == 0))
            break;
    fat_cur_done(&cur);
    if (r != 1)
        return -ENOENT;
    if (out->snlen == 0xFFFF) {
        out->snlen = short_display(out->raw, out->sname);
        if (out->nlen == 0xFFFF) {
            memcpy(out->name, out->sname, out->snlen * 2);
            out->nlen = out->snlen;
        }
    }
    return 0;
}

int fat_dir_find(struct fat_fs *fs, struct fat_node *d, const uint16_t *name, uint32_t nlen,
                 struct fat_found *out)
{
    struct fat_plan *p = fs->plan, mine;
    int r = find_from_hint(fs, d, name, nlen, out);
    if (r == 0 || (r = scan_for(fs, d, name, nlen, 0, out, &mine)) == 0) {
        fat_dir_hint(fs, d, out->first_idx);
        return 0;
    }
    if (r == -ENOENT) {                /* kept until a directory changes */
        p->valid = 1;
        p->start = mine.start;
        p->nl = mine.nl;
        memcpy(p->sfn, mine.sfn, 11);
        p->gen = fs->dir_gen;
        p->dir_first = d->first;
        p->dir_root = d->is_root;
        p->nlen = nlen;
        memcpy(p->name, name, nlen * 2);
    }
    return r;
}

int fat_dir_empty(struct fat_fs *fs, uint32_t first)
{
    struct fat_node tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.is_dir = 1;
    tmp.first = first;
    uint32_t idx = 0;
    struct fat_cur cur = {0};
    int r = scan_next(fs, &tmp, &idx, &cur, fs->tmp, NULL, 1);
    fat_cur_done(&cur);
    return r < 0 ? r : !r;
}

/* ------------------------------------------------------------- changes */

static int put_entry(struct fat_fs *fs, struct fat_node *d, struct fat_cur *cur, uint32_t idx,
                     const uint8_t *ent, uint64_t *where)
{
    uint64_t off;
    int r = dir_off(fs, d, idx, &off);
    if (r)
        return r < 0 ? r : -EIO;
    uint8_t *p = fat_cur_get(fs, cur, off);
    if (!p)
        return -EIO;
    memcpy(p, ent, 32);
    bdirty(cur->b);
    if (where)
        *where = off;
    return 0;
}

/*
 * Add `name` to d as a copy of the 8.3 entry tmpl (attributes, cluster,
 * size, times) under a fresh 8.3 name, with long-name entries when needed.
 * -EEXIST if the name is taken by an entry other than the one at
 * ignore_off (which the caller is about to remove: rename), whose 8.3 name
 * is then also free for reuse. *sfn_off: where the 8.3 entry went.
 */
int fat_dir_add(struct fat_fs *fs, struct fat_node *d, const uint16_t *name, uint32_t nlen,
                const uint8_t *tmpl, uint64_t ignore_off, uint64_t *sfn_off)
{
    if (!d->is_root && d->first == 0)
        return -EIO;
    uint8_t ent[32];
    struct fat_plan *p = fs->plan, mine;
    struct fat_cur cur = {0};
    int r = 0;
    if (!(!ignore_off && p->valid && p->gen == fs->dir_gen && p->dir_first == d->first &&
          p->dir_root == d->is_root && p->nlen == nlen && memcmp(p->name, name, nlen * 2) == 0)) {
        p = &mine;
        r = scan_for(fs, d, name, nlen, ignore_off, fs->tmp, p);
        if (r != -ENOENT)
            return r == 0 ? -EEXIST : r;
        r = 0;
    }
    fs->plan->valid = 0;
    fs->dir_gen++;
    uint32_t nl = p->nl;
    const uint8_t *sfn = p->sfn;
    struct freerun fr = {nl + 1, p->start, 0, 1};
    /* Room for nl + 1 entries from fr.start: grow the directory if needed. */
    uint32_t end = fr.start + nl + 1;
    if (d->is_root && fs->bits == 16) {
        if (end > fs->root_entries) {
            r = -ENOSPC;
            goto out;
        }
    } else {
        uint32_t want = (uint32_t)(((uint64_t)end * 32 + fs->csize - 1) >> fs->cshift);
        if (end > FAT_DIR_MAX) {
            r = -ENOSPC;
            goto out;
        }
        r = fat_extend(fs, d, want, 1);
        if (r < 0)
            goto out;
        if ((uint32_t)r < want) {
            r = -ENOSPC;
            goto out;
        }
    }
    uint8_t sum = lfn_checksum(sfn);
    for (uint32_t i = 0; i < nl && r >= 0; i++) {
        uint32_t ord = nl - i;
        memset(ent, 0, 32);
        ent[0] = (uint8_t)(ord | (i == 0 ? 0x40 : 0));
        ent[11] = ATTR_LFN;
        ent[13] = sum;
        for (uint32_t k = 0; k < 13; k++) {
            uint32_t p = (ord - 1) * 13 + k;
            wr16(ent + lfn_pos[k], p < nlen ? name[p] : p == nlen ? 0 : 0xFFFF);
        }
        r = put_entry(fs, d, &cur, fr.start + i, ent, NULL);
    }
    if (r >= 0) {
        memcpy(ent, tmpl, 32);
        memcpy(ent, sfn, 11);
        ent[12] = 0;
        r = put_entry(fs, d, &cur, fr.start + nl, ent, sfn_off);
    }
    fat_cur_done(&cur);
out:
    fat_cur_done(&cur);
    return r < 0 ? r : 0;
}

/* Mark a file's entries (long-name ones and the 8.3 one) deleted. */
int fat_dir_remove(struct fat_fs *fs, struct fat_node *d, const struct fat_found *f)
{
    struct fat_cur cur = {0};
    fs->dir_gen++;
    int r = 0;
    for (uint32_t i = f->first_idx; i <= f->idx && r == 0; i++) {
        uint64_t off;
        r = dir_off(fs, d, i, &off);
        if (r)
            break;
        uint8_t *p = fat_cur_get(fs, &cur, off);
        if (!p) {
            r = -EIO;
            break;
        }
        p[0] = 0xE5;
        bdirty(cur.b);
    }
    fat_cur_done(&cur);
    return r < 0 ? r : r ? -EIO : 0;
}
