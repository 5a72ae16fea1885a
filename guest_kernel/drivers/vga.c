/*
 * VGA text console: 80x25 cells of (character, attribute) at physical
 * 0xB8000 (0xB0000 on a monochrome adapter), as the BIOS leaves mode 3.
 *
 * Kernel mode is emulated instruction by instruction on PVM-style hosts, so
 * the console keeps its work small: a character is one 16-bit store into
 * text memory (plain RAM to the VMM: no VM exit), scrolling moves the screen
 * up with one `rep movsq` and blanks the last row with one `rep stosq`, and
 * the hardware cursor (CRTC registers 0x0E/0x0F, two `outw`s) is updated
 * once per write, not per character.
 *
 * Understood: \n (new line, column 0: the console is CR LF), \r, \b, \t, and
 * the ANSI/VT100 sequences ESC[<n>J (0: to the end, 2: whole screen),
 * ESC[<n>K (erase in line), ESC[<r>;<c>H and ESC[<r>;<c>f (cursor position,
 * 1-based), ESC[<n>A/B/C/D (cursor moves), ESC[...m (SGR: 0 reset, 1 bold =
 * bright foreground, 5 blink, 7 reverse, 22/25/27 their ends, 30-37/39
 * foreground, 40-47/49 background, 90-97/100-107 bright).
 */
#include <pyos/io.h>
#include <pyos/kernel.h>
#include <pyos/vga.h>
#include <pyos/word.h>
#include <pyos/x86.h>

#define COLS 80
#define ROWS 25
#define DEFAULT_ATTR 0x07
#define MAX_PARAMS 4

enum { CRTC_CURSOR_START = 0x0A, CRTC_CURSOR_END = 0x0B, CRTC_START_HI = 0x0C, CRTC_START_LO = 0x0D,
       CRTC_CURSOR_HI = 0x0E, CRTC_CURSOR_LO = 0x0F };
enum { MISC_READ = 0x3CC, MISC_IOAS = 0x01 };
enum { ESC_NONE, ESC_START, ESC_CSI };

static volatile uint16_t *text;   /* NULL: no VGA adapter */
static uint16_t crtc_port;
static int row, col;              /* col == COLS: wrap before the next character */
static uint8_t fg = 7, bg, bold, blink, reverse;
static uint8_t attr = DEFAULT_ATTR;
static int esc_state, params[MAX_PARAMS], nparams;

/* ANSI colour numbers (red = 1, blue = 4) to the VGA's RGB bit order. */
static const uint8_t ansi_to_vga[8] = {0, 4, 2, 6, 1, 5, 3, 7};

static void crtc_write(uint8_t index, uint8_t value)
{
    outw(crtc_port, (uint16_t)(index | value << 8));  /* index and data in one exit */
}

static uint64_t blank_cells(void)
{
    uint64_t cell = (uint64_t)(' ' | attr << 8);
    return cell | cell << 16 | cell << 32 | cell << 48;
}

/* Blank n cells from cell `at` (n a multiple of 4, at too). */
static void blank(int at, int n)
{
    uint64_t *dst = (uint64_t *)(text + at);
    uint64_t count = (uint64_t)n / 4;
    __asm__ volatile("rep stosq" : "+D"(dst), "+c"(count) : "a"(blank_cells()) : "memory");
}

/* Blank an arbitrary run of cells (the ends one by one, the middle by words). */
static void blank_span(int from, int to)
{
    uint16_t cell = (uint16_t)(' ' | attr << 8);
    while (from < to && from % 4)
        text[from++] = cell;
    while (to > from && to % 4)
        text[--to] = cell;
    if (to > from)
        blank(from, to - from);
}

static void scroll_up(void)
{
    uint64_t *dst = (uint64_t *)text;
    const uint64_t *src = (const uint64_t *)(text + COLS);
    uint64_t count = (uint64_t)COLS * (ROWS - 1) / 4;
    __asm__ volatile("rep movsq" : "+D"(dst), "+S"(src), "+c"(count) : : "memory");
    blank(COLS * (ROWS - 1), COLS);
}

