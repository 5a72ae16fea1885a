/*
 * rm [-r] [-f] PATH...: remove files; -r: directories too, with everything
 * in them; -f: a missing file is no error.
 */
#include <ulib.h>

static int recursive, force;

static int remove_path(const char *path)
{
    int r = unlink(path);
    if (r == -EISDIR || r == -EPERM) {
        struct pyos_stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.mode)) {
            if (!recursive) {
                dprintf(2, "rm: %s: is a directory (rm -r removes directories)\n", path);
                return 1;
            }
            int fd = open(path, O_RDONLY | O_DIRECTORY);
            if (fd < 0) {
                warn_err("rm", path, -fd);
                return 1;
            }
            /* Names first, removal after: the directory is not changed while it is read. */
            static struct pyos_dirent ents[16];
            char **names = NULL;
            size_t count = 0, cap = 0;
            long got;
            while ((got = getdents(fd, ents, sizeof ents)) > 0) {
                for (long off = 0; off < got; off += sizeof ents[0]) {
                    struct pyos_dirent *d = (struct pyos_dirent *)((char *)ents + off);
                    if (!strcmp(d->name, ".") || !strcmp(d->name, ".."))
                        continue;
                    if (count == cap) {
                        char **bigger = malloc((cap * 2 + 16) * sizeof *bigger);
                        if (!bigger)
                            break;
                        for (size_t i = 0; i < count; i++)
                            bigger[i] = names[i];
                        free(names);
                        names = bigger;
                        cap = cap * 2 + 16;
                    }
                    size_t n = strlen(path) + strlen(d->name) + 2;
                    names[count] = malloc(n);
                    if (names[count])
                        snprintf(names[count++], n, "%s/%s", path, d->name);
                }
            }
            close(fd);
            int status = 0;
            for (size_t i = 0; i < count; i++) {
                status |= remove_path(names[i]);
                free(names[i]);
            }
            free(names);
            r = rmdir(path);
            if (r < 0) {
                warn_err("rm", path, -r);
                return 1;
            }
            return status;
        }
    }
    if (r < 0 && !(force && r == -ENOENT)) {
        warn_err("rm", path, -r);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int i = 1, status = 0;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        for (const char *o = argv[i] + 1; *o; o++) {
            if (*o == 'r' || *o == 'R')
                recursive = 1;
            else if (*o == 'f')
                force = 1;
            else {
                dprintf(2, "rm: unknown option -%c; usage: rm [-r] [-f] PATH...\n", *o);
                return 2;
            }
        }
    }
    if (i == argc && !force) {
        dprintf(2, "usage: rm [-r] [-f] PATH...\n");
        return 2;
    }
    for (; i < argc; i++)
        status |= remove_path(argv[i]);
    return status;
}
