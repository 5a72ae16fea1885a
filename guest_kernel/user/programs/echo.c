/* echo [-n] [WORD...]: the words, separated by spaces, and a newline (not with -n). */
#include <ulib.h>

int main(int argc, char **argv)
{
    int newline = 1, i = 1;
    if (i < argc && !strcmp(argv[i], "-n")) {
        newline = 0;
        i++;
    }
    struct writer out;
    writer_init(&out, 1);
    for (int first = i; i < argc; i++) {
        if (i > first)
            writer_put(&out, " ", 1);
        writer_puts(&out, argv[i]);
    }
    if (newline)
        writer_put(&out, "\n", 1);
    return writer_flush(&out) ? 1 : 0;
}