static void newline(void)
{
    col = 0;
    if (++row == ROWS) {
        scroll_up();
        row = ROWS - 1;
    }
}

static void update_attr(void)
{
    uint8_t f = (uint8_t)(fg | (bold ? 8 : 0)), b = bg;
    if (reverse) {
        uint8_t t = f;
        f = b;
        b = t & 7;
    }
    attr = (uint8_t)(f | b << 4 | (blink ? 0x80 : 0));
}

static void sgr(void)
{
    if (!nparams)
        params[nparams++] = 0;
    for (int i = 0; i < nparams; i++) {
        int p = params[i];
        if (p == 0)
            fg = 7, bg = 0, bold = blink = reverse = 0;
        else if (p == 1)
            bold = 1;
        else if (p == 5)
            blink = 1;
        else if (p == 7)
            reverse = 1;
        else if (p == 22)
            bold = 0;
        else if (p == 25)
            blink = 0;
        else if (p == 27)
            reverse = 0;
        else if (p >= 30 && p <= 37)
            fg = ansi_to_vga[p - 30];
        else if (p == 39)
            fg = 7;
        else if (p >= 40 && p <= 47)
            bg = ansi_to_vga[p - 40];
        else if (p == 49)
            bg = 0;
        else if (p >= 90 && p <= 97)
            fg = (uint8_t)(ansi_to_vga[p - 90] | 8);
        else if (p >= 100 && p <= 107)
            bg = ansi_to_vga[p - 100];  /* blink is on in mode 3: 8 background colours */
    }
    update_attr();
}

static int param(int i, int fallback)
{
    return i < nparams && params[i] ? params[i] : fallback;
}

