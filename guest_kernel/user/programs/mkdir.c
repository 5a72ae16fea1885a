/* mkdir [-p] DIR...: make directories; -p: with their parents, and no error if one exists. */
#include <ulib.h>

static int make(const char *path, int parents)
{
    int r = mkdir(path, 0755);
    if (r == -EEXIST && parents) {
        struct pyos_stat st;
        return stat(path, &st) == 0 && S_ISDIR(st.mode) ? 0 : r;
    }
    if (r == -ENOENT && parents) {
        char *parent = strdup(path);
        char *slash = parent ? strrchr(parent, '/') : NULL;
        if (slash && slash != parent) {
            *slash = 0;
            r = make(parent, 1);
            if (r == 0)
                r = mkdir(path, 0755);
        }
        free(parent);
    }
    return r;
}

int main(int argc, char **argv)
{
    int parents = 0, i = 1, status = 0;
    if (i < argc && !strcmp(argv[i], "-p")) {
        parents = 1;
        i++;
    }
    if (i == argc) {
        dprintf(2, "usage: mkdir [-p] DIR...\n");
        return 2;
    }
    for (; i < argc; i++) {
        int r = make(argv[i], parents);
        if (r < 0) {
            warn_err("mkdir", argv[i], -r);
            status = 1;
        }
    }
    return status;
}
