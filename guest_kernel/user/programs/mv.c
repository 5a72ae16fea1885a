/* mv SRC DST | mv SRC... DIR: rename (into DIR under their own names); within one filesystem. */
#include <ulib.h>

static int move(const char *src, const char *dst)
{
    int r = rename(src, dst);
    if (r < 0) {
        dprintf(2, "mv: %s -> %s: %s\n", src, dst, strerror(-r));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        dprintf(2, "usage: mv SRC DST, or mv SRC... DIR\n");
        return 2;
    }
    const char *dst = argv[argc - 1];
    if (!is_directory(dst)) {
        if (argc > 3) {
            dprintf(2, "mv: %s: not a directory (moving several files needs one)\n", dst);
            return 1;
        }
        return move(argv[1], dst);
    }
    int status = 0;
    for (int i = 1; i < argc - 1; i++) {
        char *target = path_into_dir(dst, argv[i]);
        status |= target ? move(argv[i], target) : 1;
        free(target);
    }
    return status;
}
