/*
 * ls [-l] [-a] [-1] [PATH...]: the entries of each directory (or the file
 * itself), sorted by name. -l: type and permissions, links, size, and the
 * modification time (UTC); -a: names starting with '.' too; -1: one name a
 * line, which is also the layout when standard output is not a terminal
 * (otherwise names go in columns, as wide as the widest name).
 */
#include <ulib.h>

static int long_format, all, one_per_line;
static struct writer out;

struct entry {
    char *name;
    struct pyos_stat st;
    int have_stat;
};

static void mode_string(unsigned int mode, char s[11])
{
    unsigned int type = mode & 0170000;
    s[0] = type == 0040000 ? 'd' : type == 0020000 ? 'c' : type == 0010000 ? 'p' : type == 0120000 ? 'l' : '-';
    const char *rwx = "rwxrwxrwx";
    for (int i = 0; i < 9; i++)
        s[1 + i] = mode & (0400u >> i) ? rwx[i] : '-';
    s[10] = 0;
}

/* Seconds since 1970 as "YYYY-MM-DD HH:MM" (UTC), by the civil-from-days algorithm. */
static void date_string(unsigned long t, char *s, size_t size)
{
    long days = (long)(t / 86400), secs = (long)(t % 86400);
    long z = days + 719468, era = z / 146097, doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    long d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9, y = yoe + era * 400 + (m <= 2);
    snprintf(s, size, "%04ld-%02ld-%02ld %02ld:%02ld", y, m, d, secs / 3600, secs / 60 % 60);
}

static void show_long(const struct entry *e)
{
    char mode[11], date[24];
    mode_string(e->st.mode, mode);
    date_string(e->st.mtime, date, sizeof date);
    writer_printf(&out, "%s %2u %8lu %s %s\n", mode, e->st.nlink, e->st.size, date, e->name);
}

static int compare(const struct entry *a, const struct entry *b)
{
    return strcmp(a->name, b->name);
}

static void sort(struct entry *e, size_t n)
{
    for (size_t i = 1; i < n; i++) {   /* insertion sort: directories are small */
        struct entry x = e[i];
        size_t j = i;
        for (; j > 0 && compare(&e[j - 1], &x) > 0; j--)
            e[j] = e[j - 1];
        e[j] = x;
    }
}

static void show(struct entry *e, size_t n)
{
    sort(e, n);
    if (long_format) {
        for (size_t i = 0; i < n; i++)
            show_long(&e[i]);
        return;
    }
    if (one_per_line) {
        for (size_t i = 0; i < n; i++) {
            writer_puts(&out, e[i].name);
            writer_put(&out, "\n", 1);
        }
        return;
    }
    size_t width = 1;
    for (size_t i = 0; i < n; i++)
        if (strlen(e[i].name) + 2 > width)
            width = strlen(e[i].name) + 2;
    size_t cols = 80 / width ? 80 / width : 1, rows = (n + cols - 1) / cols;
    for (size_t r = 0; r < rows; r++) {   /* down the columns, as ls does */
        for (size_t c = 0; c < cols; c++) {
            size_t i = c * rows + r;
            if (i >= n)
                break;
            writer_puts(&out, e[i].name);
            if (c + 1 < cols && i + rows < n)
                for (size_t pad = strlen(e[i].name); pad < width; pad++)
                    writer_put(&out, " ", 1);
        }
        writer_put(&out, "\n", 1);
    }
}

/* The entries of directory path; 0, or 1 after an error message. */
static int list_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        warn_err("ls", path, -fd);
        return 1;
    }
    static struct pyos_dirent ents[16];
    struct entry *list = NULL;
    size_t n = 0, cap = 0;
    long got;
    int status = 0;
    while ((got = getdents(fd, ents, sizeof ents)) > 0) {
        for (long off = 0; off < got; off += sizeof ents[0]) {
            struct pyos_dirent *d = (struct pyos_dirent *)((char *)ents + off);
            if (d->name[0] == '.' && !all)
                continue;
            if (n == cap) {
                struct entry *bigger = malloc((cap * 2 + 32) * sizeof *bigger);
                if (!bigger) {
                    dprintf(2, "ls: out of memory\n");
                    close(fd);
                    return 1;
                }
                memcpy(bigger, list, n * sizeof *list);
                free(list);
                list = bigger;
                cap = cap * 2 + 32;
            }
            list[n].name = strdup(d->name);
            list[n].have_stat = 0;
            if (long_format) {
                char *full = path_into_dir(path, d->name);
                int r = full ? stat(full, &list[n].st) : -ENOMEM;
                if (r < 0) {
                    warn_err("ls", full ? full : d->name, -r);
                    status = 1;
                    free(full);
                    free(list[n].name);
                    continue;
                }
                free(full);
            }
            n++;
        }
    }
    if (got < 0) {
        warn_err("ls", path, (int)-got);
        status = 1;
    }
    close(fd);
    show(list, n);
    for (size_t i = 0; i < n; i++)
        free(list[i].name);
    free(list);
    return status;
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        for (const char *o = argv[i] + 1; *o; o++) {
            if (*o == 'l')
                long_format = 1;
            else if (*o == 'a')
                all = 1;
            else if (*o == '1')
                one_per_line = 1;
            else {
                dprintf(2, "ls: unknown option -%c; usage: ls [-l] [-a] [-1] [PATH...]\n", *o);
                return 2;
            }
        }
    }
    if (!isatty(1))
        one_per_line = 1;
    writer_init(&out, 1);
    if (i == argc) {
        int status = list_dir(".");
        return writer_flush(&out) ? 1 : status;
    }
    /* Files first, together; then each directory under a heading when there are several paths. */
    int status = 0, paths = argc - i;
    struct entry *files = malloc((size_t)paths * sizeof *files);
    size_t nfiles = 0;
    for (int k = i; k < argc; k++) {
        struct pyos_stat st;
        int r = stat(argv[k], &st);
        if (r < 0) {
            warn_err("ls", argv[k], -r);
            status = 1;
        } else if (!S_ISDIR(st.mode)) {
            files[nfiles++] = (struct entry){.name = argv[k], .st = st, .have_stat = 1};
        }
    }
    show(files, nfiles);
    int shown = nfiles > 0;
    for (int k = i; k < argc; k++) {
        if (!is_directory(argv[k]))
            continue;
        if (paths > 1)
            writer_printf(&out, "%s%s:\n", shown++ ? "\n" : "", argv[k]);
        status |= list_dir(argv[k]);
    }
    return writer_flush(&out) ? 1 : status;
}