static int clamp(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static void csi_final(char c)
{
    int here = row * COLS + (col < COLS ? col : COLS - 1);
    switch (c) {
    case 'm':
        sgr();
        break;
    case 'H':
    case 'f':
        row = clamp(param(0, 1), 1, ROWS) - 1;
        col = clamp(param(1, 1), 1, COLS) - 1;
        break;
    case 'A':
        row = clamp(row - param(0, 1), 0, ROWS - 1);
        break;
    case 'B':
        row = clamp(row + param(0, 1), 0, ROWS - 1);
        break;
    case 'C':
        col = clamp(col + param(0, 1), 0, COLS - 1);
        break;
    case 'D':
        col = clamp(col - param(0, 1), 0, COLS - 1);
        break;
    case 'J':
        if (param(0, 0) == 2) {
            blank(0, COLS * ROWS);  /* the cursor stays, as on a VT100 */
        } else if (param(0, 0) == 1) {
            blank_span(0, here + 1);
        } else {
            blank_span(here, COLS * ROWS);
        }
        break;
    case 'K': {
        int start = row * COLS;
        int p = param(0, 0);
        blank_span(p == 0 ? here : start, p == 1 ? here + 1 : start + COLS);
        break;
    }
    default:
        break;  /* unknown sequences are swallowed */
    }
}

static void put(char c)
{
    if (esc_state == ESC_START) {
        if (c == '[') {
            esc_state = ESC_CSI;
            nparams = 0;
            params[0] = 0;
            return;
        }
        esc_state = ESC_NONE;  /* not a CSI: drop the ESC, show the character */
    } else if (esc_state == ESC_CSI) {
        if (c >= '0' && c <= '9') {
            if (!nparams)
                nparams = 1;
            if (nparams <= MAX_PARAMS && params[nparams - 1] < 10000)
                params[nparams - 1] = params[nparams - 1] * 10 + (c - '0');
        } else if (c == ';') {
            if (!nparams)
                nparams = 1;
            if (nparams < MAX_PARAMS)
                params[nparams++] = 0;
        } else if (c >= 0x40 && c <= 0x7e) {
            if (nparams > MAX_PARAMS)
                nparams = MAX_PARAMS;
            csi_final(c);
            esc_state = ESC_NONE;
        } else if (c < 0x20 || c > 0x3f) {
            esc_state = ESC_NONE;  /* malformed: give up on it */
        }
        return;
    }
    switch (c) {
    case '\033':
        esc_state = ESC_START;
        return;
    case '\n':
        newline();
        return;
    case '\r':
        col = 0;
        return;
    case '\b':
        if (col > 0)
            col = (col >= COLS ? COLS - 1 : col) - 1;
        return;
    case '\t':
        do
            put(' ');
        while (col % 8 && col < COLS);
        return;
    case '\a':
    case 0:
        return;
    default:
        if (col >= COLS)
            newline();
        text[row * COLS + col++] = (uint16_t)((uint8_t)c | attr << 8);
    }
}

/* Four characters (one per byte of c) to four cells' low bytes. */
static inline uint64_t spread_to_cells(uint32_t c)
{
    uint64_t x = c;
    x = (x | x << 16) & 0x0000FFFF0000FFFFULL;
    return (x | x << 8) & 0x00FF00FF00FF00FFULL;
}

static void place_cursor(void)
{
    uint16_t at = (uint16_t)(row * COLS + (col < COLS ? col : COLS - 1));
    crtc_write(CRTC_CURSOR_HI, at >> 8);
    crtc_write(CRTC_CURSOR_LO, at & 0xff);
}

void vga_write(const char *s, size_t n)
{
    if (!text)
        return;
    uint64_t flags = read_rflags();
    cli();  /* printk from an interrupt handler must not interleave with us */
    size_t i = 0;
    while (i < n) {
        /* The common case in a tight loop: printable characters (and any byte
         * >= 0x20) outside an escape sequence, up to the end of the row, stored
         * exactly as put() would (kernel code is emulated instruction by
         * instruction on PVM hosts: put()'s call is ~35 instructions).
         * Anything else goes through put(). */
        if (esc_state == ESC_NONE && col < COLS && (uint8_t)s[i] >= 0x20) {
            uint16_t *cell = (uint16_t *)&text[row * COLS + col];
            uint16_t high = (uint16_t)(attr << 8);
            size_t end = i + (size_t)(COLS - col) < n ? i + (size_t)(COLS - col) : n;
            size_t start = i;
            /* Eight characters at a time while none is a control character:
             * each half of the word spread to four cells (~3 instructions a
             * character instead of ~6). */
            uint64_t highs = high * 0x0001000100010001ULL;
            for (; end - i >= 8; i += 8, cell += 8) {
                uint64_t w = load_word(s + i);
                if (bytes_below(w, 0x20))
                    break;
                store_word(cell, spread_to_cells((uint32_t)w) | highs);
                store_word(cell + 4, spread_to_cells((uint32_t)(w >> 32)) | highs);
            }
            while (i < end && (uint8_t)s[i] >= 0x20)
                *cell++ = (uint16_t)((uint8_t)s[i++] | high);
            col += (int)(i - start);
            continue;
        }
        put(s[i++]);
    }
    place_cursor();
    if (flags & RFLAGS_IF)
        sti();
}

void vga_init(void)
{
    char value[8];
    if (cmdline_get("vga", value, sizeof value) && value[0] == '0')
        return;
    uint8_t misc = inb(MISC_READ);
    if (misc == 0xff)
        return;  /* open bus: no VGA adapter */
    int color = misc & MISC_IOAS;
    crtc_port = color ? 0x3d4 : 0x3b4;
    text = phys_to_virt(color ? 0xb8000 : 0xb0000);
    crtc_write(CRTC_START_HI, 0);  /* the screen starts at the window's start */
    crtc_write(CRTC_START_LO, 0);
    crtc_write(CRTC_CURSOR_START, 14);  /* an underline cursor in the 16-line cell */
    crtc_write(CRTC_CURSOR_END, 15);
    blank(0, COLS * ROWS);
    row = col = 0;
    place_cursor();
}
