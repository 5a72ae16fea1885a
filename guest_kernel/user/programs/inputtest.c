/*
 * inputtest: shows what arrives from the console and from /dev/mouse, for the
 * keyboard and mouse tests.
 *   inputtest keys      print each console read, escaped, until a line "quit"
 *   inputtest mouse N   print N events read from /dev/mouse
 */
#include <pyos_user.h>
#include <pyos/mouse.h>

static void print_escaped(const char *buf, long n)
{
    char out[64 * 4 + 1];
    int k = 0;
    for (long i = 0; i < n; i++) {
        unsigned char c = (unsigned char)buf[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out[k++] = (char)c;
        } else {
            k += snprintf(out + k, sizeof out - k, "\\x%02x", c);
        }
    }
    out[k] = 0;
    printf("got: %s\n", out);
}

static int keys(void)
{
    char buf[64], line[64];
    int len = 0;
    /* Raw mode: every byte as it comes, ^C and DEL included, no echo. */
    struct pyos_termios raw;
    ioctl(0, TCGETS, &raw);
    raw.lflag &= ~(ICANON | ECHO | ISIG);
    ioctl(0, TCSETS, &raw);
    printf("inputtest: reading the console\n");
    for (;;) {
        long n = read(0, buf, sizeof buf);
        if (n <= 0) {
            printf("inputtest: read returned %ld\n", n);
            return 1;
        }
        print_escaped(buf, n);
        for (long i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                line[len] = 0;
                if (!strcmp(line, "quit")) {
                    printf("inputtest: done\n");
                    return 0;
                }
                len = 0;
            } else if (len < (int)sizeof line - 1) {
                line[len++] = buf[i];
            }
        }
    }
}

static int mouse(int count)
{
    int fd = open("/dev/mouse", 0);
    if (fd < 0) {
        printf("inputtest: cannot open /dev/mouse: error %d\n", -fd);
        return 1;
    }
    printf("inputtest: reading /dev/mouse\n");
    int seen = 0;
    while (seen < count) {
        struct pyos_mouse_event ev[8];
        long n = read(fd, ev, sizeof ev);
        if (n <= 0 || n % (long)sizeof ev[0]) {
            printf("inputtest: read returned %ld\n", n);
            return 1;
        }
        for (long i = 0; i < n / (long)sizeof ev[0] && seen < count; i++, seen++)
            printf("mouse: dx=%d dy=%d dz=%d buttons=%d flags=%d\n", ev[i].dx, ev[i].dy, ev[i].dz,
                   ev[i].buttons, ev[i].flags);
    }
    printf("inputtest: done\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "keys"))
        return keys();
    if (argc >= 3 && !strcmp(argv[1], "mouse"))
        return mouse((int)strtol(argv[2], NULL, 0));
    printf("usage: inputtest keys | inputtest mouse N\n");
    return 2;
}
