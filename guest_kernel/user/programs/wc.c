/*
 * wc [-l] [-w] [-c] [FILE...]: lines, words and bytes of each file (or of
 * standard input), and a total when there are several. A word is a maximal
 * run of characters other than space, tab, newline, CR, FF and VT.
 */
#include <ulib.h>

static char buf[65536];
static int show_lines, show_words, show_bytes;

struct counts {
    unsigned long lines, words, bytes;
};

static int count(int fd, const char *name, struct counts *c)
{
    int in_word = 0;
    for (;;) {
        long n = read(fd, buf, sizeof buf);
        if (n == -EINTR)
            continue;
        if (n < 0) {
            warn_err("wc", name, (int)-n);
            return 1;
        }
        if (n == 0)
            return 0;
        c->bytes += (unsigned long)n;
        for (long i = 0; i < n; i++) {
            char ch = buf[i];
            if (ch == '\n')
                c->lines++;
            if (isspace(ch)) {
                in_word = 0;
            } else if (!in_word) {
                in_word = 1;
                c->words++;
            }
        }
    }
}

/* Columns 7 wide, as GNU wc pads them; a single column is not padded (wc -l). */
static void report(const struct counts *c, const char *name)
{
    char line[128];
    int n = 0, width = show_lines + show_words + show_bytes > 1 ? 7 : 1;
    if (show_lines)
        n += snprintf(line + n, sizeof line - n, "%*lu ", width, c->lines);
    if (show_words)
        n += snprintf(line + n, sizeof line - n, "%*lu ", width, c->words);
    if (show_bytes)
        n += snprintf(line + n, sizeof line - n, "%*lu ", width, c->bytes);
    line[n - 1] = 0;   /* no space after the last column */
    if (name)
        printf("%s %s\n", line, name);
    else
        printf("%s\n", line);
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        for (const char *o = argv[i] + 1; *o; o++) {
            if (*o == 'l')
                show_lines = 1;
            else if (*o == 'w')
                show_words = 1;
            else if (*o == 'c')
                show_bytes = 1;
            else {
                dprintf(2, "wc: unknown option -%c; usage: wc [-l] [-w] [-c] [FILE...]\n", *o);
                return 2;
            }
        }
    }
    if (!show_lines && !show_words && !show_bytes)
        show_lines = show_words = show_bytes = 1;
    if (i == argc) {
        struct counts c = {0};
        int status = count(0, "standard input", &c);
        report(&c, NULL);
        return status;
    }
    struct counts total = {0};
    int status = 0, files = argc - i;
    for (; i < argc; i++) {
        struct counts c = {0};
        int fd = open(argv[i], O_RDONLY);
        if (fd < 0) {
            warn_err("wc", argv[i], -fd);
            status = 1;
            continue;
        }
        status |= count(fd, argv[i], &c);
        close(fd);
        report(&c, argv[i]);
        total.lines += c.lines;
        total.words += c.words;
        total.bytes += c.bytes;
    }
    if (files > 1)
        report(&total, "total");
    return status;
}
