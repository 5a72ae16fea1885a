/*
 * Memory and string functions. The bulk ones use a single `rep` instruction:
 * kernel mode is emulated instruction by instruction on PVM-style hosts, so
 * one `rep stosb` beats a loop of thousands.
 */
#include <stdint.h>
#include <pyos/string.h>
#include <pyos/word.h>

/* `rep stosb/movsb` are emulated one byte per step at CPL0 on PVM-style
 * hosts, the q forms eight: whole words first, then the tail. */
void *memset(void *dst, int c, size_t n)
{
    void *d = dst;
    size_t words = n / 8, tail = n % 8;
    uint64_t v = (uint8_t)c * 0x0101010101010101ULL;
    __asm__ volatile("rep stosq" : "+D"(d), "+c"(words) : "a"(v) : "memory");
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(tail) : "a"(v) : "memory");
    return dst;
}

void *memcpy(void *dst, const void *src, size_t n)
{
    void *d = dst;
    size_t words = n / 8, tail = n % 8;
    __asm__ volatile("rep movsq" : "+D"(d), "+S"(src), "+c"(words) : : "memory");
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(tail) : : "memory");
    return dst;
}

void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d <= s || d >= s + n)
        return memcpy(dst, src, n);
    /* Overlapping with dst above src: copy backwards. */
    d += n - 1;
    s += n - 1;
    __asm__ volatile("std; rep movsb; cld" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y)
            return *x - *y;
    return 0;
}

/* A word at a time: the first from s itself if it stays in s's page (else
 * byte by byte up to an eight-byte boundary), then aligned words, which
 * never cross into the next page. */
size_t strlen(const char *s)
{
    const char *p = s;
    if (word_in_page(p)) {
        uint64_t zeros = zero_bytes(load_word(p));
        if (zeros)
            return first_marked(zeros);
        p = (const char *)(((uintptr_t)p + 8) & ~(uintptr_t)7);
    }
    for (; (uintptr_t)p & 7; p++)
        if (!*p)
            return (size_t)(p - s);
    for (;; p += 8) {
        uint64_t zeros = zero_bytes(load_word(p));
        if (zeros)
            return (size_t)(p - s) + first_marked(zeros);
    }
}

int strcmp(const char *a, const char *b)
{
    while (*a && *a == *b)
        a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b || !*a)
            return (unsigned char)*a - (unsigned char)*b;
    }
    return 0;
}

char *strncpy_z(char *dst, const char *src, size_t size)
{
    size_t i = 0;
    if (!size)
        return dst;
    for (; i + 1 < size && src[i]; i++)
        dst[i] = src[i];
    dst[i] = 0;
    return dst;
}

long strtol(const char *s, const char **end, int base)
{
    long value = 0;
    int negative = 0;
    if (*s == '-')
        negative = 1, s++;
    if ((base == 0 || base == 16) && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        s += 2, base = 16;
    if (base == 0)
        base = 10;
    for (;; s++) {
        int digit;
        if (*s >= '0' && *s <= '9')
            digit = *s - '0';
        else if (*s >= 'a' && *s <= 'z')
            digit = *s - 'a' + 10;
        else if (*s >= 'A' && *s <= 'Z')
            digit = *s - 'A' + 10;
        else
            break;
        if (digit >= base)
            break;
        value = value * base + digit;
    }
    if (end)
        *end = s;
    return negative ? -value : value;
}
