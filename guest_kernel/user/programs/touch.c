/*
 * touch FILE...: create each file that does not exist (empty). pyos has no
 * call to set a file's times, so an existing file is left as it is.
 */
#include <ulib.h>

int main(int argc, char **argv)
{
    int status = 0;
    if (argc < 2) {
        dprintf(2, "usage: touch FILE...\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        int fd = open(argv[i], O_WRONLY | O_CREAT);
        if (fd < 0) {
            warn_err("touch", argv[i], -fd);
            status = 1;
            continue;
        }
        close(fd);
    }
    return status;
}
