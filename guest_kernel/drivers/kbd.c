/*
 * The 8042 keyboard controller and the PS/2 keyboard.
 *
 * kbd_init() finds the controller (self test 0xAA must answer 0x55; with no
 * controller, e.g. QEMU's microvm, the port reads all ones and we give up
 * quietly), turns translation on so the keyboard's set-2 codes reach us as
 * set 1, resets the keyboard, and enables IRQ 1 (and IRQ 12 when
 * mouse_init() found a mouse). Both IRQs run i8042_drain(), which routes
 * each waiting byte by the status register's AUXB bit.
 *
 * Scan codes (set 1) become characters here: shift, caps lock, ctrl, alt
 * (as an ESC prefix, like xterm's meta key), num lock for the keypad; arrows,
 * Home/End, PgUp/PgDn, Insert/Delete and F1-F12 become the ANSI/xterm escape
 * sequences a terminal would send. Backspace is DEL (0x7f), as terminals send
 * it. Caps, num and scroll lock update the keyboard's LEDs (command 0xED,
 * driven from the IRQ as the acknowledgements arrive). Characters go to the
 * console tty (tty_input, kernel/tty.c), like the bytes the UART receives.
 * Ctrl-Alt-Delete pulses the CPU reset line (controller command 0xFE).
 */
#include <pyos/i8042.h>
#include <pyos/io.h>
#include <pyos/irq.h>
#include <pyos/kernel.h>
#include <pyos/tty.h>
#include <pyos/x86.h>

#define POLL_LIMIT 20000   /* status reads before a wait gives up */
#define KBD_ACK 0xfa
#define KBD_RESEND 0xfe

/* -- the controller ----------------------------------------------------------------- */

static int wait_input_empty(void)
{
    for (int i = 0; i < POLL_LIMIT; i++)
        if (!(inb(I8042_STATUS) & I8042_ST_IBF))
            return 0;
    return -1;
}

int i8042_command(uint8_t cmd)
{
    if (wait_input_empty() < 0)
        return -1;
    outb(I8042_COMMAND, cmd);
    return 0;
}

int i8042_write(uint8_t byte)
{
    if (wait_input_empty() < 0)
        return -1;
    outb(I8042_DATA, byte);
    return 0;
}

int i8042_read(void)
{
    for (int i = 0; i < POLL_LIMIT; i++)
        if (inb(I8042_STATUS) & I8042_ST_OBF)
            return inb(I8042_DATA);
    return -1;
}

int i8042_aux_command(uint8_t byte)
{
    if (i8042_command(0xd4) < 0 || i8042_write(byte) < 0)
        return -1;
    return i8042_read();
}

static void flush_output(void)
{
    for (int i = 0; i < 64 && (inb(I8042_STATUS) & I8042_ST_OBF); i++)
        (void)inb(I8042_DATA);
}

static int read_config(void)
{
    return i8042_command(0x20) < 0 ? -1 : i8042_read();
}

static int write_config(uint8_t cfg)
{
    return i8042_command(0x60) < 0 ? -1 : i8042_write(cfg);
}

/* A reply from the keyboard, skipping scan codes still in flight (keys
 * pressed or released before the command, e.g. across a reset): up to 32. */
static int kbd_expect(int want1, int want2)
{
    int r = -1;
    for (int i = 0; i < 32; i++) {
        r = i8042_read();
        if (r < 0 || r == want1 || r == want2)
            return r;
    }
    return r;
}

/* A command to the keyboard, retried on resend; returns the acknowledgement. */
static int kbd_command(uint8_t byte)
{
    for (int tries = 0; tries < 3; tries++) {
        if (i8042_write(byte) < 0)
            return -1;
        int r = kbd_expect(KBD_ACK, KBD_RESEND);
        if (r != KBD_RESEND)
            return r;
    }
    return KBD_RESEND;
}

void i8042_drain(void)
{
    uint8_t st;
    for (int i = 0; i < 64 && ((st = inb(I8042_STATUS)) & I8042_ST_OBF); i++) {
        uint8_t byte = inb(I8042_DATA);
        if (st & I8042_ST_AUXB)
            mouse_byte(byte);
        else
            kbd_byte(byte);
    }
}

static void i8042_irq(int irq, struct trap_frame *frame)
{
    (void)irq;
    (void)frame;
    i8042_drain();
}

