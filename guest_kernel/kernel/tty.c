/*
 * The console tty: one line discipline for everything typed on the serial
 * port and the PS/2 keyboard, between the drivers (which call tty_input
 * from their IRQ handlers) and the file descriptors (/dev/console, fds 0-2).
 * Output goes to console_write (COM1 with CR before LF, and the VGA screen).
 *
 * Canonical mode (ICANON, the default): input is edited a line at a time,
 * echoed as typed (ECHO; control characters as ^X); DEL and ^H erase a
 * character, ^U the whole line, ^D ends the line without a newline (on an
 * empty line: a read returns 0, end of file), CR becomes LF; a read returns
 * at most one line. With ISIG, ^C throws away pending input and sends
 * SIGINT to the foreground process group. Raw mode (ICANON off, via
 * TCSETS): a read returns whatever bytes have arrived, at least one;
 * ECHO and ISIG apply separately.
 *
 * Simplified, on purpose: one tty; the termios is lflag and four control
 * characters (struct pyos_termios); no output processing beyond the
 * console's CR LF; a tab erases one column. Bytes that arrive before the
 * tty is first opened (by init, or read by the kernel's echo console) wait
 * unprocessed and go through the discipline then, so nothing is echoed into
 * the boot log. A process outside the foreground group that reads gets -EIO
 * (no SIGTTIN); when no process is left in the foreground group, the next
 * reader's group takes the foreground, so a job that died without the shell
 * taking the tty back cannot leave the console unreadable.
 */
#include <pyos/console.h>
#include <pyos/file.h>
#include <pyos/kernel.h>
#include <pyos/signal.h>
#include <pyos/string.h>
#include <pyos/syscall_nr.h>
#include <pyos/task.h>
#include <pyos/tty.h>
#include <pyos/user.h>
#include <pyos/x86.h>

#define TTY_BUF 1024       /* bytes ready for readers (a power of two) */
#define TTY_LINE 256       /* the line being edited */
#define TTY_ENDS 64        /* complete lines waiting (a power of two) */
#define TTY_EARLY 256      /* bytes received before the first open */

static struct {
    struct pyos_termios t;
    int fg_pgrp;
    int active;                         /* opened: input goes through the discipline */
    char line[TTY_LINE];
    uint32_t len;
    char buf[TTY_BUF];
    uint32_t head, tail;                /* head: next write, tail: next read (free-running) */
    uint32_t ends[TTY_ENDS];            /* where each complete line ends in buf */
    uint32_t ends_head, ends_tail;
    char early[TTY_EARLY];
    uint32_t early_len;
} tty = {
    .t = {.lflag = ISIG | ICANON | ECHO, .cc_intr = 3, .cc_erase = 0x7f, .cc_kill = 0x15, .cc_eof = 4},
    .fg_pgrp = 1,   /* init's group */
};

static void echo(const char *s, size_t n)
{
    if (tty.t.lflag & ECHO)
        console_write(s, n);
}

static int is_control(char c)
{
    return ((unsigned char)c < 32 && c != '\n' && c != '\t') || c == 0x7f;
}

static void echo_char(char c)
{
    if (is_control(c)) {
        char s[2] = {'^', c == 0x7f ? '?' : (char)(c + 64)};
        echo(s, 2);
    } else {
        echo(&c, 1);
    }
}

static void erase_one(void)
{
    char c = tty.line[--tty.len];
    for (int i = is_control(c) ? 2 : 1; i > 0; i--)
        echo("\b \b", 3);
}

static void flush_input(void)
{
    tty.len = 0;
    tty.tail = tty.head;
    tty.ends_tail = tty.ends_head;
}

/* The edited line becomes readable (end: it also ends a line for canonical reads). */
static void push_line(int end)
{
    uint32_t room = TTY_BUF - (tty.head - tty.tail);
    if (tty.len <= room && (!end || tty.ends_head - tty.ends_tail < TTY_ENDS)) {
        for (uint32_t i = 0; i < tty.len; i++)
            tty.buf[tty.head++ % TTY_BUF] = tty.line[i];
        if (end)
            tty.ends[tty.ends_head++ % TTY_ENDS] = tty.head;
    }   /* else the line is lost: nobody has read for TTY_BUF bytes */
    tty.len = 0;
    task_wakeup(&tty);
}

static void discipline(char c)
{
    unsigned int lflag = tty.t.lflag;
    if ((lflag & ISIG) && c && c == tty.t.cc_intr) {
        flush_input();
        echo_char(c);
        echo("\n", 1);
        if (tty.fg_pgrp > 0)
            signal_send_group(tty.fg_pgrp, SIGINT);
        return;
    }
    if (!(lflag & ICANON)) {
        if (tty.head - tty.tail < TTY_BUF) {
            tty.buf[tty.head++ % TTY_BUF] = c;
            echo(&c, 1);
        }
        task_wakeup(&tty);
        return;
    }
    if (c == '\r')
        c = '\n';
    if (c == 0x7f || c == '\b' || (c && c == tty.t.cc_erase)) {
        if (tty.len)
            erase_one();
    } else if (c && c == tty.t.cc_kill) {
        while (tty.len)
            erase_one();
    } else if (c && c == tty.t.cc_eof) {
        push_line(1);
    } else if (c == '\n') {
        tty.line[tty.len++] = c;   /* the last slot is kept for it */
        echo("\n", 1);
        push_line(1);
    } else if (tty.len < TTY_LINE - 1) {
        tty.line[tty.len++] = c;
        echo_char(c);
    }
}

