/* cp SRC DST | cp SRC... DIR: copy files (into DIR under their own names). */
#include <ulib.h>

static char buf[65536];

static int copy(const char *src, const char *dst)
{
    int in = open(src, O_RDONLY);
    if (in < 0) {
        warn_err("cp", src, -in);
        return 1;
    }
    if (is_directory(src)) {
        dprintf(2, "cp: %s: is a directory (not copied)\n", src);
        close(in);
        return 1;
    }
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC);
    if (out < 0) {
        warn_err("cp", dst, -out);
        close(in);
        return 1;
    }
    int status = 0;
    for (;;) {
        long n = read(in, buf, sizeof buf);
        if (n == -EINTR)
            continue;
        if (n <= 0) {
            if (n < 0) {
                warn_err("cp", src, (int)-n);
                status = 1;
            }
            break;
        }
        long w = write_all(out, buf, (size_t)n);
        if (w < 0) {
            warn_err("cp", dst, (int)-w);
            status = 1;
            break;
        }
    }
    close(in);
    close(out);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        dprintf(2, "usage: cp SRC DST, or cp SRC... DIR\n");
        return 2;
    }
    const char *dst = argv[argc - 1];
    if (!is_directory(dst)) {
        if (argc > 3) {
            dprintf(2, "cp: %s: not a directory (copying several files needs one)\n", dst);
            return 1;
        }
        return copy(argv[1], dst);
    }
    int status = 0;
    for (int i = 1; i < argc - 1; i++) {
        char *target = path_into_dir(dst, argv[i]);
        status |= target ? copy(argv[i], target) : 1;
        free(target);
    }
    return status;
}