int kbd_init(void)
{
    /* Both ports off while we set up, then nothing may be left in the buffer. */
    if (i8042_command(0xad) < 0 || i8042_command(0xa7) < 0) {
        printk("i8042: no controller (it never took a command); no keyboard or mouse\n");
        return -1;
    }
    flush_output();
    if (i8042_command(0xaa) < 0) {
        printk("i8042: no controller; no keyboard or mouse\n");
        return -1;
    }
    int r = i8042_read();
    if (r != 0x55) {
        printk("i8042: no controller (self test answered %d, not 0x55); no keyboard or mouse\n", r);
        return -1;
    }
    int cfg = read_config();
    if (cfg < 0)
        return -1;
    cfg &= ~(I8042_CFG_KBD_INT | I8042_CFG_AUX_INT);  /* polled until we are ready */
    write_config((uint8_t)(cfg | I8042_CFG_XLAT | I8042_CFG_SYS));
    if (i8042_command(0xab) < 0 || (r = i8042_read()) != 0) {
        printk("i8042: keyboard port test failed (%d)\n", r);
        return -1;
    }
    i8042_command(0xae);
    int ack = kbd_command(0xff);
    int bat = ack == KBD_ACK ? kbd_expect(0xaa, 0xfc) : -1;  /* FC: self test failed */
    if (bat != 0xaa) {
        printk("i8042: keyboard reset failed (ack %d, self test %d); no keyboard\n", ack, bat);
        return -1;
    }
    kbd_command(0xed);
    kbd_command(0);  /* LEDs off */
    kbd_command(0xf4);
    i8042_command(0xad);  /* keys typed now must not be taken for the mouse's replies */
    mouse_init();
    i8042_command(0xae);
    cfg = read_config();
    cfg |= I8042_CFG_KBD_INT | I8042_CFG_XLAT;
    if (mouse_present)
        cfg = (cfg | I8042_CFG_AUX_INT) & ~I8042_CFG_AUX_OFF;
    write_config((uint8_t)cfg);
    irq_register(IRQ_KBD, i8042_irq);
    if (mouse_present)
        irq_register(IRQ_MOUSE, i8042_irq);
    printk("i8042: keyboard on IRQ 1 (scan-code set 2, translated to set 1)%s\n",
           mouse_present ? ", mouse on IRQ 12" : ", no mouse");
    return 0;
}

/* -- the keyboard: scan codes to characters ----------------------------------------- */

static const char plain[0x59] = {
    0, 0x1b, '1', '2', '3', '4', '5', '6', '7', '8', '9', '0', '-', '=', 0x7f, '\t',
    'q', 'w', 'e', 'r', 't', 'y', 'u', 'i', 'o', 'p', '[', ']', '\n', 0, 'a', 's',
    'd', 'f', 'g', 'h', 'j', 'k', 'l', ';', '\'', '`', 0, '\\', 'z', 'x', 'c', 'v',
    'b', 'n', 'm', ',', '.', '/', 0, '*', 0, ' ', 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, '7', '8', '9', '-', '4', '5', '6', '+', '1',
    '2', '3', '0', '.', 0, 0, '\\', 0, 0,
};
static const char shifted[0x59] = {
    0, 0x1b, '!', '@', '#', '$', '%', '^', '&', '*', '(', ')', '_', '+', 0x7f, '\t',
    'Q', 'W', 'E', 'R', 'T', 'Y', 'U', 'I', 'O', 'P', '{', '}', '\n', 0, 'A', 'S',
    'D', 'F', 'G', 'H', 'J', 'K', 'L', ':', '"', '~', 0, '|', 'Z', 'X', 'C', 'V',
    'B', 'N', 'M', '<', '>', '?', 0, '*', 0, ' ', 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, '7', '8', '9', '-', '4', '5', '6', '+', '1',
    '2', '3', '0', '.', 0, 0, '|', 0, 0,
};

enum {
    SC_LCTRL = 0x1d, SC_LSHIFT = 0x2a, SC_RSHIFT = 0x36, SC_ALT = 0x38, SC_CAPS = 0x3a,
    SC_F1 = 0x3b, SC_F10 = 0x44, SC_NUM = 0x45, SC_SCROLL = 0x46, SC_KP7 = 0x47, SC_KPDOT = 0x53,
    SC_F11 = 0x57, SC_F12 = 0x58,
};
#define LED_SCROLL 1
#define LED_NUM 2
#define LED_CAPS 4

/* What the navigation keys send (E0-prefixed, or the keypad without num lock). */
static const char *nav_sequence(uint8_t code)
{
    switch (code) {
    case 0x47: return "\x1b[H";    /* home */
    case 0x48: return "\x1b[A";    /* up */
    case 0x49: return "\x1b[5~";   /* page up */
    case 0x4b: return "\x1b[D";    /* left */
    case 0x4d: return "\x1b[C";    /* right */
    case 0x4f: return "\x1b[F";    /* end */
    case 0x50: return "\x1b[B";    /* down */
    case 0x51: return "\x1b[6~";   /* page down */
    case 0x52: return "\x1b[2~";   /* insert */
    case 0x53: return "\x1b[3~";   /* delete */
    default: return NULL;
    }
}

