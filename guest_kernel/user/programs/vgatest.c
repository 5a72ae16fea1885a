/* vgatest: draws a known picture on the console through the VGA driver's
 * ANSI escapes (clear, cursor position, SGR colours, erase in line),
 * scrolling, line wrap, tab and backspace, then waits for input forever so
 * that a test can look at the screen (tests/test_vga_guest.py). */
#include <pyos_user.h>

static void out(const char *s)
{
    write(1, s, strlen(s));
}

int main(void)
{
    out("\033[2J\033[H");
    for (int i = 0; i < 30; i++)
        printf("line %02d\n", i);  /* 30 lines on 25 rows: scrolls 6 times */
    out("\033[3;20H\033[31;44mRED ON BLUE\033[0m");
    out("\033[4;20H\033[1;32mbright green\033[0m");
    out("\033[5;20H\033[7mreverse\033[27m");
    out("\033[6;20H\033[5;97;41mblink\033[0m");
    out("\033[7;1HXXXXXXXXXX\033[5D\033[K");
    out("\033[8;1H\033[2K\xc9\xcd\xcd\xbb \xc4\xc5\xb3 \xdb\xb2\xb1\xb0");
    out("\033[9;75H0123456789");
    out("\033[11;1Hab\tc");
    out("\033[12;1Habc\bX");
    out("\033[25;1H\033[36mdone\033[0m");
    char c;
    for (;;)
        read(0, &c, 1);
}