static void activate(void)
{
    if (tty.active)
        return;
    tty.active = 1;
    for (uint32_t i = 0; i < tty.early_len; i++)
        discipline(tty.early[i]);
    tty.early_len = 0;
}

void tty_input(char c)
{
    if (tty.active)
        discipline(c);
    else if (tty.early_len < TTY_EARLY)
        tty.early[tty.early_len++] = c;
}

void tty_open(void)
{
    uint64_t flags = irq_save();
    activate();
    irq_restore(flags);
}

/* Take what a read may return now; -EAGAIN if nothing. */
static long take(char *buf, size_t len)
{
    size_t n = 0;
    if (tty.t.lflag & ICANON) {
        if (tty.ends_tail == tty.ends_head)
            return -EAGAIN;
        uint32_t end = tty.ends[tty.ends_tail % TTY_ENDS];
        while (n < len && tty.tail != end)
            buf[n++] = tty.buf[tty.tail++ % TTY_BUF];
        if (tty.tail == end)
            tty.ends_tail++;
        return (long)n;
    }
    if (tty.head == tty.tail)
        return -EAGAIN;
    while (n < len && tty.tail != tty.head)
        buf[n++] = tty.buf[tty.tail++ % TTY_BUF];
    return (long)n;
}

long tty_read_nonblock(char *buf, size_t len)
{
    uint64_t flags = irq_save();
    activate();
    long n = take(buf, len);
    irq_restore(flags);
    return n;
}

static int group_exists(int pgid)
{
    for (int i = 1; i < TASK_MAX; i++) {
        struct task *t = task_slot(i);
        if (t->state != TASK_FREE && t->state != TASK_ZOMBIE && t->space && t->pgid == pgid)
            return 1;
    }
    return 0;
}

long tty_read(char *buf, size_t len)
{
    uint64_t flags = irq_save();
    activate();
    long n;
    for (;;) {
        if (current->pgid != tty.fg_pgrp && current->space) {
            if (group_exists(tty.fg_pgrp)) {
                n = -EIO;   /* a background process: no SIGTTIN, an error */
                break;
            }
            tty.fg_pgrp = current->pgid;
        }
        n = take(buf, len);
        if (n != -EAGAIN || !task_can_block())
            break;
        if (signal_pending(current)) {
            n = -EINTR;
            break;
        }
        task_block(&tty);
    }
    irq_restore(flags);
    return n;
}

long tty_write(const char *buf, size_t len)
{
    console_write(buf, len);
    return (long)len;
}

/* The termios changed: what was typed carries over to the new mode. */
static void set_termios(const struct pyos_termios *n)
{
    int was_canonical = tty.t.lflag & ICANON;
    tty.t = *n;
    tty.t.lflag &= ISIG | ICANON | ECHO;
    if (was_canonical && !(tty.t.lflag & ICANON)) {
        push_line(0);                      /* a half-typed line is readable at once */
        tty.ends_tail = tty.ends_head;
    } else if (!was_canonical && (tty.t.lflag & ICANON) && tty.head != tty.tail &&
               tty.ends_head - tty.ends_tail < TTY_ENDS) {
        tty.ends[tty.ends_head++ % TTY_ENDS] = tty.head;  /* bytes left from raw mode: one line */
    }
    task_wakeup(&tty);
}

long tty_ioctl(unsigned long request, unsigned long arg)
{
    switch (request) {
    case TCGETS:
        if (user_range_ok(arg, sizeof(struct pyos_termios)))
            return -EFAULT;
        memcpy((void *)arg, &tty.t, sizeof tty.t);
        return 0;
    case TCSETS: {
        if (user_range_ok(arg, sizeof(struct pyos_termios)))
            return -EFAULT;
        struct pyos_termios n;
        memcpy(&n, (const void *)arg, sizeof n);
        uint64_t flags = irq_save();
        set_termios(&n);
        irq_restore(flags);
        return 0;
    }
    case TIOCGPGRP:
        if (user_range_ok(arg, sizeof(int)))
            return -EFAULT;
        *(int *)arg = tty.fg_pgrp;
        return 0;
    case TIOCSPGRP: {
        if (user_range_ok(arg, sizeof(int)))
            return -EFAULT;
        int pgid = *(const int *)arg;
        if (pgid <= 0)
            return -EINVAL;
        if (!group_exists(pgid))
            return -EPERM;
        tty.fg_pgrp = pgid;
        return 0;
    }
    default:
        return -ENOTTY;
    }
}

struct file *fd_file(long fd);

long sys_ioctl(long fd, long request, long arg, long a3, long a4, long a5)
{
    (void)a3, (void)a4, (void)a5;
    struct file *f = fd_file(fd);
    if (!f)
        return -EBADF;
    if (f->type != FILE_CONSOLE)
        return -ENOTTY;
    return tty_ioctl((unsigned long)request, (unsigned long)arg);
}
