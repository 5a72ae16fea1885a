/*
 * vsnprintf: the subset of printf the kernel uses.
 * Conversions d i u x X p s c %, length modifiers l ll z, flags '-', '0' and '#'
 * (which prefixes 0 too: "0x0", as Linux's printk does),
 * a field width (also '*').
 */
#include <pyos/kernel.h>
#include <pyos/string.h>
#include <pyos/word.h>

struct out {
    char *buf;
    size_t size;
    size_t len;
};

static void put(struct out *o, char c)
{
    if (o->len + 1 < o->size)
        o->buf[o->len] = c;
    o->len++;
}

/* Eight-byte words (pyos/word.h): kernel code is emulated instruction by
 * instruction on PVM hosts, and formatting is most of what printk costs there. */

/* s[0..n) into the output, a word at a time while the buffer has room for
 * eight bytes: the last word may copy a few bytes past n (read only within
 * s's page), which the next output overwrites. */
static void put_padded(struct out *o, const char *s, size_t n, int width, int left, char pad)
{
    int fill = width > (int)n ? width - (int)n : 0;
    if (!left)
        while (fill-- > 0)
            put(o, pad);
    while (n && o->len + 8 < o->size && word_in_page(s)) {
        size_t k = n < 8 ? n : 8;
        store_word(o->buf + o->len, load_word(s));
        o->len += k;
        s += k;
        n -= k;
    }
    while (n--)
        put(o, *s++);
    if (left)
        while (fill-- > 0)
            put(o, ' ');
}

/* The eight hex digits of v, most significant first, as one word: each
 * nibble spread to a byte, then '0' added, and 'a' - '0' - 10 more where the
 * nibble is ten or over (0x76 + nibble sets the byte's top bit exactly then). */
static uint64_t hex8(uint32_t v, int upper)
{
    uint64_t x = v;
    x = (x | x << 16) & 0x0000FFFF0000FFFFULL;
    x = (x | x << 8) & 0x00FF00FF00FF00FFULL;
    x = (x | x << 4) & 0x0F0F0F0F0F0F0F0FULL;
    x = __builtin_bswap64(x);
    uint64_t letters = ((x + WORD_ONES * 0x76) & WORD_HIGHS) >> 7;
    return x + WORD_ONES * '0' + letters * (upper ? 'A' - '0' - 10 : 'a' - '0' - 10);
}

/* v in base 8, 10 or 16 in a field of width characters, after `sign`: '-'
 * (a minus sign), 'x' or 'X' (a "0x" or "0X" prefix), or 0 (nothing). */
static void put_number(struct out *o, unsigned long long v, int base, int upper,
                       char sign, int width, int left, char pad)
{
    int lead = sign == 'x' || sign == 'X' ? 2 : sign ? 1 : 0;
    char tmp[32];  /* the digits end at tmp + 32, with '0's before them when padding */
    char *end = tmp + sizeof tmp, *p = end;
    if (pad == '0')
        for (int i = 0; i < 32; i += 8)
            store_word(tmp + i, WORD_ONES * '0');
    if (base == 16) {
        if (v >> 32)  /* else those digits are zeros, and shown only when padding */
            store_word(end - 16, hex8((uint32_t)(v >> 32), upper));
        store_word(end - 8, hex8((uint32_t)v, upper));
        p = end - (v ? (67 - __builtin_clzll(v)) / 4 : 1);
    } else {
        do {
            *--p = (char)('0' + v % base);
            v /= base;
        } while (v);
    }
    int want = width - lead;  /* digits wanted, with zero padding */
    if (pad == '0' && end - p < want) {
        if (want > 30) {  /* wider than tmp: the sign or prefix, then put_padded's zeros */
            if (lead == 2)
                put(o, '0');
            if (lead)
                put(o, sign);
            put_padded(o, p, (size_t)(end - p), want, 0, '0');
            return;
        }
        p = end - want;
    }
    if (lead)
        *--p = sign;
    if (lead == 2)
        *--p = '0';
    put_padded(o, p, (size_t)(end - p), width, left, ' ');
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct out o = {buf, size, 0};
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            /* Literal text: copy a word, keep the bytes before its first '%'
             * or NUL (at least this one). The word is read only within fmt's
             * page and stored only where the buffer has room for all eight. */
            if (o.len + 8 < o.size && word_in_page(fmt)) {
                for (;;) {
                    uint64_t w = load_word(fmt);
                    uint64_t stop = zero_bytes(w) | bytes_equal(w, '%');
                    store_word(o.buf + o.len, w);
                    if (stop) {
                        size_t k = first_marked(stop);
                        o.len += k;
                        fmt += k - 1;
                        break;
                    }
                    o.len += 8;
                    fmt += 8;
                    if (o.len + 8 >= o.size || !word_in_page(fmt)) {
                        fmt--;
                        break;
                    }
                }
                continue;
            }
            put(&o, *fmt);
            continue;
        }
        fmt++;
        int left = 0, alt = 0, width = 0, longness = 0;
        char pad = ' ';
        for (;; fmt++) {
            if (*fmt == '-')
                left = 1;
            else if (*fmt == '#')
                alt = 1;
            else if (*fmt == '0')
                pad = '0';
            else
                break;
        }
        if (*fmt == '*') {
            width = va_arg(ap, int);
            fmt++;
        }
        while (*fmt >= '0' && *fmt <= '9')
            width = width * 10 + (*fmt++ - '0');
        while (*fmt == 'l' || *fmt == 'z') {
            longness++;
            fmt++;
        }
        if (left)
            pad = ' ';
        switch (*fmt) {
        case 'd':
        case 'i': {
            long long v = longness ? va_arg(ap, long long) : va_arg(ap, int);
            unsigned long long mag = v < 0 ? -(unsigned long long)v : (unsigned long long)v;
            put_number(&o, mag, 10, 0, v < 0 ? '-' : 0, width, left, pad);
            break;
        }
        case 'u':
        case 'o':
        case 'x':
        case 'X': {
            unsigned long long v = longness ? va_arg(ap, unsigned long long) : va_arg(ap, unsigned int);
            if (*fmt == 'o') {
                put_number(&o, v, 8, 0, 0, width, left, pad);
                break;
            }
            /* '#': a "0x" (or "0X") prefix inside the width; on 0 too, as Linux's printk */
            char prefix = alt && *fmt != 'u' ? *fmt : 0;
            put_number(&o, v, *fmt == 'u' ? 10 : 16, *fmt == 'X', prefix, width, left, pad);
            break;
        }
        case 'p':
            put(&o, '0');
            put(&o, 'x');
            put_number(&o, (unsigned long long)va_arg(ap, void *), 16, 0, 0, 16, 0, '0');
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s)
                s = "(null)";
            put_padded(&o, s, strlen(s), width, left, ' ');
            break;
        }
        case 'c': {
            char c = (char)va_arg(ap, int);
            put_padded(&o, &c, 1, width, left, ' ');
            break;
        }
        case '%':
            put(&o, '%');
            break;
        case 0:
            fmt--;
            break;
        default:
            put(&o, '%');
            put(&o, *fmt);
        }
    }
    if (size)
        o.buf[o.len < size ? o.len : size - 1] = 0;
    return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}