static const char *const function_keys[12] = {
    "\x1bOP", "\x1bOQ", "\x1bOR", "\x1bOS", "\x1b[15~", "\x1b[17~",
    "\x1b[18~", "\x1b[19~", "\x1b[20~", "\x1b[21~", "\x1b[23~", "\x1b[24~",
};

uint8_t kbd_leds;
static int shift_l, shift_r, ctrl, alt, extended, skip;
static enum { LEDS_IDLE, LEDS_SENT_COMMAND, LEDS_SENT_VALUE } led_state;
static int leds_dirty;

static void put(char c)
{
    tty_input(c);
}

static void put_string(const char *s)
{
    if (alt)
        put(0x1b);
    while (*s)
        put(*s++);
}

/* The LED update: ED, wait for FA, the LED bits, wait for FA (driven by kbd_byte). */
static void leds_update(void)
{
    if (led_state != LEDS_IDLE) {
        leds_dirty = 1;  /* send again once the current update is acknowledged */
        return;
    }
    led_state = LEDS_SENT_COMMAND;
    i8042_write(0xed);
}

static int leds_ack(uint8_t byte)
{
    if (led_state == LEDS_IDLE || (byte != KBD_ACK && byte != KBD_RESEND))
        return 0;
    if (byte == KBD_RESEND) {
        i8042_write(led_state == LEDS_SENT_COMMAND ? 0xed : kbd_leds);
    } else if (led_state == LEDS_SENT_COMMAND) {
        led_state = LEDS_SENT_VALUE;
        i8042_write(kbd_leds);
    } else {
        led_state = LEDS_IDLE;
        if (leds_dirty) {
            leds_dirty = 0;
            leds_update();
        }
    }
    return 1;
}

static void toggle_led(uint8_t bit)
{
    kbd_leds ^= bit;
    leds_update();
}

void kbd_byte(uint8_t byte)
{
    if (leds_ack(byte))
        return;
    if (skip) {  /* the rest of Pause's E1 sequence */
        skip--;
        return;
    }
    if (byte == 0xe0) {
        extended = 1;
        return;
    }
    if (byte == 0xe1) {
        skip = 5;
        return;
    }
    int ext = extended;
    extended = 0;
    int make = !(byte & 0x80);
    uint8_t code = byte & 0x7f;

    switch (code) {
    case SC_LSHIFT:
    case SC_RSHIFT:
        if (!ext)  /* E0 2A / E0 36 are Print Screen's fake shifts */
            *(code == SC_LSHIFT ? &shift_l : &shift_r) = make;
        return;
    case SC_LCTRL:
        ctrl = make;
        return;
    case SC_ALT:
        alt = make;
        return;
    }
    if (!make)
        return;
    if (code == 0x53 && ctrl && alt) {  /* ctrl-alt-delete (either Delete key): reset, as a PC does */
        printk("kbd: ctrl-alt-delete: resetting the CPU through the 8042\n");
        i8042_command(0xfe);
        return;
    }
    if (!ext) {
        if (code == SC_CAPS) { toggle_led(LED_CAPS); return; }
        if (code == SC_NUM) { toggle_led(LED_NUM); return; }
        if (code == SC_SCROLL) { toggle_led(LED_SCROLL); return; }
    }

    const char *seq = NULL;
    if (ext) {
        if (code == 0x1c) {        /* keypad enter */
            put('\n');
        } else if (code == 0x35) { /* keypad / */
            put('/');
        } else if ((seq = nav_sequence(code))) {
            put_string(seq);
        }
        return;
    }
    if (code >= SC_F1 && code <= SC_F10)
        seq = function_keys[code - SC_F1];
    else if (code == SC_F11 || code == SC_F12)
        seq = function_keys[10 + code - SC_F11];
    else if (code >= SC_KP7 && code <= SC_KPDOT && !(kbd_leds & LED_NUM))
        seq = nav_sequence(code);
    if (seq) {
        put_string(seq);
        return;
    }
    if (code >= sizeof plain || !plain[code])
        return;
    char c = (shift_l || shift_r) ? shifted[code] : plain[code];
    if ((kbd_leds & LED_CAPS) && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
        c ^= 0x20;  /* caps lock inverts the case shift gives */
    if (ctrl) {
        if (c >= '@' && c <= '~' && c != '`')
            c &= 0x1f;   /* ctrl-a = 1 ... ctrl-[ = ESC, ctrl-_ = 0x1f */
        else if (c == ' ' || c == '2')
            c = 0;
    }
    if (alt)
        put(0x1b);
    put(c);
}
