/*
 * Eight bytes at a time: the bit tricks the kernel's text paths use (printk's
 * formatting, the console copy, strlen, the VGA writer).
 *
 * Kernel mode is emulated instruction by instruction on PVM-style hosts
 * (about a microsecond each), so a boot log printed a byte at a time costs
 * tens of milliseconds; a word at a time it costs a few.
 *
 * Each *_bytes() test returns a mask with bit 7 of every byte that matches
 * set. Bytes above the first match may be marked falsely (a borrow runs up
 * from it), so only two answers are exact: whether the mask is zero, and its
 * lowest marked byte (first_marked()).
 */
#ifndef PYOS_WORD_H
#define PYOS_WORD_H

#include <stdint.h>

#define WORD_ONES 0x0101010101010101ULL
#define WORD_HIGHS 0x8080808080808080ULL

/* Bytes of w that are zero. */
static inline uint64_t zero_bytes(uint64_t w)
{
    return (w - WORD_ONES) & ~w & WORD_HIGHS;
}

/* Bytes of w equal to c. */
static inline uint64_t bytes_equal(uint64_t w, unsigned char c)
{
    return zero_bytes(w ^ (WORD_ONES * c));
}

/* Bytes of w below n (unsigned; n at most 128): the control characters for n = 0x20. */
static inline uint64_t bytes_below(uint64_t w, unsigned char n)
{
    return (w - WORD_ONES * n) & ~w & WORD_HIGHS;
}

/* Index (0-7, in memory order) of the first byte marked in a nonzero mask. */
static inline unsigned first_marked(uint64_t mask)
{
    return (unsigned)__builtin_ctzll(mask) >> 3;
}

/* Eight bytes from p, which need not be aligned. */
static inline uint64_t load_word(const void *p)
{
    uint64_t w;
    __builtin_memcpy(&w, p, 8);
    return w;
}

static inline void store_word(void *p, uint64_t w)
{
    __builtin_memcpy(p, &w, 8);
}

/* May eight bytes be read from p without crossing into the next page? (a
 * string's last bytes may be the last of a mapped page) */
static inline int word_in_page(const void *p)
{
    return ((uintptr_t)p & 4095) <= 4096 - 8;
}

#endif
