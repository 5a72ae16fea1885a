/*
 * vsnprintf: the subset of printf the kernel uses.
 * Conversions d i u x X p s c %, length modifiers l ll z, flags '-', '0' and '#',
 * a field width (also '*').
 */
#include <pyos/kernel.h>
#include <pyos/string.h>

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

/* Eight-byte words: kernel code is emulated instruction by instruction on PVM
 * hosts, and formatting is most of what printk costs there. */
#define ONES 0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL

static inline int has_zero_byte(uint64_t w)
{
    return ((w - ONES) & ~w & HIGHS) != 0;
}

static inline int has_byte(uint64_t w, unsigned char c)
{
    return has_zero_byte(w ^ (ONES * c));
}

static void put_padded(struct out *o, const char *s, size_t n, int width, int left, char pad)
{
    int fill = width > (int)n ? width - (int)n : 0;
    if (!left)
        while (fill-- > 0)
            put(o, pad);
    for (; n >= 8 && o->len + 8 < o->size; n -= 8, s += 8, o->len += 8) {
        uint64_t w;
        __builtin_memcpy(&w, s, 8);
        __builtin_memcpy(o->buf + o->len, &w, 8);
    }
    while (n--)
        put(o, *s++);
    if (left)
        while (fill-- > 0)
            put(o, ' ');
}

static void put_number(struct out *o, unsigned long long v, int base, int upper,
                       int negative, int width, int left, char pad)
{
    char tmp[24];
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    int n = 0;
    do {
        tmp[n++] = digits[v % base];
        v /= base;
    } while (v);
    if (negative) {
        if (pad == '0') {
            put(o, '-');
            width--;
        } else {
            tmp[n++] = '-';
        }
    }
    char out[24];
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    put_padded(o, out, n, width, left, pad);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
    struct out o = {buf, size, 0};
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            /* Literal text eight bytes at a time while they hold no '%' and no
             * NUL (the word is read only if it stays within fmt's page). */
            uint64_t w;
            if (o.len + 8 < o.size && ((uintptr_t)fmt & 4095) <= 4096 - 8) {
                __builtin_memcpy(&w, fmt, 8);
                if (!has_zero_byte(w) && !has_byte(w, '%')) {
                    __builtin_memcpy(o.buf + o.len, &w, 8);
                    o.len += 8;
                    fmt += 7;
                    continue;
                }
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
            put_number(&o, mag, 10, 0, v < 0, width, left, pad);
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
            if (alt && *fmt != 'u') {  /* "0x" prefix, counted in the width */
                put(&o, '0');
                put(&o, 'x');
                width -= 2;
            }
            put_number(&o, v, *fmt == 'u' ? 10 : 16, *fmt == 'X', 0, width, left, pad);
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
