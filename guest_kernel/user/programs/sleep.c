/* sleep SECONDS: wait that long; SECONDS may have a fraction (0.25). */
#include <ulib.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        dprintf(2, "usage: sleep SECONDS\n");
        return 2;
    }
    const char *s = argv[1], *end;
    long whole = isdigit(*s) ? strtol(s, &end, 10) : -1, ms = 0;
    if (whole >= 0 && *end == '.') {
        long scale = 100;
        for (end++; isdigit(*end); end++, scale /= 10)
            ms += (*end - '0') * scale;
    }
    if (whole < 0 || *end || whole > 100000000) {
        dprintf(2, "sleep: %s: not a number of seconds\n", s);
        return 2;
    }
    int r = sleep_ms(whole * 1000 + ms);
    return r < 0 ? 1 : 0;
}
