/* head [-n N | -N] [FILE...]: the first N lines (10) of each file or of standard input. */
#include <ulib.h>

static char buf[16384];

/* Copy until n newlines have gone by; 0, or 1 on a read error. */
static int head(int fd, const char *name, long n)
{
    while (n > 0) {
        long got = read(fd, buf, sizeof buf);
        if (got == -EINTR)
            continue;
        if (got < 0) {
            warn_err("head", name, (int)-got);
            return 1;
        }
        if (got == 0)
            break;
        long len = 0;
        while (len < got && n > 0)
            if (buf[len++] == '\n')
                n--;
        if (write_all(1, buf, (size_t)len) < 0)
            exit(1);
    }
    return 0;
}

int main(int argc, char **argv)
{
    long n = 10;
    int i = 1;
    if (i < argc && !strcmp(argv[i], "-n") && i + 1 < argc) {
        n = parse_count(argv[i + 1]);
        i += 2;
    } else if (i < argc && argv[i][0] == '-' && isdigit(argv[i][1])) {
        n = parse_count(argv[i] + 1);
        i++;
    }
    if (n < 0) {
        dprintf(2, "head: the line count must be a number; usage: head [-n N] [FILE...]\n");
        return 2;
    }
    if (i == argc)
        return head(0, "standard input", n);
    int status = 0;
    for (int first = i; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY);
        if (fd < 0) {
            warn_err("head", argv[i], -fd);
            status = 1;
            continue;
        }
        if (argc - first > 1)
            printf("%s==> %s <==\n", i > first ? "\n" : "", argv[i]);
        status |= head(fd, argv[i], n);
        close(fd);
    }
    return status;
}
