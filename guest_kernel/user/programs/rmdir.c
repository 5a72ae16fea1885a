/* rmdir DIR...: remove empty directories. */
#include <ulib.h>

int main(int argc, char **argv)
{
    int status = 0;
    if (argc < 2) {
        dprintf(2, "usage: rmdir DIR...\n");
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        int r = rmdir(argv[i]);
        if (r < 0) {
            warn_err("rmdir", argv[i], -r);
            status = 1;
        }
    }
    return status;
}
