/*
 * tail [-n N | -N] [FILE...]: the last N lines (10) of each file or of
 * standard input. The input is read once, front to back (a pipe cannot be
 * read backwards); the last N lines are kept in a ring.
 */
#include <ulib.h>

#define MAX_LINES 10000

static char line[8192];

static int tail(int fd, const char *name, long n)
{
    char **ring = n ? malloc((size_t)n * sizeof *ring) : NULL;
    if (n && !ring) {
        dprintf(2, "tail: out of memory\n");
        return 1;
    }
    struct reader *r = malloc(sizeof *r);
    if (!r)
        return 1;
    reader_init(r, fd);
    long seen = 0, len;
    while ((len = read_line(r, line, sizeof line)) >= 0) {
        if (!n)
            continue;
        long slot = seen % n;
        if (seen >= n)
            free(ring[slot]);
        ring[slot] = strndup(line, (size_t)len);
        seen++;
    }
    free(r);
    struct writer *out = malloc(sizeof *out);
    writer_init(out, 1);
    for (long i = seen > n ? seen - n : 0; i < seen; i++) {
        char *s = ring[i % n];
        if (s)
            writer_puts(out, s);
        writer_put(out, "\n", 1);
        free(s);
    }
    int status = writer_flush(out) ? 1 : 0;
    free(out);
    free(ring);
    if (len < -1) {
        warn_err("tail", name, (int)-len);
        return 1;
    }
    return status;
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
    if (n < 0 || n > MAX_LINES) {
        dprintf(2, "tail: the line count must be a number up to %d; usage: tail [-n N] [FILE...]\n", MAX_LINES);
        return 2;
    }
    if (i == argc)
        return tail(0, "standard input", n);
    int status = 0;
    for (int first = i; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY);
        if (fd < 0) {
            warn_err("tail", argv[i], -fd);
            status = 1;
            continue;
        }
        if (argc - first > 1)
            printf("%s==> %s <==\n", i > first ? "\n" : "", argv[i]);
        status |= tail(fd, argv[i], n);
        close(fd);
    }
    return status;
}
