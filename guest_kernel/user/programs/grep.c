/*
 * grep [-v] [-c] [-n] [-i] [-q] [-F] PATTERN [FILE...]: the lines containing
 * PATTERN, a fixed string (no regular expressions). -v: the lines without it,
 * -c: only how many, -n: with line numbers, -i: ignoring case, -q: nothing,
 * only the status. With several files each line is prefixed "FILE:".
 * Status 0 if a line was selected, 1 if none, 2 on an error.
 */
#include <ulib.h>

static int invert, count_only, numbers, ignore_case, quiet;
static const char *pattern;
static char line[8192];
static struct writer out;

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int contains(const char *s)
{
    if (!ignore_case)
        return strstr(s, pattern) != NULL;
    size_t n = strlen(pattern);
    for (; *s; s++) {
        size_t i = 0;
        while (i < n && s[i] && lower(s[i]) == lower(pattern[i]))
            i++;
        if (i == n)
            return 1;
    }
    return n == 0;
}

/* Returns the number of lines selected, or -1 on a read error. */
static long grep(int fd, const char *name, const char *prefix)
{
    struct reader *r = malloc(sizeof *r);
    if (!r)
        return -1;
    reader_init(r, fd);
    long selected = 0, number = 0, len;
    while ((len = read_line(r, line, sizeof line)) >= 0) {
        number++;
        if (contains(line) == invert)
            continue;
        selected++;
        if (quiet)
            break;
        if (count_only)
            continue;
        if (prefix)
            writer_printf(&out, "%s:", prefix);
        if (numbers)
            writer_printf(&out, "%ld:", number);
        writer_put(&out, line, (size_t)len);
        writer_put(&out, "\n", 1);
    }
    free(r);
    if (len < -1) {
        warn_err("grep", name, (int)-len);
        return -1;
    }
    if (count_only && !quiet) {
        if (prefix)
            writer_printf(&out, "%s:", prefix);
        writer_printf(&out, "%ld\n", selected);
    }
    return selected;
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (!strcmp(argv[i], "--")) {
            i++;
            break;
        }
        for (const char *o = argv[i] + 1; *o; o++) {
            switch (*o) {
            case 'v': invert = 1; break;
            case 'c': count_only = 1; break;
            case 'n': numbers = 1; break;
            case 'i': ignore_case = 1; break;
            case 'q': quiet = 1; break;
            case 'F': break;
            default:
                dprintf(2, "grep: unknown option -%c; usage: grep [-vcniqF] PATTERN [FILE...]\n", *o);
                return 2;
            }
        }
    }
    if (i == argc) {
        dprintf(2, "usage: grep [-vcniqF] PATTERN [FILE...]\n");
        return 2;
    }
    pattern = argv[i++];
    writer_init(&out, 1);
    long total = 0;
    int error = 0;
    if (i == argc) {
        long n = grep(0, "standard input", NULL);
        error = n < 0;
        total = n > 0 ? n : 0;
    }
    int several = argc - i > 1;
    for (; i < argc && !(quiet && total); i++) {
        int fd = open(argv[i], O_RDONLY);
        if (fd < 0) {
            warn_err("grep", argv[i], -fd);
            error = 1;
            continue;
        }
        long n = grep(fd, argv[i], several ? argv[i] : NULL);
        close(fd);
        if (n < 0)
            error = 1;
        else
            total += n;
    }
    if (writer_flush(&out))
        return 2;
    return error && !(quiet && total) ? 2 : total ? 0 : 1;
}
