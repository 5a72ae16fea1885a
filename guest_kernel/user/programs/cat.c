/* cat [FILE...]: the files (or standard input, also for "-") one after another on standard output. */
#include <ulib.h>

static char buf[65536];

static int copy(int fd, const char *name)
{
    for (;;) {
        long n = read(fd, buf, sizeof buf);
        if (n == -EINTR)
            continue;
        if (n < 0) {
            warn_err("cat", name, (int)-n);
            return 1;
        }
        if (n == 0)
            return 0;
        long w = write_all(1, buf, (size_t)n);
        if (w < 0) {
            if (w != -EPIPE)
                warn_err("cat", "write", (int)-w);
            exit(1);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return copy(0, "standard input");
    int status = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-")) {
            status |= copy(0, "standard input");
            continue;
        }
        int fd = open(argv[i], O_RDONLY);
        if (fd < 0) {
            warn_err("cat", argv[i], -fd);
            status = 1;
            continue;
        }
        status |= copy(fd, argv[i]);
        close(fd);
    }
    return status;
}
