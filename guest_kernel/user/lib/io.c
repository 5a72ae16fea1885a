/* Whole writes, a line reader and a buffered writer (ulib.h). */
#include <ulib.h>

long write_all(int fd, const void *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        long n = write(fd, (const char *)buf + done, len - done);
        if (n < 0 && n != -EINTR)
            return n;
        if (n > 0)
            done += (size_t)n;
    }
    return (long)len;
}

int putstr(int fd, const char *s)
{
    return write_all(fd, s, strlen(s)) < 0 ? -1 : 0;
}

void reader_init(struct reader *r, int fd)
{
    struct pyos_termios t;
    r->fd = fd;
    r->eof = 0;
    r->pos = r->len = 0;
    /* Without a tty the console hands over the ^D byte itself (the VMM sends
     * one when piped input ends) and a terminal's Enter as CR: treat them as
     * the tty's end of file and end of line would. */
    r->eot_is_eof = ioctl(fd, TCGETS, &t) == -ENOSYS && isatty(fd);
}

/* Refill the buffer: 1 if there is data, 0 at end of input, or -errno. */
static long fill(struct reader *r)
{
    if (r->eof)
        return 0;
    for (;;) {
        long n = read(r->fd, r->buf, sizeof r->buf);
        if (n == -EINTR)
            continue;
        if (n <= 0) {
            r->eof = 1;
            return n;
        }
        r->pos = 0;
        r->len = (size_t)n;
        return 1;
    }
}

long read_line(struct reader *r, char *line, size_t size)
{
    size_t n = 0;
    int got = 0;
    for (;;) {
        if (r->pos == r->len) {
            long f = fill(r);
            if (f < 0)
                return f;
            if (f == 0)
                break;
        }
        char c = r->buf[r->pos++];
        if (c == 4 && r->eot_is_eof) {
            r->eof = 1;
            r->pos = r->len;
            break;
        }
        got = 1;
        if (c == '\n' || (c == '\r' && r->eot_is_eof))   /* a raw terminal's Enter is CR */
            break;
        if (n + 1 < size)
            line[n++] = c;
    }
    line[n] = 0;
    return got ? (long)n : -1;
}

void writer_init(struct writer *w, int fd)
{
    w->fd = fd;
    w->error = 0;
    w->len = 0;
}

int writer_flush(struct writer *w)
{
    if (w->len && !w->error) {
        long r = write_all(w->fd, w->buf, w->len);
        if (r < 0)
            w->error = (int)r;
    }
    w->len = 0;
    return w->error;
}

void writer_put(struct writer *w, const void *data, size_t len)
{
    if (w->len + len > sizeof w->buf)
        writer_flush(w);
    if (len > sizeof w->buf) {
        if (!w->error) {
            long r = write_all(w->fd, data, len);
            if (r < 0)
                w->error = (int)r;
        }
        return;
    }
    memcpy(w->buf + w->len, data, len);
    w->len += len;
}

void writer_puts(struct writer *w, const char *s)
{
    writer_put(w, s, strlen(s));
}

int writer_printf(struct writer *w, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    writer_put(w, buf, n < (int)sizeof buf ? (size_t)n : sizeof buf - 1);
    return n;
}
